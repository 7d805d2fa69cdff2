"""The `watcher` command: argument parsing and output formatting for the SPEC commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, TypeVar

from watcher import __version__
from watcher.errors import (
    ConfigError,
    DeliveryError,
    FetchError,
    ParseError,
    StoreError,
    WatcherError,
)
from watcher.logs import setup_logging, use_timezone
from watcher.progress import Progress
from watcher.timeparse import parse_duration

if TYPE_CHECKING:
    from watcher.config import Config

log = logging.getLogger("watcher.cli")
T = TypeVar("T")


_CONFIG_HELP = ("config file (default: $WATCHER_CONFIG, else ./config/watcher.toml, else "
                "/etc/watcher/watcher.toml)")


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """-c, --log-format and --debug: accepted before the command and after it.

    On the subcommands their defaults are SUPPRESS, so a value given before the command
    is not overwritten by the subcommand's default.
    """
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("-c", "--config", default=default(None), help=_CONFIG_HELP)
    parser.add_argument("--log-format", choices=["human", "json"], default=default("human"),
                        help="log on standard error as human lines or one JSON object per "
                        "line (default: human)")
    parser.add_argument("--debug", action="store_true", default=default(False),
                        help="show tracebacks and debug logs (default: off)")


_COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("the daemon, in the foreground",
            "Run the daemon in the foreground: poll every feed on its schedule, deliver "
            "alerts, reload on SIGHUP, stop cleanly on SIGTERM/SIGINT. systemd runs this."),
    "poll": ("one full cycle over every feed",
             "Poll every feed once (fetch, match, dedup, deliver), print a one-line summary "
             "on standard error and exit: 0 when every feed was read, 1 when any failed."),
    "check": ("validate the config",
              "Validate the config and print a summary; every problem is listed at once. "
              "Exits 2 on an invalid config, 1 when --online finds a failing feed or channel."),
    "test-alert": ("send a test alert to a channel",
                   "Send a clearly marked test alert to one channel."),
    "status": ("feeds and outbox",
               "One row per feed (last poll, result, errors in a row, items, next poll), "
               "then the outbox per channel."),
    "hits": ("recent alerts, newest first",
             "Recent alerts, newest first, with their delivery status and time."),
    "explain": ("show how a profile matches a feed",
                "Parse one feed document (a file or a URL) and show, per item, whether the "
                "profile matches and which terms did."),
    "backtest": ("run a profile or query over stored items",
                 "Run a profile (or a query given inline) over the items stored in a period "
                 "and show what it would have alerted."),
    "web": ("serve the dashboard (read-only)",
            "Serve the web dashboard over the configured store: overview, alerts, feeds, "
            "profiles and the query tester. Read-only; beyond loopback it needs [web] token."),
}


class _HelpWithDefaults(argparse.HelpFormatter):
    """Each option's help ends with its default (flags: "off"), unless it names one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "(default" in text or not action.option_strings or action.default in (
                None, argparse.SUPPRESS):
            return text
        return f"{text} (default: {'off' if action.default is False else action.default})"


def build_parser() -> argparse.ArgumentParser:
    fmt = _HelpWithDefaults
    parser = argparse.ArgumentParser(prog="watcher", formatter_class=fmt,
                                     description="Watches news feeds and alerts on matching "
                                     "stories, once per story.")
    parser.add_argument("--version", action="version", version=f"watcher {__version__}",
                        help="print the version and exit")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cmd: dict[str, argparse.ArgumentParser] = {}
    for name, (short, long) in _COMMANDS.items():
        cmd[name] = sub.add_parser(name, help=short, description=long, formatter_class=fmt)
        _global_options(cmd[name], suppress=True)
    cmd["run"].add_argument("--metrics", metavar="ADDR:PORT", default=None,
                            help="serve Prometheus metrics and /healthz on this address "
                            "(default: no metrics server)")
    cmd["run"].add_argument("--web", metavar="ADDR:PORT", default=None,
                            help="serve the dashboard here too (default: off)")
    cmd["web"].add_argument("--listen", metavar="ADDR:PORT", default=None,
                            help="where to listen (default: [web] listen, 127.0.0.1:8080)")
    cmd["poll"].add_argument("--dry-run", action="store_true",
                             help="print the alerts it would send; change no state")
    cmd["check"].add_argument("--online", action="store_true",
                              help="also fetch every feed and check every channel")
    cmd["test-alert"].add_argument("channel", help="a channel name of the config")
    for name in ("status", "hits", "explain", "backtest"):
        cmd[name].add_argument("--json", action="store_true", help="print JSON")
    cmd["hits"].add_argument("--profile", default=None,
                             help="only this profile's alerts (default: every profile)")
    cmd["hits"].add_argument("--since", default="24h", help="how far back (s, m, h, d)")
    cmd["explain"].add_argument("profile", help="a profile name of the config")
    cmd["explain"].add_argument("source", metavar="FILE_OR_URL",
                                help="a feed document: a local file or an http(s) URL")
    cmd["backtest"].add_argument("query", metavar="PROFILE_OR_QUERY",
                                 help="a profile name, or a query (with --query)")
    cmd["backtest"].add_argument("--query", dest="inline", action="store_true",
                                 help="take PROFILE_OR_QUERY as a query, even when it "
                                 "names or resembles a profile")
    cmd["backtest"].add_argument("--since", default="7d", help="how far back (s, m, h, d)")
    cmd["explain"].add_argument("--no-article", action="store_true",
                                help="do not fetch the linked pages of teaser items")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("poll", "run"):
        from watcher.fetchpool import prestart

        prestart()
    setup_logging(args.log_format, "DEBUG" if args.debug else "INFO")
    try:
        code = _dispatch(args)
        sys.stdout.flush()   # here, so a closed pipe is met inside the try
        return code
    except BrokenPipeError:
        return _pipe_closed()
    except ConfigError as exc:
        _fail(args, "config", exc.problems)
        return 2
    except WatcherError as exc:
        _fail(args, error_kind(exc), [str(exc)])
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback with --debug
        if args.debug:
            raise
        _fail(args, "internal", [f"internal error: {type(exc).__name__}: {exc} (run with "
                                 "--debug for the traceback)"])
        return 1


ErrorKind = Literal["config", "fetch", "parse", "store", "delivery", "error", "internal"]
_KINDS: tuple[tuple[type[WatcherError], ErrorKind], ...] = (
    (FetchError, "fetch"), (ParseError, "parse"), (StoreError, "store"),
    (DeliveryError, "delivery"))


def error_kind(exc: WatcherError) -> ErrorKind:
    """What failed, for the JSON error object of --json."""
    return next((kind for cls, kind in _KINDS if isinstance(exc, cls)), "error")


def _fail(args: argparse.Namespace, kind: ErrorKind, problems: Sequence[str]) -> None:
    """Each problem on standard error; with --json also one error object on standard output."""
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    if getattr(args, "json", False):
        try:
            print(json.dumps({"error": {"kind": kind, "message": problems[0] if problems else "",
                                        "problems": list(problems)}}, ensure_ascii=False))
            sys.stdout.flush()
        except BrokenPipeError:
            _pipe_closed()


def _pipe_closed() -> int:
    """The reader of standard output went away (`watcher status | head`): end quietly.

    Standard output is pointed at /dev/null so that Python's own flush at exit does not
    complain again; the exit code is the shell's for a command ended by SIGPIPE.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


def _load(args: argparse.Namespace) -> Config:
    from watcher.config import find_config, load_config

    config = load_config(find_config(args.config))
    use_timezone(config.settings.tz)
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


def _progress(args: argparse.Namespace) -> Progress | None:
    """A progress line on standard error: only on a terminal, never with JSON logs."""
    if args.log_format == "json" or not sys.stderr.isatty():
        return None
    progress = Progress(sys.stderr)
    for handler in logging.getLogger().handlers:   # a log line first erases the progress line
        handler.addFilter(progress.before_log)
    return progress


def _dispatch(args: argparse.Namespace) -> int:
    from watcher import commands, history

    if args.command == "run":
        from watcher.config import find_config
        from watcher.daemon import run_daemon

        path = find_config(args.config)
        return run_daemon(path, metrics=args.metrics, web=args.web)
    config = _load(args)
    if args.command == "web":
        from watcher.web.server import open_web

        open_web(lambda: config, args.listen, "--listen").run()
        return 0
    if args.command == "check":
        return asyncio.run(commands.check(config, online=args.online))
    if args.command == "poll":
        return asyncio.run(commands.poll(config, dry_run=args.dry_run,
                                         progress=_progress(args)))
    if args.command == "test-alert":
        return commands.test_alert(config, args.channel)
    if args.command == "status":
        return _print(commands.status(config), args.json, commands.format_status)
    if args.command == "hits":
        since = time.time() - _duration(args.since, "--since")
        rows = history.hits(config, since, args.profile)
        return _print(rows, args.json, lambda d: history.format_hits(d, config.settings.tz))
    if args.command == "explain":
        data = asyncio.run(commands.explain(config, args.profile, args.source,
                                            article=not args.no_article))
        return _print(data, args.json, commands.format_explain)
    if args.command == "backtest":
        since = time.time() - _duration(args.since, "--since")
        data = history.backtest(config, args.query, since, inline=args.inline,
                                 progress=_progress(args))
        return _print(data, args.json, lambda d: history.format_backtest(d, config.settings.tz))
    raise AssertionError(args.command)


def _duration(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _print(data: T, as_json: bool, fmt: Callable[[T], str]) -> int:
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print(fmt(data))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
