"""Durations ("90s", "5m", "1h", "2d"), clock times ("08:00") and windows ("22:00-07:00")."""

from __future__ import annotations

import re
from datetime import time

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_CLOCK = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?\s*$")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as "90s", "5m", "1h", "2d"; a bare number is seconds."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f'not a duration: {text!r} (use a number with s, m, h or d, e.g. "10m")')
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_clock(text: str) -> time:
    """A wall-clock time "HH:MM" (or "HH:MM:SS")."""
    m = _CLOCK.match(str(text))
    if not m:
        raise ValueError(f'not a time of day: {text!r} (use "HH:MM", e.g. "08:00")')
    return time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def parse_window(text: str) -> tuple[time, time]:
    """A daily window "22:00-07:00" (it may wrap past midnight)."""
    parts = str(text).split("-")
    if len(parts) != 2:
        raise ValueError(f'not a time window: {text!r} (use "HH:MM-HH:MM", e.g. "22:00-07:00")')
    start, end = parse_clock(parts[0]), parse_clock(parts[1])
    if start == end:
        raise ValueError(f"time window {text!r} is empty")
    return start, end


def in_window(now: time, window: tuple[time, time]) -> bool:
    """Whether a wall-clock time falls inside a (possibly wrapping) window."""
    start, end = window
    if start < end:
        return start <= now < end
    return now >= start or now < end


def format_duration(seconds: float) -> str:
    """A short human duration: "45s", "12m", "3h", "2d"."""
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
