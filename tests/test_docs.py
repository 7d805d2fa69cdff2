"""Docs that cannot drift: every CLI command, option and config key is in the README."""

from __future__ import annotations

import argparse

import pytest

from tests.support.runner import REPO
from watcher.cli import build_parser
from watcher.config import (
    ConsoleChannel,
    EmailChannel,
    FeedConfig,
    ProfileConfig,
    SlackChannel,
    WatcherSettings,
    WebSettings,
)

README = (REPO / "README.md").read_text(encoding="utf-8")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_command_and_its_options_are_documented(name: str) -> None:
    assert f"`watcher {name}" in README
    for action in _subcommands()[name]._actions:
        for option in action.option_strings:
            if option.startswith("--") and option not in ("--help", "--debug", "--log-format",
                                                          "--config"):
                assert option in README, f"{option} of watcher {name} is not in the README"


@pytest.mark.parametrize("model", [WatcherSettings, FeedConfig, ProfileConfig, SlackChannel,
                                   EmailChannel, ConsoleChannel, WebSettings])
def test_every_config_key_is_documented(model: type) -> None:
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        key = field.alias or name
        assert f"`{key}`" in README, f"config key {key!r} ({model.__name__}) is not in the README"
