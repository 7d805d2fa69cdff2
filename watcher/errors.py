"""The one error tree of watcher.

    WatcherError
    ├── ConfigError          the config file (or a query in it) is wrong; exit code 2
    │   └── QueryError       one query does not parse; carries the query and the fault's position
    ├── FetchError           a feed could not be fetched (network, HTTP status, size or time cap)
    ├── ParseError           a feed document could not be read at all
    ├── StoreError           the state store failed
    └── DeliveryError        a channel did not take an alert
        ├── TransientDeliveryError   retry later (network, 5xx, 429 with its Retry-After)
        └── PermanentDeliveryError   stop retrying this channel until the config changes

Third-party exceptions are translated at the module that talks to the library
(`raise FetchError(...) from exc`), so the rest of the code handles only these.
"""

from __future__ import annotations

from typing import Literal

FetchErrorKind = Literal["hard", "soft", "transient"]
"""How a fetch failed, which says how soon to try again (watcher.health, watcher.schedule):
"hard" the feed is wrong (4xx, redirect loop, too large, bad URL or encoding); "soft" the
server is there but unwilling or slow (429, 5xx, timeouts); "transient" a one-off network
failure (DNS, refused connection, TLS, a broken connection)."""


class WatcherError(Exception):
    """Base of every error watcher raises on purpose."""


class ConfigError(WatcherError):
    """The config is invalid. `problems` holds one human line per fault."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class QueryError(ConfigError):
    """A query does not parse: `position` is the 0-based offset of the fault in `query`."""

    def __init__(self, query: str, position: int, message: str) -> None:
        self.query = query
        self.position = max(0, min(position, len(query)))
        self.message = message
        super().__init__(self.render())

    def render(self, indent: str = "  ") -> str:
        """Message, the query's line that holds the fault, and a caret under the fault.

        A multi-line query (a TOML multi-line string) shows only that line, and the message
        says which line it is."""
        query, pos = self.query, self.position
        start = query.rfind("\n", 0, pos) + 1
        end = query.find("\n", pos)
        line = query[start:] if end == -1 else query[start:end]
        line = line.removesuffix("\r")
        column = min(pos - start, len(line))
        message = self.message
        if "\n" in query:
            number = query.count("\n", 0, start) + 1
            message += f" (line {number} of the query)"
        pad = "".join("\t" if ch == "\t" else " " for ch in line[:column])
        return f"{message}\n{indent}{line}\n{indent}{pad}^"


class FetchError(WatcherError):
    """A feed could not be fetched; `kind` says how (FetchErrorKind)."""

    def __init__(self, message: str, *, kind: FetchErrorKind = "transient",
                 status: int | None = None,
                 retry_after: float | None = None) -> None:
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class ParseError(WatcherError):
    """A feed document could not be read at all (not even partly)."""


class StoreError(WatcherError):
    """The state store failed."""


class DeliveryError(WatcherError):
    """A channel did not take an alert."""


class TransientDeliveryError(DeliveryError):
    """Try again later; `retry_after` seconds if the server said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help until the config (token, channel, address) is fixed."""
