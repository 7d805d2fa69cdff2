"""The query language, table-driven: (query, text, expected) and (bad query, caret, message)."""

from __future__ import annotations

import pytest

from watcher.errors import QueryError
from watcher.query import Document, compile_query

ALIASES = {
    "s400": ["S-400", "Triumf", "SA-21 Growler", "С-400"],
    "tfx": ["TF-X", "KAAN"],
    "subs": ["submarin*", "Reis-class", "Type 214"],
    "tr": ["Turkey", "Turkish", "Türkiye", "Ankara"],
    "rx": ["/f-?35/"],
}

D = Document
T = True
F = False

# (query, text or Document, expected); a plain string is the item's title.
CASES: list[tuple[str, str | Document, bool]] = [
    # --- SPEC table: words, any case, any accents, Turkish i
    ("submarine", "A new submarine for the navy", T),
    ("submarine", "SUBMARINE launched", T),
    ("submarine", "Submarines launched", F),
    ("submarine", "The submariner retired", F),
    ("Türkiye", "Türkiye signs deal", T),
    ("Türkiye", "turkiye signs deal", T),
    ("Türkiye", "TÜRKİYE signs deal", T),
    ("Türkiye", "Turkiye signs deal", T),
    ("TÜRKİYE", "Türkiye and Greece", T),
    ("turkiye", "TÜRKİYE'NİN savunma sanayii", T),
    ("İstanbul", "Istanbul talks", T),
    ("İstanbul", "ıstanbul talks", T),
    ("istanbul", "İSTANBUL talks", T),
    ("ISTANBUL", "istanbul talks", T),
    ("ıstanbul", "İSTANBUL", T),
    ("Erdoğan", "Erdogan said", T),
    ("erdogan", "ERDOĞAN said", T),
    ("Erdogan", "Erdoğan'ın açıklaması", T),
    ("savunma", "SAVUNMA SANAYİİ", T),
    ("sanayii", "Savunma Sanayİİ Başkanlığı", T),
    ("café", "Cafe society", T),
    ("cafe", "CAFÉ society", T),
    ("naïve", "a naive plan", T),
    ("strasse", "Hauptstraße 5", F),
    ("hauptstrasse", "Hauptstraße 5", T),
    ("straße", "STRASSE", T),
    # --- SPEC table: designators in every written form
    ("S-400", "Turkey's S-400 deal", T),
    ("S-400", "Turkey's S 400 deal", T),
    ("S-400", "Turkey's S400 deal", T),
    ("S-400", "Turkey's s\u2011400 deal", T),
    ("S-400", "Turkey's S\u2013400 deal", T),
    ("S-400", "Turkey's S\u2014400 deal", T),
    ("S-400", "Turkey's S\u2212400 deal", T),
    ("S-400", "Turkey's S\u00a0400 deal", T),
    ("S-400", "Turkey's S - 400 deal", T),
    ("S400", "Turkey's S-400 deal", T),
    ("s-400", "THE S-400 SYSTEM", T),
    ("TF-X", "the TF-X fighter", T),
    ("TF-X", "the TF X fighter", T),
    ("TF-X", "the TFX fighter", T),
    ("TF-X", "the tf\u2010x fighter", T),
    ("SA-21", "NATO calls it the SA-21 Growler", T),
    ("SA-21", "NATO calls it the SA21", T),
    ("SA-21", "NATO calls it the SA 21", T),
    ("F-35", "F35 jets", T),
    ("F-35", "F-35A jets", F),
    ("anti-aircraft", "antiaircraft missile", T),
    ("anti-aircraft", "anti aircraft missile", T),
    # --- designator near misses
    ("S-400", "the S-4000 printer", F),
    ("S-400", "the MS-400X router", F),
    ("S-400", "the MS-400 router", F),
    ("S-400", "S-400X upgrade", F),
    ("S-400", "has 400 S class boats", F),
    ("S-400", "mine-was-4000 entries", F),
    ("S-400", "wins-400 points", F),
    ("S-400", "S. 400 words", F),
    ("S-400", "SS-400", F),
    ("S-400", "S-40 and 0", F),
    ("TF-X", "TF-XL kit", F),
    ("TF-X", "the TFXX", F),
    ("TF-X", "TF, X and Y", F),
    ("SA-21", "SA-210 variant", F),
    ("SA-21", "USA-21 launch", F),
    # --- phrases
    ('"second batch"', "a second batch of S-400", T),
    ('"second batch"', "a Second Batch of S-400", T),
    ('"second batch"', "the batch second", F),
    ('"second batch"', "a second, smaller batch", F),
    ('"second batch"', "second\u00a0batch", T),
    ('"second batch"', "second-batch deliveries", T),
    ('"air defense"', "Air Defense systems", T),
    ('"SA-21 Growler"', "the SA 21 Growler radar", T),
    ('"SA-21 Growler"', "the SA21 Growler radar", T),
    ('"SA-21 Growler"', "the Growler SA-21", F),
    ('"Type 214"', "six Type 214 boats", T),
    ('"Type 214"', "six Type-214 boats", T),
    ('"Type 214"', "six Type 2140 boats", F),
    ('"turkish submarin*"', "Turkish submarines", T),
    # --- prefix wildcards
    ("submarin*", "new submarines", T),
    ("submarin*", "a submarine", T),
    ("submarin*", "submariner", T),
    ("submarin*", "the SUBMARINES", T),
    ("submarin*", "a sub marine", F),
    ("submarin*", "antisubmarine warfare", F),
    ("Türk*", "Türkiye", T),
    ("türk*", "TURKISH", T),
    ("engine*", "two engines", T),
    # --- AND, implicit AND
    ("Turkey S-400", "Turkey buys the S-400", T),
    ("Turkey S-400", "Turkey buys Patriots", F),
    ("Turkey AND S-400", "S400 for Turkey", T),
    ("Turkey AND S-400", "S400 for Russia", F),
    ("a b c", "c b a", T),
    # --- OR, NOT, -, parentheses, precedence
    ("S-400 OR Triumf", "the Triumf system", T),
    ("S-400 OR Triumf", "the Patriot system", F),
    ("Turkey NOT recipe", "Turkey buys jets", T),
    ("Turkey NOT recipe", "Turkey recipe for Thanksgiving", F),
    ("Turkey -recipe", "Turkey recipe for Thanksgiving", F),
    ("Turkey -recipe", "Turkey buys jets", T),
    ("NOT sports", "Turkey buys jets", T),
    ("NOT sports", "sports news", F),
    ("-sports", "sports news", F),
    ("-(sports OR weather)", "weather report", F),
    ("-(sports OR weather)", "defense report", T),
    ("a OR b c", "a", T),            # a OR (b AND c)
    ("a OR b c", "b", F),
    ("a OR b c", "b c", T),
    ("(a OR b) c", "a", F),
    ("(a OR b) c", "a c", T),
    ("NOT a OR b", "b a", T),        # (NOT a) OR b
    ("NOT a OR b", "a", F),
    ("NOT a b", "b", T),             # (NOT a) AND b
    ("NOT a b", "a b", F),
    ("NOT (a b)", "a", T),
    ("NOT NOT a", "a", T),
    ("((Turkey)) AND ((S-400))", "Turkey S-400", T),
    ("turkey and recipe", "turkey and recipe", T),  # lower-case words are words
    ("turkey and recipe", "turkey recipe", F),
    # --- NEAR/n
    ("Turkey NEAR/3 submarine", "Turkey plans a submarine", T),
    ("Turkey NEAR/3 submarine", "submarine plans for Turkey", T),
    ("Turkey NEAR/2 submarine", "Turkey plans a new submarine", F),
    ("Turkey NEAR/4 submarine", "Turkey plans a new submarine", T),
    ("Turkey NEAR/1 submarine", "Turkey submarine", T),
    ("Turkey NEAR/1 submarine", "Turkey's submarine", F),
    ("Turkey NEAR/5 (submarin* OR Reis-class)", "Reis class boats for Turkey", T),
    ("S-400 NEAR/2 batch", "S400 second batch", T),
    ("S-400 NEAR/2 batch", "S-400 were bought in a batch", F),
    ("Turkey NEAR/3 submarine", D(title="Turkey", summary="submarine"), F),
    ('"second batch" NEAR/3 S-400', "a second batch of S-400", T),
    ("Turkey NEAR/3 submarine a", "Turkey submarine", F),   # NEAR binds tighter than AND
    # --- field scopes
    ("title:S-400", D(title="S-400 news", summary="nothing"), T),
    ("title:S-400", D(title="news", summary="S-400"), F),
    ("summary:S-400", D(title="news", summary="<p>S-400</p>"), T),
    ("content:submarine", D(content="<div>new <b>submarine</b></div>"), T),
    ("content:submarine", D(title="submarine"), F),
    ("author:bekdil", D(title="x", author="Burak Ege Bekdil"), T),
    ("bekdil", D(title="x", author="Burak Ege Bekdil"), F),   # author is not a default field
    ("category:defense", D(title="x", categories=("Europe", "Defense")), T),
    ("category:defense", D(title="defense"), F),
    ('feed:"defense news"', D(title="x", feed="Defense News"), T),
    ("feed:defense", D(title="defense", feed="Reuters"), F),
    ("title:(Turkey OR Türkiye)", D(title="TÜRKİYE", summary="x"), T),
    ("title:(Turkey OR Türkiye)", D(title="x", summary="Turkey"), F),
    ("TITLE:S-400", D(title="S400"), T),
    # --- the article field: the fetched page's main text (plain text, never HTML-decoded)
    ("TF-X", D(title="Turkey news", summary="S-400 batch", article="dubbed TF-X"), T),
    ("TF-X", D(title="Turkey news", summary="S-400 batch"), F),
    ("article:TF-X", D(article="the TF-X engine"), T),
    ("article:TF-X", D(article="the TFX engine"), T),
    ("article:TF-X", D(title="TF-X", summary="TF-X", content="TF-X", article="nothing"), F),
    ("ARTICLE:tf-x", D(article="TF-X"), T),
    ("title:TF-X", D(title="x", article="TF-X"), F),
    ("summary:TF-X", D(summary="x", article="TF-X"), F),
    ("content:TF-X", D(content="x", article="TF-X"), F),
    ('article:"second batch"', D(article="a second batch of S-400 systems"), T),
    ('article:"second batch"', D(article="a second, later batch"), F),
    ("article:submarin*", D(article="six submarines under German license"), T),
    ("article:@tfx", D(article="the KAAN fighter"), T),
    ("article:(engine AND TF-X)", D(summary="engine", article="TF-X"), F),
    ("engine AND TF-X", D(summary="engine", article="TF-X"), T),
    ("engine NEAR/8 TF-X", D(article="the engine for Turkey's future fighter, dubbed TF-X"), T),
    ("engine NEAR/5 TF-X", D(article="the engine for Turkey's future fighter, dubbed TF-X"), F),
    ("article:(engine NEAR/8 TF-X)",
     D(article="the engine for Turkey's future fighter, dubbed TF-X"), T),
    ("engine NEAR/6 TF-X", D(summary="the engine", article="TF-X"), F),  # one field at a time
    ("/tf ?x/", D(article="dubbed TF-X"), T),
    ("article:/tf ?x/", D(title="TF-X", article="nothing"), F),
    ("title:/tf ?x/", D(title="x", article="TF-X"), F),
    ("Turkey -article:recipe", D(title="Turkey", article="a recipe for turkey"), F),
    ("Turkey -article:recipe", D(title="Turkey", article="a second S-400 batch"), T),
    ("Turkey NOT recipe", D(title="Turkey", article="a recipe"), F),
    ("Türkiye", D(article="T&uuml;rkiye"), F),   # the article is plain: entities stay text
    ("Türkiye", D(article="TÜRKİYE'NİN"), T),
    ("title:@s400", D(title="Triumf arrives"), T),
    ("title:/s ?400/", D(title="S-400"), T),
    # --- regex (case-insensitive, on normalised text: dashes are spaces)
    ("/s ?400/", "S-400", T),
    ("/s ?400/", "S400", T),
    ("/s ?400/", "S-4", F),
    (r"/\bkaan\b/", "KAAN fighter", T),
    (r"/\bkaan\b/", "kaanak", F),
    ("/tf.?x/", "TF-X", T),
    ("/turkiye/", "TÜRKİYE", T),
    ("/^a+$/", "aaa", T),
    ("Turkey /s ?400/", "Turkey S-400", T),
    ("/x*/", "nothing here", F),     # empty matches do not count
    ("NOT /sport/", "sports", F),
    # --- aliases
    ("@s400", "Turkey's Triumf", T),
    ("@s400", "the SA-21 Growler system", T),
    ("@s400", "the SA 21 Growler system", T),
    ("@s400", "the SA-21 system", F),
    ("@s400", "комплекс С-400 Триумф", T),
    ("@s400", "the S400", T),
    ("@s400", "the S-4000", F),
    ("@tfx engine*", "KAAN engine", T),
    ("@tfx engine*", "kaanak engine", F),
    ("@tr NEAR/5 @subs", "Türkiye orders six Type 214 boats", T),
    ("@tr NEAR/5 @subs", "Turkish Reis-class", T),
    ("@rx", "F35 jets", T),
    ("-@s400", "Triumf", F),
    # --- Russian: Cyrillic stays Cyrillic
    ("С-400", "поставки С-400 в Турцию", T),
    ("С-400", "поставки С400 в Турцию", T),
    ("С-400", "Turkey's S-400", F),       # Cyrillic С is not Latin S
    ("S-400", "поставки С-400", F),
    ("Турция", "ТУРЦИЯ покупает", T),
    ("турция", "Турция покупает", T),
    ("подводн*", "подводные лодки", T),
    ("ёлка", "елка", T),
    ('"подводная лодка"', "новая подводная лодка", T),
    # --- word boundaries
    ("Turkey", "Turkeys", F),
    ("Turkey", "Turkey's defense", T),
    ("Turkey", "turkey", T),
    ("Turkey", "Turkey2020", F),
    ("KAAN", "Kaanak ng OFW", F),
    ("KAAN", "mga kaanak", F),
    ("KAAN", "KAAN fighter", T),
    ("KAAN", "the (KAAN) jet", T),
    ("KAAN", "#KAAN!", T),
    ("400", "S-400", T),
    ("400", "S4000", F),
    # --- HTML and entities
    ("AT&T", "AT&amp;T deal", T),
    ('"S-400 deal"', "S&#8209;400 deal", T),
    ("Türkiye", "T&uuml;rkiye", T),
    ("batch", "<p>second <b>batch</b></p>", T),
    ("second batch", "<p>second<br>batch</p>", T),
    ("S-400", "<b>S</b>-<i>400</i>", T),
    ("alert", "<script>alert(1)</script> text", F),
    ("nbsp", "S-400&nbsp;deal", F),
    ('"S-400 deal"', "S-400&nbsp;deal", T),
    ("Turkey", "<a href='turkey.html'>link</a>", F),
    # --- turkey recipe false friends (with the analyst's query)
    ("Turkey -recipe* -thanksgiving -roast*", "Roast turkey recipes for Thanksgiving", F),
    ("Turkey -recipe* -thanksgiving -roast*", "Turkey buys S-400 from Russia", T),
    ("(Turkey OR Turkish) NEAR/6 submarin*",
     "Roast the turkey at 180 degrees for four hours, then watch an old submarine film", F),
    ("(Turkey OR Turkish) NEAR/6 submarin*", "Turkish submarine program delayed", T),
    ("(Turkey OR Turkish) NEAR/6 submarin*", "Turkey Creek Bridge", F),
]


@pytest.mark.parametrize(("query", "text", "expected"), CASES,
                         ids=[f"{i}:{q}" for i, (q, _, _) in enumerate(CASES)])
def test_language(query: str, text: str | Document, expected: bool) -> None:
    doc = text if isinstance(text, Document) else Document(title=text)
    compiled = compile_query(query, ALIASES)
    assert compiled.matches(doc) is expected


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 150


# (bad query, where the caret must be, a word of the message)
ERRORS: list[tuple[str, int, str]] = [
    ("", 0, "empty"),
    ("   ", 0, "empty"),
    ("(S-400 OR Triumf", 0, "unclosed"),
    ("Turkey AND (S-400 OR (Triumf)", 11, "unclosed"),
    ("S-400)", 5, "unmatched"),
    ("S-400 OR", 6, "OR"),
    ("S-400 OR OR Triumf", 9, "OR"),
    ("OR Triumf", 0, "OR"),
    ("Turkey AND", 7, "AND"),
    ("Turkey NOT", 7, "NOT"),
    ("()", 1, "empty parentheses"),
    ('Turkey ""', 7, "empty phrase"),
    ('Turkey "second batch', 7, "unclosed quote"),
    ("/abc(/", 4, "regex"),
    ("Turkey /[a-/", 8, "regex"),
    ("Turkey /abc", 7, "unclosed regex"),
    ("Turkey //", 7, "empty regex"),
    ("Turkey @nope", 7, "unknown alias"),
    ("@", 0, "alias"),
    ("Turkey NEAR submarine", 7, "NEAR"),
    ("Turkey NEAR/x submarine", 12, "NEAR"),
    ("Turkey NEAR/0 submarine", 12, "NEAR"),
    ("Turkey NEAR/3", 7, "NEAR"),
    ("Turkey NEAR/3 (a AND b)", 7, "NEAR"),
    ("Turkey NEAR/3 -a", 7, "NEAR"),
    ("tittle:S-400", 0, "unknown field"),
    ("title: S-400", 0, "title"),
    ("article: TF-X", 0, "article"),
    ("articles:TF-X", 0, "unknown field"),
    ("S-400 title:", 6, "title"),
    ("sub*marine", 3, "wildcard"),
    ("*", 0, "wildcard"),
    ("Turkey - recipe", 7, "-"),
    ("!!!", 0, "letters or digits"),
    ("/abc/i", 5, "regex"),
    ("(" * 100 + "a" + ")" * 100, 64, "nested"),
]


@pytest.mark.parametrize(("query", "position", "word"), ERRORS)
def test_error_caret(query: str, position: int, word: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(query, ALIASES)
    err = info.value
    assert err.position == position, err.render()
    assert word.lower() in err.message.lower()
    lines = err.render().split("\n")
    assert lines[1] == "  " + query
    assert lines[2] == "  " + " " * position + "^"


def test_unknown_alias_lists_known_ones() -> None:
    with pytest.raises(QueryError, match="@s400"):
        compile_query("@nope", ALIASES)


def test_bad_alias_entry_points_at_alias() -> None:
    with pytest.raises(QueryError) as info:
        compile_query("Turkey @bad", {"bad": ["ok", "!!!"]})
    assert info.value.position == 7
    assert "'!!!'" in info.value.message


@pytest.mark.parametrize(("query", "line", "caret", "number"), [
    ("Turkey\nAND (S-400 OR Triumf", "AND (S-400 OR Triumf", "    ^", 2),
    ("Turkey\r\nAND\r\nS-400 OR\r\n", "S-400 OR", "      ^", 3),
    ("Turkey OR\n  S-400)\n  OR Triumf", "  S-400)", "       ^", 2),
    ("S-400\n\t@nope", "\t@nope", "\t^", 2),
])
def test_error_caret_in_a_multi_line_query(query: str, line: str, caret: str,
                                           number: int) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(query, ALIASES)
    lines = info.value.render().split("\n")
    assert len(lines) == 3
    assert lines[0].endswith(f"(line {number} of the query)")
    assert lines[1] == "  " + line
    assert lines[2] == "  " + caret
