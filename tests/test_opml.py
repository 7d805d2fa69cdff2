"""OPML import (configcheck.read_opml): nested outlines, categories as tags, broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.configs import console_channel, profile, table, write_config
from tests.support.runner import Watcher
from watcher.configcheck import read_opml
from watcher.errors import ConfigError

OPML = """<?xml version="1.0" encoding="utf-8"?>
<opml version="2.0">
  <head><title>Analyst feeds</title></head>
  <body>
    <outline text="Defense">
      <outline text="Defense News" title="Defense News" type="rss"
               xmlUrl="https://www.defensenews.com/rss" category="defense,/air/"/>
      <outline text="Turkey">
        <outline text="Daily Sabah Defense" type="rss"
                 xmlUrl="https://www.dailysabah.com/rss/defense" category="defense, turkey"/>
      </outline>
    </outline>
    <outline text="No URL, just a folder"/>
    <outline text="Not http" xmlUrl="ftp://example.org/feed"/>
    <outline text="Wire" xmlUrl="https://wire.example.org/atom"/>
  </body>
</opml>
"""


def test_nested_outlines_and_categories_become_feeds_with_tags(tmp_path: Path) -> None:
    path = tmp_path / "feeds.opml"
    path.write_text(OPML, encoding="utf-8")
    feeds = read_opml(path)
    assert [(f.url, f.name, f.tags) for f in feeds] == [
        ("https://www.defensenews.com/rss", "Defense News", ("defense", "air")),
        ("https://www.dailysabah.com/rss/defense", "Daily Sabah Defense", ("defense", "turkey")),
        ("https://wire.example.org/atom", "Wire", ()),
    ]


@pytest.mark.parametrize("body", [
    "<opml><body><outline text='x' xmlUrl='https://a.example/rss'></body>",    # not closed
    "not xml at all",
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><opml>&a;</opml>',  # entities
])
def test_broken_opml_is_a_config_error_naming_the_file(tmp_path: Path, body: str) -> None:
    path = tmp_path / "broken.opml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match="broken.opml"):
        read_opml(path)


def _config(watcher: Watcher, opml: str) -> None:
    write_config(watcher, state="state.db", feeds=["https://wire.example.org/atom"],
                 profiles=[profile("S-400", "S-400", feeds=["turkey"])],
                 channels=[console_channel()], extra=table("[[opml]]", {"path": opml}))


@pytest.mark.slow
def test_config_reads_opml_feeds_and_their_tags(watcher: Watcher) -> None:
    (watcher.tmp / "feeds.opml").write_text(OPML, encoding="utf-8")
    _config(watcher, "feeds.opml")
    run = watcher("check")
    assert run.code == 0, run.err
    assert "3 feed(s)" in run.out          # the duplicate Wire URL is polled once


@pytest.mark.slow
def test_config_with_a_broken_opml_exits_2_naming_the_file(watcher: Watcher) -> None:
    (watcher.tmp / "feeds.opml").write_text("<opml><body><outline", encoding="utf-8")
    _config(watcher, "feeds.opml")
    run = watcher("check")
    assert run.code == 2
    assert "feeds.opml" in run.err and "not valid OPML" in run.err
    _config(watcher, "missing.opml")
    run = watcher("check")
    assert run.code == 2 and "missing.opml" in run.err
