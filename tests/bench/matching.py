"""Matching throughput: this engine vs one compiled regex per profile (a script, not a test).

Run from the repository root:  /work/venv/bin/python tests/bench/matching.py [repeat]

Generates news-like items (title ~10 words, summary ~50 words, a few defence terms,
some Turkish/Cyrillic text and HTML) and 10 / 100 / 1,000 profiles of 1-6 terms
mixing AND, OR, NOT, NEAR, phrases, designators and prefixes (fixed seed), then
prints items matched per second on one core for each: CPU time (time.process_time),
best of `repeat` runs (default 3), so other work on the machine disturbs it little.
A second table runs the same profiles with every 10th one OR'ed with a `/regex/` term,
which the prefilter cannot rule out: the cost of user regexes and of their time bound.
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections.abc import Callable, Sized
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from watcher.query import Document, Matcher  # noqa: E402

SEED = 20240917
COMMON = """the a of to in and for on with said its at by from as was has have will be that
it new after over more than government minister officials talks week year country state
military defence defense forces army navy air deal contract program programme report
president prime foreign security border city police court election vote party economy
market prices oil gas energy trade sanctions talks summit leaders meeting visit plans
plan could would should may first second third batch last next two three six ten
hundred million billion people workers company industry production factory jobs
local regional national international news update analysis opinion sources told
reuters officials spokesman statement monday tuesday wednesday thursday friday
support against between during under while before since amid despite""".split()
TERMS_WORDS = """turkey turkish türkiye ankara erdogan russia russian moscow greece
greek cyprus nato aukus submarine frigate corvette drone missile radar fighter jet
engine powerplant helicopter tank howitzer artillery satellite rocket warship
destroyer carrier bayraktar aselsan roketsan tusas havelsan baykar kaan hürjet
atak altay milgem istif reis preveze hisar siper patriot triumf growler rafale
typhoon eurofighter gripen kizilelma akinci anka kaplan otokar fnss stm""".split()
DESIGNATORS = ["S-400", "S-500", "F-35", "F-16", "TF-X", "SA-21", "T-129", "TB2", "T-70",
               "Type 214", "KF-21", "J-10", "Su-57", "MQ-9", "HQ-9", "A400M", "C-130"]
SYLLABLES = "ka ro tu men sar vi lo den ga bri ol ust an ze mar pol kin ter ash nor".split()


def _vocabulary(rnd: random.Random) -> tuple[list[str], list[str]]:
    """About 2,000 topic words (names, places, systems) and 300 designators, plus real ones."""
    words = set(TERMS_WORDS)
    while len(words) < 2000:
        words.add("".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(2, 4))))
    designators = set(DESIGNATORS)
    while len(designators) < 300:
        letters = "".join(rnd.choice("ABCDEFGHJKMNPRSTUVXZ") for _ in range(rnd.randint(1, 3)))
        designators.add(f"{letters}-{rnd.randint(2, 999)}")
    return sorted(words), sorted(designators)


TOPIC_WORDS, TOPIC_DESIGNATORS = _vocabulary(random.Random(SEED))
EXTRA_TEXT = ["İstanbul", "Türkiye'nin", "С-400", "Москва", "<b>", "</b>", "&amp;",
              "S400", "S 400", "TFX", "Reis-class", "submarines", "engines", "kaanak"]


def make_items(rnd: random.Random, count: int) -> list[Document]:
    items = []
    for _ in range(count):
        def sentence(n: int) -> str:
            words = [rnd.choice(COMMON) for _ in range(n)]
            for _ in range(rnd.choice((0, 0, 1, 1, 2, 3))):
                pool = rnd.choice((TOPIC_WORDS, TOPIC_WORDS, TOPIC_DESIGNATORS, TERMS_WORDS,
                                   EXTRA_TEXT))
                words.insert(rnd.randrange(len(words) + 1), rnd.choice(pool))
            return " ".join(words)
        title = sentence(rnd.randint(6, 12)).capitalize()
        summary = "<p>" + ". ".join(sentence(rnd.randint(8, 16)) for _ in range(4)) + ".</p>"
        items.append(Document(title=title, summary=summary, feed="Defense News"))
    return items


def _term(rnd: random.Random) -> tuple[str, str]:
    """(query text, naive regex) for one term."""
    kind = rnd.random()
    if kind < 0.45:
        w = rnd.choice(TOPIC_WORDS)
        return w, rf"\b{re.escape(w)}\b"
    if kind < 0.7:
        d = rnd.choice(TOPIC_DESIGNATORS)
        parts = re.findall(r"[^\W\d_]+|\d+", d.lower())
        return (f'"{d}"' if " " in d else d), r"\b" + r"[\s\-\u2010-\u2015]?".join(parts) + r"\b"
    if kind < 0.85:
        a, b = rnd.choice(TOPIC_WORDS), rnd.choice(TOPIC_WORDS)
        return f'"{a} {b}"', rf"\b{re.escape(a)}\W+{re.escape(b)}\b"
    w = rnd.choice(TOPIC_WORDS)[:6]
    return f"{w}*", rf"\b{re.escape(w)}\w*"


def make_profile(rnd: random.Random) -> tuple[str, re.Pattern[str]]:
    """One query and its naive equivalent: one regex of lookaheads over the whole text."""
    terms = [_term(rnd) for _ in range(rnd.randint(1, 6))]
    has = "(?=[\\s\\S]*?{})".format
    shape = rnd.random()
    if len(terms) == 1 or shape < 0.3:
        query = " ".join(q for q, _ in terms)
        rx = "".join(has(r) for _, r in terms)
    elif shape < 0.55:
        query = " OR ".join(q for q, _ in terms)
        rx = has("(?:" + "|".join(r for _, r in terms) + ")")
    elif shape < 0.8:
        (q1, r1), (q2, r2), *rest = terms
        query = f"({q1} OR {q2})" + "".join(f" -{q}" for q, _ in rest)
        rx = has(f"(?:{r1}|{r2})") + "".join(f"(?![\\s\\S]*?{r})" for _, r in rest)
    else:
        (q1, r1), (q2, r2), *rest = terms
        query = f"{q1} NEAR/5 {q2}" + "".join(f" {q}" for q, _ in rest)
        gap = r"\W+(?:\w+\W+){0,4}"
        rx = has(f"(?:{r1}{gap}{r2}|{r2}{gap}{r1})") + "".join(has(r) for _, r in rest)
    return query, re.compile(rx, re.IGNORECASE)


REGEX_EVERY = 10  # in the second table, every 10th profile also has a /regex/ term


def with_regex(rnd: random.Random, query: str) -> str:
    """The query OR a user regex: the prefilter cannot rule the profile out, so the regex
    runs on every item (the most a regex term can cost)."""
    word = re.escape(rnd.choice(TOPIC_WORDS)[:5])
    shape = rnd.choice((rf"\b{word}\w*", rf"\b{word}(?:s|es)?\b", rf"{word}\W+\w+"))
    return f"({query}) OR /{shape}/"


def rate(func: Callable[[Document], Sized], items: list[Document],
         repeat: int) -> tuple[float, int]:
    """Items per second of CPU time, the best of `repeat` runs (other work on the machine
    only ever slows a run down), and how many matches one run found."""
    best, matched = 0.0, 0
    for _ in range(repeat):
        start = time.process_time()
        matched = sum(len(func(doc)) for doc in items)
        elapsed = time.process_time() - start
        best = max(best, len(items) / max(elapsed, 1e-9))
    return best, matched


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    rnd = random.Random(SEED)
    items = make_items(rnd, 10_000)
    mean = sum(len(d.title) + len(d.summary) for d in items) // len(items)
    print(f"{len(items)} items, mean {mean} chars each; CPU time on one core, "
          f"best of {repeat} runs")
    print(f"{'profiles':>8} {'engine items/s':>15} {'naive items/s':>14} {'ratio':>6} "
          f"{'hits':>7} {'build s':>7}")
    for size in (10, 100, 1000):
        prnd = random.Random(SEED + size)
        profiles = [make_profile(prnd) for _ in range(size)]
        t0 = time.process_time()
        matcher = Matcher({f"p{i}": q for i, (q, _) in enumerate(profiles)})
        build = time.process_time() - t0
        regexes = [rx for _, rx in profiles]

        def naive(doc: Document, regexes: list[re.Pattern[str]] = regexes) -> list[int]:
            text = doc.title + "\n" + re.sub(r"<[^>]+>", " ", doc.summary)
            return [i for i, rx in enumerate(regexes) if rx.match(text)]

        engine_rate, hits = rate(matcher.match, items, repeat)
        naive_items = items[: max(500, 200_000 // size)]
        naive_rate, _ = rate(naive, naive_items, repeat)
        print(f"{size:>8} {engine_rate:>15,.0f} {naive_rate:>14,.0f} "
              f"{engine_rate / naive_rate:>5.1f}x {hits:>7} {build:>7.2f}")
    print(f"\nthe same profiles, every {REGEX_EVERY}th one OR a /regex/ term (run on every item)")
    print(f"{'profiles':>8} {'engine items/s':>15} {'hits':>7}")
    for size in (10, 100, 1000):
        prnd = random.Random(SEED + size)
        queries = [q for q, _ in (make_profile(prnd) for _ in range(size))]
        queries = [with_regex(prnd, q) if i % REGEX_EVERY == 0 else q
                   for i, q in enumerate(queries)]
        matcher = Matcher({f"p{i}": q for i, q in enumerate(queries)})
        engine_rate, hits = rate(matcher.match, items, repeat)
        print(f"{size:>8} {engine_rate:>15,.0f} {hits:>7}")


if __name__ == "__main__":
    main()
