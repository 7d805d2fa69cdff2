"""Names vulture (.ci/run) cannot see used: called by a framework, a protocol or a test runner.

Anything not listed here that vulture reports is dead code: remove it, don't list it.
"""
# ruff: noqa
# mypy: ignore-errors

# pydantic: model settings and field validators
model_config
_._check_interval
_._check_duration
_._check_tz
_._check_url
_._check_digest
_._check_quiet
_._check_listen

# html.parser.HTMLParser callbacks (dedup, query.normalize)
_.handle_starttag
_.handle_endtag
_.handle_data

# expat callbacks (parse.py)
_.StartElementHandler
_.EndElementHandler
_.namespace_prefixes

# http.server / socketserver hooks (metrics, the local test servers)
daemon_threads
allow_reuse_address
block_on_close
protocol_version
_.log_message
_.do_GET
_.close_connection

# aiosmtpd handler hooks and their signature (tests/servers/smtp.py)
_.handle_RCPT
_.handle_DATA
session
rcpt_options
mechanism

# __exit__ / __aexit__ signatures
exc_type
tb

# logging.Formatter override and its signature (logs.py)
_.formatTime
datefmt

# uvicorn.Server overrides (web/server.py)
_.capture_signals
_.should_exit

# chart fields read by the web page templates (web/charts.py)
colour
points
plot_width
plot_height

# sqlite3 connection setting
_.row_factory

# mypy checks here that both store engines satisfy the Store protocol
_both_are_stores

# pytest: module marks and autouse fixtures
pytestmark
_no_network
_slow_marker_guard
_quiet_pg_server
pg_dsn

# recorded by the local Slack server for tests to read when they need it
method


# keys of the NewItem TypedDict (store/base.py), read as item["..."] by store/sql.py
published_at
seen_at
article_outcome
