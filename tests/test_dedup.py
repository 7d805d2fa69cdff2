"""Tests of watcher.dedup: canonical URLs, item keys, content hashes and story signatures."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watcher.dedup import (
    DEFAULT_THRESHOLD,
    StorySignature,
    canonical_url,
    content_hash,
    find_story,
    fold_for_hash,
    item_key,
    similarity,
    story_signature,
)

CANONICAL = [
    # tracking parameters go, whatever their case; the page's own parameters stay
    ("https://e.com/a?utm_source=rss&utm_medium=feed&id=5", "https://e.com/a?id=5"),
    ("https://e.com/a?UTM_Campaign=x&utm_anything_new=y", "https://e.com/a"),
    ("https://e.com/a?fbclid=1&gclid=2&dclid=3&msclkid=4&mc_cid=5&mc_eid=6", "https://e.com/a"),
    ("https://e.com/a?_ga=1&yclid=2&igshid=3&ref_src=4&cmpid=5&ncid=6", "https://e.com/a"),
    ("https://e.com/a?ocid=1&sr_share=2&spm=3&at_medium=4&at_campaign=5", "https://e.com/a"),
    ("https://e.com/a?CMP=share_btn_tw&p=2", "https://e.com/a?p=2"),
    ("https://e.com/a?ref=main&page=2", "https://e.com/a?page=2&ref=main"),
    ("https://e.com/a?a=2&a=1", "https://e.com/a?a=1&a=2"),  # repeated keys kept (sorted)
    # fragment, case of scheme and host, default ports, scheme, www.
    ("https://e.com/a#comments", "https://e.com/a"),
    ("HTTPS://E.COM/Path", "https://e.com/Path"),
    ("http://e.com:80/a", "https://e.com/a"),
    ("https://e.com:443/a", "https://e.com/a"),
    ("https://e.com:8443/a", "https://e.com:8443/a"),
    ("http://e.com:443/a", "https://e.com/a"),
    ("http://e.com/a", "https://e.com/a"),
    ("https://www.e.com/a", "https://e.com/a"),
    ("http://e.com./x", "https://e.com/x"),
    ("https://user:secret@e.com/x", "https://e.com/x"),
    ("http://[::1]:8080/x", "https://[::1]:8080/x"),
    # query order, trailing slash
    ("https://e.com/a?b=2&a=1", "https://e.com/a?a=1&b=2"),
    ("https://e.com/a/", "https://e.com/a"),
    ("https://e.com/a/b///", "https://e.com/a/b"),
    ("https://e.com", "https://e.com/"),
    ("https://e.com/?", "https://e.com/"),
    # AMP variants fold onto the article
    ("https://e.com/news/story/amp", "https://e.com/news/story"),
    ("https://e.com/news/story/amp/", "https://e.com/news/story"),
    ("https://e.com/news/story?outputType=amp", "https://e.com/news/story"),
    ("https://e.com/news/story?amp", "https://e.com/news/story"),
    ("https://e.com/news/story?amp=1", "https://e.com/news/story"),
    ("https://amp.e.com/news/story", "https://e.com/news/story"),
    ("https://www.bbc.co.uk/news/world-123.amp", "https://bbc.co.uk/news/world-123"),
    ("https://e.com/champ", "https://e.com/champ"),
    ("https://e.com/rss?outputType=xml", "https://e.com/rss?outputType=xml"),
    # IDN host and percent-encoding
    ("https://Bücher.DE/x", "https://xn--bcher-kva.de/x"),
    ("https://e.com/%7Euser/%41", "https://e.com/~user/A"),
    ("https://e.com/a b/ü?q=ü", "https://e.com/a%20b/%C3%BC?q=%C3%BC"),
    ("https://e.com/a%20b/%C3%BC?q=%C3%BC", "https://e.com/a%20b/%C3%BC?q=%C3%BC"),
    ("https://e.com/a?%75tm_source=1&utm%5Fmedium=2&%61mp=1", "https://e.com/a"),
    ("https://e.com/news/%61mp", "https://e.com/news"),
    ("https://www.amp.e.com/a", "https://e.com/a"),
    # garbage comes back stripped
    ("  not a url  ", "not a url"),
    ("", ""),
    ("http://[::1", "http://[::1"),
    ("https://e.com:99999/", "https://e.com:99999/"),
    ("javascript:alert(1)", "javascript:alert(1)"),
    ("mailto:news@e.com", "mailto:news@e.com"),
    ("/relative/path", "/relative/path"),
]


@pytest.mark.parametrize(("url", "expected"), CANONICAL)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(("guid", "link", "expected"), [
    ("  tag:e.com,2024:1 ", "https://e.com/a", "id:tag:e.com,2024:1"),
    ("   ", "https://www.e.com/a/?utm_source=x", "url:https://e.com/a"),
    (None, "http://E.com/a#top", "url:https://e.com/a"),
    (None, " not a url ", "url:not a url"),
])
def test_item_key_prefers_guid_then_link(guid: str | None, link: str | None,
                                         expected: str) -> None:
    assert item_key(guid, link, "Title", "Text") == expected


@pytest.mark.parametrize("link", [None, "", "  "])
def test_item_key_falls_back_to_the_content_hash(link: str | None) -> None:
    assert item_key(None, link, "Title", "Text") == "hash:" + content_hash("Title", "Text")


def test_content_hash_ignores_markup_case_accents_and_spacing() -> None:
    plain = content_hash("Türkiye buys S-400s", "Second batch agreed.")
    assert plain == content_hash("  TÜRKİYE   buys S-400s ",
                                 "<p>Second <b>batch</b>\n agreed.</p>")
    assert plain == content_hash("Turkiye buys S-400s", "Second batch &nbsp;agreed.")
    assert len(plain) == 64 and int(plain, 16) >= 0


@pytest.mark.parametrize(("a", "b"), [
    (("Turkey buys S-400s", "Second batch."), ("Turkey buys S-300s", "Second batch.")),
    (("Turkey buys S-400s", "Second batch agreed."), ("Turkey buys S-400s", "Deal not agreed.")),
    (("a b", "c"), ("a", "b c")),  # the title/text boundary counts
])
def test_content_hash_tells_different_texts_apart(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert content_hash(*a) != content_hash(*b)


@pytest.mark.parametrize(("text", "expected"), [
    ("TÜRKİYE, Iğdır & İstanbul", "turkiye igdir istanbul"),
    ("S-400, S‑400, TF-X and F-35s", "s400 s400 tfx and f35s"),
    ("<p>Piri&nbsp;Reis</p><p>Type 214</p>", "piri reis type 214"),
    ("ﬁghter jets", "fighter jets"),  # NFKC folds the ligature
])
def test_fold_for_hash(text: str, expected: str) -> None:
    assert fold_for_hash(text) == expected


_PLAIN_PATH = st.lists(st.sampled_from(["/", "a", "amp", ".amp", ".", "..", "_", "~", "-", "B"]),
                       max_size=8).map("".join)
_ODD_PATH = st.lists(st.sampled_from(["/", "a", ".", "%7E", "%2f", "é", " ", "?", "q=1", "&", "#",
                                      "utm_source=x", ";", "'", "(", "*"]), max_size=8).map("".join)
_URL_PIECES = {
    "scheme": st.sampled_from(["http", "https", "HTTP", "Https", "ftp", "javascript"]),
    "host": st.sampled_from(["example.com", "www.Example.COM", "amp.x.org", "a-b.c", "-a.com",
                             "a.-b.com", "x", "a..b", "xn--bcher-kva.de", "1.2.3.4", "e.com.",
                             "WWW.www.a.com", "ab", "a.b-", "0a.com", "[::1]", "ex ample.com",
                             "user@e.com", "é.com"]),
    "port": st.sampled_from(["", ":80", ":443", ":8080", ":0", ":65535", ":65536", ":00080",
                             ":", ":x"]),
    "path": st.one_of(_PLAIN_PATH, _ODD_PATH),
}


@settings(max_examples=1000)
@given(st.fixed_dictionaries(_URL_PIECES), st.sampled_from(["", " ", "\t"]))
def test_canonical_url_short_cut_agrees_with_the_full_path(parts: dict[str, str],
                                                           pad: str) -> None:
    from watcher.dedup import _canonical_url

    url = f"{pad}{parts['scheme']}://{parts['host']}{parts['port']}{parts['path']}{pad}"
    assert canonical_url(url) == _canonical_url(url.strip())


def _fold_by_definition(text: str) -> str:
    """fold_for_hash() as its docstring defines it, without the fast paths: stored content
    hashes depend on it, so the fast paths must never change an answer."""
    import re
    import unicodedata

    from watcher.text import HASHING, html_to_text
    text = unicodedata.normalize("NFKC", html_to_text(text, HASHING)).casefold().replace("ı", "i")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    dashes = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
    text = re.sub(rf"\b([^\W\d_]{{1,4}})[-{dashes}](\d+[^\W\d_]?|[^\W\d_])\b", r"\1\2", text)
    return re.sub(r"[\W_]+", " ", text).strip()


_PIECES = st.sampled_from(["S", "-", "400", " ", "_", "tf", "X", "\t", "é", "e\u0301", "\u2011",
                           "İ", "ı", "ﬁ", "&amp;", "<b>", "</b>", "Ⅻ", "\x0b", "ä", "7", "."])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), st.lists(_PIECES, max_size=30).map("".join)))
def test_fold_fast_paths_agree_with_the_definition(text: str) -> None:
    assert fold_for_hash(text) == _fold_by_definition(text)


def test_signature_drops_datelines_trailers_stop_words_and_plurals() -> None:
    sig = story_signature(
        "Turkey says it may buy second batch of Russian S-400s",
        "<p>ANKARA, March 5 (Reuters) - Turkey is in talks to buy S-400 systems.</p> Read more")
    assert sig.title == ("turkey", "buy", "second", "batch", "russian", "s400")
    assert sig.summary == ("turkey", "talk", "buy", "s400", "system")
    wp = story_signature("T", "Text here. The post T appeared first on Ahval.")
    assert wp.summary == ("text",)
    assert story_signature("The", "").title == ("the",)  # only stop words: keep them


@pytest.mark.parametrize("sig", [
    story_signature("Turkey's S-400s to be activated in April", "Akar said so on Friday."),
    story_signature("", ""),
    StorySignature(("only",), ()),
])
def test_signature_round_trips_through_the_store_form(sig: StorySignature) -> None:
    text = sig.dumps()
    assert "\n" not in text
    assert StorySignature.loads(text) == sig


@pytest.mark.parametrize("bad", ["", "2\ta\tb", "1\ta", "1\ta\tb\tc"])
def test_loads_refuses_what_dumps_never_wrote(bad: str) -> None:
    with pytest.raises(ValueError):
        StorySignature.loads(bad)


WIRE = ("Turkey is in talks with Russia to buy a second batch of S-400 missile defence "
        "systems, President Tayyip Erdogan said on Tuesday, despite the threat of further "
        "U.S. sanctions.")


def test_a_trimmed_retitled_copy_is_the_same_story() -> None:
    first = story_signature("Turkey says it may buy second batch of Russian S-400s",
                            "ANKARA (Reuters) - " + WIRE + " He spoke after a cabinet meeting.")
    copy = story_signature("Turkey may buy second S-400 batch from Russia, Erdogan says", WIRE)
    other = story_signature("US warns Turkey of sanctions over S-400 purchase",
                            "The United States warned Turkey on Tuesday that any new purchase "
                            "of Russian S-400 air defence systems would trigger fresh sanctions.")
    assert similarity(first, copy) >= DEFAULT_THRESHOLD
    assert similarity(first, other) < DEFAULT_THRESHOLD
    assert find_story(copy, [(7, first), (9, other)]) == 7
    assert find_story(other, [(7, first), (8, copy)]) is None


def test_find_story_takes_the_best_and_breaks_ties_by_the_older_story() -> None:
    sig = story_signature("t", WIRE)
    near = story_signature("t", WIRE.replace("Tuesday", "Monday"))  # loses 2 of 18 pairs
    assert find_story(sig, []) is None
    assert find_story(sig, [(5, near), (9, sig)]) == 9
    assert find_story(sig, [(9, sig), (4, sig)]) == 4
    assert find_story(sig, [(5, near)], threshold=1.0) is None


def test_empty_signatures_never_match() -> None:
    empty = story_signature("", "<p></p>")
    assert empty.empty
    assert similarity(empty, empty) == 0.0
    assert find_story(empty, [(1, empty)]) is None


# ---------------------------------------------------------------- properties

URL_PARTS = st.tuples(
    st.sampled_from(["http", "https", "HTTP", "ftp", "", "javascript"]),
    st.sampled_from(["e.com", "WWW.E.com", "amp.e.com", "bücher.de", "[::1]", "", "e.com:80",
                     "e.com:443", "e.com:8080", "x..y", "-a-.com", "e.com:99999", "[::1"]),
    st.lists(st.sampled_from(["a", "amp", "", "%41", "%7e", "ü", " ", "a.amp", "..", "%"]),
             max_size=4),
    st.lists(st.tuples(st.sampled_from(["utm_x", "amp", "id", "A", "outputType", "fbclid", ""]),
                       st.sampled_from(["", "1", "amp", "ü", "%20", "a&b", "="])), max_size=3),
    st.sampled_from(["", "#frag", "#"]),
)


URLS = st.one_of(
    st.text(max_size=60),
    URL_PARTS.map(lambda p: f"{p[0]}://{p[1]}/{'/'.join(p[2])}?"
                            f"{'&'.join(f'{k}={v}' for k, v in p[3])}{p[4]}"),
    st.builds(lambda path, query: f"https://e.com/{path}?{query}",
              st.text(max_size=30), st.text(max_size=30)),
    st.builds(lambda host: f"http://{host}/x", st.text(max_size=20)),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(URLS)
def test_canonical_url_never_raises_and_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


WORDS = st.lists(st.sampled_from(
    ["Turkey", "S-400", "the", "batch", "second", "Erdoğan", "said", "İstanbul", "<b>", "sub",
     "Reis", "214", "KAAN", "engine", "—", "not", "systems", "ünite"]), max_size=25).map(" ".join)


@settings(max_examples=200)
@given(WORDS, WORDS, WORDS, WORDS)
def test_similarity_is_symmetric_and_bounded(t1: str, s1: str, t2: str, s2: str) -> None:
    a, b = story_signature(t1, s1), story_signature(t2, s2)
    assert similarity(a, b) == similarity(b, a)
    assert 0.0 <= similarity(a, b) <= 1.0


@settings(max_examples=200)
@given(st.text(max_size=80), st.text(max_size=200))
def test_an_item_is_fully_similar_to_itself(title: str, summary: str) -> None:
    sig = story_signature(title, summary)
    if any(ch.isalnum() for ch in fold_for_hash(title + " " + summary)):
        assert similarity(sig, sig) == 1.0
    assert StorySignature.loads(sig.dumps()) == sig
