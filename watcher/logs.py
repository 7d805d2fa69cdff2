"""Logging to standard error: one human line per event, or JSON with --log-format json."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime, tzinfo

FIELDS = ("feed", "profile", "channel", "item_key")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """One line per event; the time in `tz` (UTC until the config names its timezone),
    marked with the zone's name, as every command shows times."""

    def __init__(self, tz: tzinfo = UTC) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        self.tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        when = datetime.fromtimestamp(record.created, self.tz)
        return when.strftime("%Y-%m-%d %H:%M:%S ") + (when.tzname() or when.strftime("%z"))

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(super().format(record).splitlines())  # one line per event, always


def use_timezone(tz: tzinfo) -> None:
    """Show log times in the configured timezone from now on (human format only)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, HumanFormatter):
            handler.formatter.tz = tz


def setup_logging(fmt: str = "human", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "slack_sdk", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
