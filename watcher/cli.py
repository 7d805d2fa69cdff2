"""The `watcher` command: argument parsing and output formatting for the SPEC commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from watcher.errors import ConfigError, WatcherError
from watcher.logs import setup_logging
from watcher.timeparse import parse_duration

if TYPE_CHECKING:
    from watcher.config import Config

log = logging.getLogger("watcher.cli")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", help="config file (default: $WATCHER_CONFIG, "
                        "./config/watcher.toml, /etc/watcher/watcher.toml)")
    common.add_argument("--log-format", choices=["human", "json"], default="human")
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser = argparse.ArgumentParser(prog="watcher", description="Watches news feeds and alerts "
                                     "on matching stories, once per story.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", parents=[common], help="the daemon, in the foreground")
    run.add_argument("--metrics", metavar="ADDR:PORT", help="serve Prometheus metrics and /healthz")
    poll = sub.add_parser("poll", parents=[common], help="one full cycle over every feed")
    poll.add_argument("--dry-run", action="store_true", help="print alerts, change no state")
    check = sub.add_parser("check", parents=[common], help="validate the config")
    check.add_argument("--online", action="store_true", help="also try every feed and channel")
    test = sub.add_parser("test-alert", parents=[common], help="send a test alert to a channel")
    test.add_argument("channel")
    status = sub.add_parser("status", parents=[common], help="feeds and outbox")
    status.add_argument("--json", action="store_true")
    hits = sub.add_parser("hits", parents=[common], help="recent alerts, newest first")
    hits.add_argument("--profile")
    hits.add_argument("--since", default="24h")
    hits.add_argument("--json", action="store_true")
    explain = sub.add_parser("explain", parents=[common], help="show how a profile matches a feed")
    explain.add_argument("profile")
    explain.add_argument("source", metavar="FILE_OR_URL")
    explain.add_argument("--json", action="store_true")
    explain.add_argument("--no-article", action="store_true",
                         help="do not fetch the linked pages of teaser items")
    backtest = sub.add_parser("backtest", parents=[common],
                              help="run a profile or query over stored items")
    backtest.add_argument("query", metavar="PROFILE_OR_QUERY")
    backtest.add_argument("--since", default="7d")
    backtest.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("poll", "run"):
        from watcher.fetchpool import prestart

        prestart()
    setup_logging(args.log_format, "DEBUG" if args.debug else "INFO")
    try:
        return _dispatch(args)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except WatcherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback with --debug
        if args.debug:
            raise
        print(f"error: internal error: {type(exc).__name__}: {exc} (run with --debug for the "
              "traceback)", file=sys.stderr)
        return 1


def _load(args: argparse.Namespace) -> Config:
    from watcher.config import find_config, load_config

    config = load_config(find_config(args.config))
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


def _dispatch(args: argparse.Namespace) -> int:
    from watcher import commands

    if args.command == "run":
        from watcher.config import find_config
        from watcher.daemon import run_daemon

        path = find_config(args.config)
        return run_daemon(path, metrics=args.metrics)
    config = _load(args)
    if args.command == "check":
        return asyncio.run(commands.check(config, online=args.online))
    if args.command == "poll":
        return asyncio.run(commands.poll(config, dry_run=args.dry_run))
    if args.command == "test-alert":
        return commands.test_alert(config, args.channel)
    if args.command == "status":
        return _print(commands.status(config), args.json, commands.format_status)
    if args.command == "hits":
        since = time.time() - _duration(args.since, "--since")
        return _print(commands.hits(config, since, args.profile), args.json, commands.format_hits)
    if args.command == "explain":
        data = asyncio.run(commands.explain(config, args.profile, args.source,
                                            article=not args.no_article))
        return _print(data, args.json, commands.format_explain)
    if args.command == "backtest":
        since = time.time() - _duration(args.since, "--since")
        data = commands.backtest(config, args.query, since)
        return _print(data, args.json, commands.format_backtest)
    raise AssertionError(args.command)


def _duration(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _print(data: object, as_json: bool, fmt: object) -> int:
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        assert callable(fmt)
        print(fmt(data))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["main", "Path"]
