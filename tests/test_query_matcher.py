"""The Matcher: many profiles at once, errors, hit offsets, snippets, and the seed profiles."""

from __future__ import annotations

import io

import feedparser
import pytest

from tests.conftest import REPO, SHARED
from watcher.config import load_config
from watcher.errors import ConfigError
from watcher.models import Hit, Match
from watcher.query import Document, Matcher, compile_query, make_snippet
from watcher.text import plain_text

FEEDS = SHARED / "feeds" / "real"
DEFAULT = load_config(REPO / "config" / "watcher.toml", {})
# The default config's seed profiles, with its aliases: what users get out of the box.
SEED_PROFILES = {p.name: p.query for p in DEFAULT.profiles}


def seed_matcher() -> Matcher:
    return Matcher(SEED_PROFILES, dict(DEFAULT.aliases))


# /work/shared/seed-article.txt's facts, retold in other words.
RETOLD = Document(
    title="Ankara eyes more Russian S400s and help with jet engines",
    summary=(
        "<p>Turkey, defying American sanctions, says it may order a <b>second batch</b> of "
        "Russian S&#8209;400 air-defence batteries. A procurement official in Ankara said "
        "that an engine for the TF X, the country&rsquo;s future fighter now called KAAN, "
        "tops the list of technologies it wants from Moscow.</p>"
        "<p>Separately, Turkey&#39;s programme to build six submarines under a German "
        "licence is running late, President Erdoğan complained.</p>"
    ),
    author="Staff",
    feed="Defense News",
)


def _feed_documents(name: str) -> list[Document]:
    if not FEEDS.is_dir():
        pytest.skip(f"{FEEDS} is absent (it is present on CI)")
    parsed = feedparser.parse(io.BytesIO((FEEDS / name).read_bytes()))
    return [Document(title=e.get("title", ""), summary=e.get("summary", ""),
                     content=" ".join(c.get("value", "") for c in e.get("content", [])),
                     categories=tuple(t.get("term") or "" for t in e.get("tags", [])))
            for e in parsed.entries]


def test_seed_profiles_match_the_retold_article() -> None:
    matcher = seed_matcher()
    matches = {m.profile: m for m in matcher.match(RETOLD)}
    assert list(matches) == ["S-400", "TF-X engine", "Turkey submarines"]
    assert set(matches["TF-X engine"].terms) == {"TF-X", "KAAN", "engine", "engines"}
    assert "submarin*" in matches["Turkey submarines"].terms


FALSE_FRIENDS = [
    Document(title="Best roast turkey recipes for Thanksgiving",
             summary="Brine the turkey overnight; a 400 g stick of butter and S 40 salt."),
    Document(title="Turkey submarine sandwich recipe", summary="Layer turkey on a sub roll."),
    Document(title="Kaanak ng OFW na nasawi, umapela sa gobyerno",
             summary="Ang mga kaanak ay humingi ng tulong; engine ng bangka ay nasira."),
    Document(title="Why mine was 4000", summary="The S-4000 and MS-400X engines compared."),
    Document(title="Turkey Creek Bridge near Denver closes", summary="Engineers inspect it."),
]


@pytest.mark.parametrize("doc", FALSE_FRIENDS)
def test_seed_profiles_ignore_false_friends(doc: Document) -> None:
    assert seed_matcher().match(doc) == []


@pytest.mark.parametrize("feed", ["gmanews-rss2-2020-filipino-kaanak.xml",
                                  "benlog-blog-rss2-turkey-food.xml",
                                  "evanfields-blog-atom-s400-substring.xml"])
def test_seed_profiles_ignore_real_false_friend_feeds(feed: str) -> None:
    docs = _feed_documents(feed)
    assert docs
    joined = " ".join(d.title + d.summary + d.content for d in docs).lower()
    assert "kaanak" in joined or "turkey" in joined or "4000" in joined  # the probe is there
    matcher = seed_matcher()
    assert [m for d in docs for m in matcher.match(d)] == []


def test_seed_s400_profile_finds_the_real_nytimes_item() -> None:
    docs = _feed_documents("nytimes-us-rss2-2020-12-s400-turkey-sanctions.xml")
    hits = [d.title for d in docs if seed_matcher().match_profile("S-400", d)]
    assert any("Sanctions on Turkey" in t for t in hits)


def test_config_error_lists_every_bad_query() -> None:
    with pytest.raises(ConfigError) as info:
        Matcher({"ok": "Turkey", "bad1": "(S-400", "bad2": "a OR", "bad3": "@nope"})
    problems = info.value.problems
    assert len(problems) == 3
    assert problems[0].startswith('profile "bad1": ')
    assert problems[1].startswith('profile "bad2": ')
    assert problems[2].startswith('profile "bad3": unknown alias')
    assert problems[0] == 'profile "bad1": unclosed \'(\': add the matching \')\'\n  (S-400\n  ^'
    assert problems[1].splitlines()[-1] == "  " + " " * 2 + "^"  # under the dangling OR


def test_match_returns_matching_profiles_in_profile_order() -> None:
    matcher = Matcher({"z": "Turkey", "a": "NOT sports", "m": "S-400", "none": "KAAN"})
    assert matcher.profiles() == ["z", "a", "m", "none"]
    found = matcher.match(Document(title="Turkey buys S-400"))
    assert [m.profile for m in found] == ["z", "a", "m"]
    assert found[1] == Match("a", (), ())
    assert matcher.match_profile("none", Document(title="Turkey")) is None


def test_terms_are_in_query_order_and_aliases_name_their_entry() -> None:
    aliases = {"s400": ["S-400", "Triumf"]}
    matcher = Matcher({"p": "@s400 OR Turkey"}, aliases)
    [m] = matcher.match(Document(title="Turkey gets Triumf and S400"))
    assert m.terms == ("S-400", "Triumf", "Turkey")


def test_hits_have_plain_text_offsets_despite_length_changes() -> None:
    summary = "<p>Die Straße &amp; İSTANBUL: ﬁve S&#8209;400 in Türkiye</p>"
    doc = Document(title="x", summary=summary)
    [m] = Matcher({"p": "straße İstanbul five S-400 turkiye"}).match(doc)
    plain = plain_text(summary)
    assert plain == "Die Straße & İSTANBUL: ﬁve S\u2011400 in Türkiye"
    got = {h.term: plain[h.start:h.end] for h in m.hits}
    assert got == {"straße": "Straße", "İstanbul": "İSTANBUL", "five": "ﬁve",
                   "S-400": "S\u2011400", "turkiye": "Türkiye"}
    assert all(h.field == "summary" for h in m.hits)


def test_category_hits_point_into_the_first_matching_category() -> None:
    doc = Document(title="x", categories=("World", "Defense News", "defense"))
    [m] = Matcher({"p": "category:defense"}).match(doc)
    assert m.hits == (Hit("category", 0, 7, "defense"),)


def test_fields_report_their_own_names() -> None:
    doc = Document(title="S-400", summary="S400", content="S 400", article="the S-400",
                   author="S-400 Fan", categories=("S-400",), feed="S-400 Watch")
    m = compile_query("S-400 OR author:S-400 OR category:S-400 OR feed:S-400").match(doc, "p")
    assert m is not None
    assert [h.field for h in m.hits] == ["title", "summary", "content", "article", "author",
                                         "category", "feed"]


ARTICLE = ("ANKARA, Turkey — Turkey has pledged cooperation on aircraft engine technologies. "
           + "Filler sentence about other matters entirely. " * 30
           + "The official added that the engine for Turkey’s future fighter, dubbed TF-X, "
           "would be the priority. " + "More filler about other matters. " * 30)
TEASER = Document(title="Turkey, Russia pledge cooperation",
                  summary="<p>Turkey pledged cooperation on aircraft <b>engine</b> "
                          "technologies.</p>",
                  article=ARTICLE)


@pytest.mark.parametrize(("query", "fields"), [
    ("TF-X", ["article"]),
    ("article:TF-X", ["article"]),
    ("title:TF-X OR summary:TF-X OR content:TF-X", None),
    ("engine", ["summary", "article"]),
    ("article:engine", ["article"]),
    ("TF-X NEAR/8 engine", ["article"]),
    ("TF-X NEAR/2 engine", None),
    ("/dubbed tf x/", ["article"]),
    ('"future fighter"', ["article"]),
    ("TF-X -article:priority", None),
    ("TF-X -title:priority", ["article"]),
])
def test_article_hits_through_the_prefilter(query: str, fields: list[str] | None) -> None:
    """Matcher (prefilter, then evaluation) and a lone compiled query agree on the article."""
    for found in (Matcher({"p": query, "other": "submarine"}).match_profile("p", TEASER),
                  next(iter(Matcher({"p": query, "other": "submarine"}).match(TEASER)), None),
                  compile_query(query).match(TEASER, "p")):
        if fields is None:
            assert found is None
        else:
            assert found is not None
            assert sorted({h.field for h in found.hits}) == sorted(fields)
            shown = {ARTICLE[h.start:h.end] for h in found.hits if h.field == "article"}
            assert shown <= {"TF-X", "engine", "dubbed TF-X", "future fighter"}


@pytest.mark.parametrize(("doc", "query", "field", "bold", "start"), [
    # the only hit is in the article: cut from it, around the hit
    (TEASER, "TF-X", "article", ["TF-X"], "…"),
    # a term in the summary, both in the article: the article, at the passage holding both
    (TEASER, "TF-X AND engine", "article", ["engine", "TF-X"], "…"),
    # the summary holds as many matched terms as the article: the feed's own text wins
    (TEASER, "engine", "summary", ["engine"], "Turkey"),
    (TEASER, "Turkey AND engine", "summary", ["Turkey", "engine"], "Turkey"),
    # the title only: as before
    (Document(title="TF-X news", summary="nothing", article="nothing either"), "TF-X", "title",
     ["TF-X"], "TF-X"),
    # no hit to show: the feed's text first, the article when there is nothing else
    (Document(summary="plain teaser", article="the story"), "NOT sports", "summary", [], "plain"),
    (Document(article="the story"), "NOT sports", "article", [], "the story"),
])
def test_snippet_names_its_field(doc: Document, query: str, field: str, bold: list[str],
                                 start: str) -> None:
    match = compile_query(query).match(doc, "p")
    assert match is not None
    snippet = make_snippet(doc, match)
    assert snippet.field == field
    assert [snippet.text[a:b] for a, b in snippet.bold] == bold
    assert snippet.text.startswith(start)
    assert len(snippet.text) <= 240 + 2


def test_article_snippet_shows_the_passage_of_the_match() -> None:
    match = compile_query("TF-X AND engine").match(TEASER, "p")
    assert match is not None
    snippet = make_snippet(TEASER, match)
    assert "the engine for Turkey’s future fighter, dubbed TF-X" in snippet.text
    assert snippet.text.startswith("…") and snippet.text.endswith("…")


def test_snippet_bolds_exactly_the_matched_words_in_original_case() -> None:
    [m] = seed_matcher().match(RETOLD)[1:2]
    snippet = make_snippet(RETOLD, m, width=240)
    bolded = [snippet.text[s:e] for s, e in snippet.bold]
    assert bolded == ["engine", "TF X", "KAAN"]
    assert len(snippet.text) <= 240 + 2


def test_snippet_is_cut_on_words_with_ellipses() -> None:
    words = " ".join(f"word{i}" for i in range(200))
    doc = Document(title="t", summary=f"{words} Turkey buys the S-400 today {words}")
    [m] = Matcher({"p": "S-400 Turkey"}).match(doc)
    snippet = make_snippet(doc, m, width=100)
    assert snippet.text.startswith("…word") and snippet.text.endswith("…")
    assert " ".join(snippet.text.strip("…").split()) == snippet.text.strip("…")
    assert [snippet.text[s:e] for s, e in snippet.bold] == ["Turkey", "S-400"]
    assert len(snippet.text) <= 102


def test_snippet_falls_back_to_title_and_to_text_start() -> None:
    doc = Document(title="Turkey's TF-X", summary="Nothing relevant here.")
    [m] = Matcher({"p": "TF-X"}).match(doc)
    snippet = make_snippet(doc, m)
    assert snippet.text == "Turkey's TF-X" and snippet.bold == ((9, 13),)
    [m] = Matcher({"p": "NOT sports"}).match(doc)
    assert make_snippet(doc, m) == make_snippet(doc, Match("p", ()))
    assert make_snippet(doc, m).text == "Nothing relevant here." and make_snippet(doc, m).bold == ()


def test_always_evaluated_profiles_still_work_with_the_prefilter() -> None:
    matcher = Matcher({"rx": "/s ?400/", "not": "NOT Turkey", "short": "US"})
    found = matcher.match(Document(title="US S400"))
    assert [m.profile for m in found] == ["rx", "not", "short"]


def test_text_with_combining_marks_keeps_whole_words() -> None:
    # Devanagari vowel signs are combining marks inside words, not regex word characters
    doc = Document(title="x", summary="<p>यह हिन्दी समाचार है</p>")
    for query, expected in [("हिन्दी", True), ("हिन्द", False), ("हिन्द*", True),
                            ("हिन्दी NEAR/1 समाचार", True), ("यह NEAR/1 है", False)]:
        assert compile_query(query).matches(doc) is expected, query
        assert bool(Matcher({"p": query}).match(doc)) is expected, query
    [m] = Matcher({"p": "हिन्दी"}).match(doc)
    assert [plain_text(doc.summary)[h.start:h.end] for h in m.hits] == ["हिन्दी"]
