"""The shared documents beside the repository (<repo>/../shared: the feed corpus, the
articles). They are never copied into the repository; a test that needs one is skipped
with a reason naming the missing path (CI has them, so they run there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.runner import REPO

SHARED = REPO.parent / "shared"


def absent(path: Path) -> str:
    """The skip reason for a missing shared path."""
    return f"{path} is absent (the shared corpus beside the repository; CI has it)"


def shared_path(*parts: str) -> Path:
    """A path under ../shared; the calling test is skipped, naming it, when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(absent(path))
    return path
