"""Waiting for something to happen, with a deadline generous enough for a loaded machine.

Tests wait for events (a log line, a request reaching a server, a row in the store), never
for a fixed time; the deadline only stops a test that would otherwise hang. It is generous
on purpose: on a 2-core machine running several suites at once a daemon takes seconds to
start, so a deadline is a bound on a hang, never a bet on speed.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE = 120.0   # seconds: how long any wait lasts before the test fails
POLL = 0.05        # seconds between two looks


def wait_until(check: Callable[[], T], timeout: float = DEADLINE, what: str = "",
               alive: subprocess.Popen[str] | None = None) -> T:
    """Call `check` until it returns something true, and return that.

    Fails after `timeout` seconds naming `what`, or at once when `alive` (a process the
    condition depends on) has exited.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"the process exited ({alive.returncode}) while waiting for "
                                 f"{what or check}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or check}")
        time.sleep(POLL)
