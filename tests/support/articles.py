"""The seed story as a news page: our page frame around ../shared/seed-article.txt."""

from __future__ import annotations

import html

import pytest

from tests.support.corpus import SHARED
from tests.support.runner import REPO

DATA = REPO / "tests" / "data" / "articles"
SEED = SHARED / "seed-article.txt"
needs_seed = pytest.mark.skipif(not SEED.is_file(), reason=f"{SEED} not found (../shared)")


def seed_page() -> bytes:
    """Our page frame (navigation, a "most read" rail, comments, footer) around the
    paragraphs of ../shared/seed-article.txt."""
    paragraphs = [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    frame = (DATA / "seed-frame.html").read_text(encoding="utf-8")
    return frame.replace("{{ARTICLE}}", body).encode("utf-8")


def seed_teaser() -> str:
    """The seed story's real teaser: its first sentence."""
    return SEED.read_text(encoding="utf-8").split("\n")[0]
