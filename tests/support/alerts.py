"""`make_alert`: an Alert for renderer and outbox tests, any field overridden by keyword.

A module whose tests assume other defaults binds them once:
`make_alert = functools.partial(alerts.make_alert, channel="analysts")`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from watcher.models import Alert, Snippet

BASE = Alert(id=1, channel="alerts", kind="new", profiles=("S-400",),
             title="Turkey receives second S-400 batch", link="https://example.org/a",
             feed="Defense News", published=datetime(2024, 5, 1, 11, 3, tzinfo=UTC),
             snippet=Snippet("took delivery of the S-400 system", ((21, 26),)),
             terms=("S-400",))


def make_alert(**fields: Any) -> Alert:
    return replace(BASE, **fields)
