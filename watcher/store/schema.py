"""The numbered schema migrations of each engine (migrations/<engine>/000N_name.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(engine: str, upto: int | None = None) -> list[Migration]:
    """The migrations of `engine` ("sqlite" or "postgres") in order, up to version `upto`."""
    folder = resources.files("watcher.store") / "migrations" / engine
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            version = int(name[:4])
            if upto is None or version <= upto:
                out.append(Migration(version, name, entry.read_text(encoding="utf-8")))
    out.sort(key=lambda m: m.version)
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two {engine} migrations share a version number: {versions}")
    return out
