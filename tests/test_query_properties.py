"""Properties of the query engine, checked with hypothesis on generated input."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from watcher.errors import QueryError
from watcher.models import Match
from watcher.query import Document, Matcher, compile_query, fold_for_matching
from watcher.query.document import PreparedDoc
from watcher.query.evaluate import found_to_hits
from watcher.text import plain_text

BOUNDED = settings(max_examples=200, deadline=None)

SYNTAX = ["AND", "OR", "NOT", "NEAR/3", "NEAR", "NEAR/x", "(", ")", "-", '"', "/", "@s400",
          "@x", "title:", "feed:", "foo:", "*", "S-400", "TF-X", "Türkiye", "İ", "a", "b*",
          "/[a-/", "//", "\\", " ", "\u2013", "\u00a0", "С-400", "::", "ß", "\u0301"]
ALIASES = {"s400": ["S-400", "Triumf", "SA-21 Growler"]}


@BOUNDED
@given(st.text(max_size=80))
def test_parser_only_raises_query_error_on_any_text(query: str) -> None:
    try:
        compile_query(query, ALIASES)
    except QueryError as err:
        assert 0 <= err.position <= len(query)
        assert err.render().endswith("^")


@BOUNDED
@given(st.lists(st.sampled_from(SYNTAX), max_size=14).map("".join))
def test_parser_only_raises_query_error_on_syntax_soup(query: str) -> None:
    try:
        compile_query(query, ALIASES)
    except QueryError as err:
        assert 0 <= err.position <= len(query)


@BOUNDED
@given(st.text(max_size=200))
def test_fold_for_matching_is_idempotent(text: str) -> None:
    once = fold_for_matching(text)
    assert fold_for_matching(once) == once


WORD = st.text(alphabet=st.characters(categories=("Lu", "Ll")), min_size=1, max_size=8).filter(
    lambda w: w not in ("AND", "OR", "NOT") and not w.startswith("NEAR"))


@BOUNDED
@given(st.lists(WORD, min_size=1, max_size=5), st.randoms(use_true_random=False),
       st.sampled_from([" ", ", ", " — ", "\u00a0", "; "]))
def test_plain_and_of_words_matches_text_made_of_them(words: list[str], rnd: object,
                                                     sep: str) -> None:
    query = " AND ".join(words)
    shuffled = list(words)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    doc = Document(title="intro " + sep.join(shuffled) + " outro")
    assert compile_query(query).matches(doc)


VOCAB = ["turkey", "S-400", "TF-X", "kaan", "submarin*", '"second batch"', "engine", "/ka+n/"]
TEXT_VOCAB = ["Turkey", "turkeys", "S400", "S-4000", "TFX", "TF X", "kaanak", "KAAN",
              "submarines", "second", "batch", "engine", "Türkiye", ",", "—", "<b>x</b>"]


@st.composite
def queries(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 2 or draw(st.booleans()):
        return draw(st.sampled_from(VOCAB))
    op = draw(st.sampled_from([" ", " AND ", " OR ", " NEAR/2 ", "NOT "]))
    left, right = draw(queries(depth + 1)), draw(queries(depth + 1))
    if op == "NOT ":
        return f"NOT ({left})"
    if op == " NEAR/2 ":
        return f"{left.replace('NOT ', '')} NEAR/2 {right.replace('NOT ', '')}"
    return f"({left}){op}({right})"


@BOUNDED
@given(st.lists(queries(), min_size=1, max_size=6),
       st.lists(st.sampled_from(TEXT_VOCAB), max_size=12))
def test_prefilter_never_changes_the_answer(qs: list[str], words: list[str]) -> None:
    profiles = {}
    for i, q in enumerate(qs):
        try:
            compile_query(q)
        except QueryError:
            continue  # e.g. NEAR over a group with AND inside
        profiles[f"p{i}"] = q
    matcher = Matcher(profiles)
    doc = Document(title=" ".join(words[:4]), summary=" ".join(words[4:]))
    fast = [m.profile for m in matcher.match(doc)]
    full = [name for name in matcher.profiles() if matcher.match_profile(name, doc)]
    assert fast == full
    for m in matcher.match(doc):
        assert m == matcher.match_profile(m.profile, doc)


@BOUNDED
@given(st.lists(st.sampled_from(TEXT_VOCAB), max_size=12))
def test_hit_offsets_point_at_the_matched_words(words: list[str]) -> None:
    doc = Document(summary="<p>" + " ".join(words) + "</p>")
    matcher = Matcher({"p": "turkey OR kaan OR S-400 OR engine OR Türkiye"})
    plain = plain_text(doc.summary)
    for match in matcher.match(doc):
        for hit in match.hits:
            assert hit.field == "summary"
            assert fold_for_matching(plain[hit.start:hit.end]).replace(" ", "") == \
                fold_for_matching(hit.term).replace(" ", "")


# --- the fast paths agree with the slow ones they replace

PIECES = ["s", "400", "S-400", "S4000", "tf", "x", "TFX", "TF-X", "turkey", "Turkeys", "kaan",
          "ab", "a", "2", "aa", "second", "batch", "submarines", "Türkiye", "İ", "_", "x2",
          "S -- 400", "s - 400", "TF --X", "a--a"]
SEPS = [" ", "", "-", "  ", ", ", "'", "—", "_", ".", " - ", " -- ", "--", "\u00a0"]
TERMS = ["S-400", "TF-X", "turkey", "tur*", '"second batch"', "a-b", "a-a", '"a a"', "kaan",
         "400", "s400*", "ab-2*", '"s 400"', "x2", "2", '"tf x*"', "turkiye", "a", "aa*",
         "/s.?400/", "/ 2/"]


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(st.sampled_from(PIECES), st.sampled_from(SEPS)),
                          max_size=14))
    return "".join(p + s for p, s in parts)


@st.composite
def near_queries(draw: st.DrawFn) -> str:
    left, right = draw(st.sampled_from(TERMS)), draw(st.sampled_from(TERMS))
    shape = draw(st.sampled_from(["{a}", "{a} NEAR/{n} {b}", "({a} OR {b}) NEAR/{n} {b}",
                                  "{a} {b}", "{a} OR {b}", "{a} -{b}"]))
    return shape.format(a=left, b=right, n=draw(st.integers(1, 3)))


def _token_walk_match(query: str, doc: Document) -> Match | None:
    """The query evaluated with every field forced onto the token walk (the reference)."""
    compiled = compile_query(query)
    pdoc = PreparedDoc(doc)
    for name in ("title", "summary"):
        for ft in pdoc.field(name):
            ft.marked = True  # the path text with combining marks takes
    found = compiled.run(pdoc)
    if found is None:
        return None
    terms, hits = found_to_hits(found, pdoc)
    return Match("p", terms, hits)


@settings(max_examples=600, deadline=None)
@given(near_queries(), texts(), texts())
@example("S-400", "S -- 400", "S - 400")          # at most 3 spaces in a tight gap
@example("TF-X", "TF --X tfx", "TF  X")
@example('"a a" NEAR/1 aa*', "a a a, aa", "")    # overlapping phrase matches
@example("tur* NEAR/2 400", "Turkeys' S4000 400", "x2 400 turkey")
@example("(a OR 2) NEAR/1 x2", "a_x2 2", "")
def test_regex_search_agrees_with_the_token_walk(query: str, title: str, summary: str) -> None:
    doc = Document(title=title, summary=summary)
    fast = compile_query(query).match(doc, "p")
    assert fast == _token_walk_match(query, doc)
    assert [m.profile for m in Matcher({"p": query}).match(doc)] == (["p"] if fast else [])
    if fast is not None:
        assert Matcher({"p": query}).match(doc) == [fast]
