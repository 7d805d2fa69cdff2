"""The round summary line (watcher/summary.py) and the progress line (watcher/progress.py)."""

from __future__ import annotations

import io

from watcher.pipeline import PollOutcome
from watcher.progress import Progress, progress_line
from watcher.summary import RoundSummary, sent_count


def test_outcomes_are_counted_by_kind() -> None:
    outcomes = [PollOutcome("a", True, "new items", 10, 4, 2, old_items=3),
                PollOutcome("b", True, "not modified"), PollOutcome("c", True, "unchanged"),
                PollOutcome("d", False, "error", error="HTTP 404"),
                PollOutcome("e", True, "no new items", 5)]
    summary = RoundSummary.of(outcomes, sent=1, seconds=2.26)
    assert (summary.ok, summary.not_modified, summary.failed) == (2, 2, 1)
    assert summary.line("24h") == (
        "5 feeds polled (2 ok, 2 not modified, 1 failed); 4 new items, 3 of them older than "
        "backfill (24h, [watcher] backfill) recorded without alerts; 2 alerts queued, 1 sent; "
        "2.3s")
    assert RoundSummary.of([PollOutcome("a", True, "new items", 1, 1, 1)], sent=1,
                           seconds=0).line("1h") == ("1 feed polled (1 ok, 0 not modified, 0 "
                                                     "failed); 1 new item; 1 alert queued, 1 "
                                                     "sent; 0.0s")


def test_sent_count_sums_every_channel() -> None:
    assert sent_count({"a": {"sent": 2, "pending": 5}, "b": {"held": 1}, "c": {"sent": 3}}) == 5


def test_progress_rewrites_one_line_and_erases_it() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    progress.clear()   # nothing shown yet: nothing written
    assert stream.getvalue() == ""
    progress.show(progress_line("polling", 1, 3, 1, "feeds"))
    progress.show(progress_line("polling", 2, 3, 7, "feeds"))
    assert progress.before_log(None) is True
    assert stream.getvalue() == ("\r\x1b[Kpolling: 1 of 3 feeds, 1 item"
                                 "\r\x1b[Kpolling: 2 of 3 feeds, 7 items\r\x1b[K")
