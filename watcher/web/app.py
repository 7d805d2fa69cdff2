"""The dashboard's Starlette app: one handler per page, each a read of the store and a template.

    app = build_app(lambda: config, StoreReader(config.state), token)

Handlers read the store through the StoreReader (its own connection, on its own thread)
and turn the rows into page values with pages.py; Jinja2 renders them with autoescape on.
The query tester answers htmx requests (HX-Request) with the results fragment only, and
plain GET and POST forms with the whole page, so it works without JavaScript too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from watcher.commands import feed_status
from watcher.config import Config
from watcher.errors import WatcherError
from watcher.store import Store
from watcher.store.reports import DAY, AlertFilter, Reports
from watcher.timeparse import parse_duration
from watcher.web import pages
from watcher.web.auth import COOKIE, Guard, session_value, token_matches
from watcher.web.reader import StoreReader
from watcher.web.scan import Folds, candidates
from watcher.web.tester import TesterResult, plan_of, run_tester

ALERTS_PER_PAGE = 100
FEEDS_PER_PAGE = 200
PERIODS = ("24h", "7d", "30d", "90d")
NAV = (("/", "Overview"), ("/alerts", "Alerts"), ("/feeds", "Feeds"), ("/profiles", "Profiles"),
       ("/tester", "Query tester"))


def _env() -> Environment:
    env = Environment(loader=PackageLoader("watcher.web", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      auto_reload=False)
    env.globals["nav"] = NAV
    env.globals["qs"] = _qs
    return env


def _page_number(text: str) -> int:
    return max(1, min(int(text), 10**6)) if text.strip().isdigit() else 1


def _qs(params: Mapping[str, Any], **changes: Any) -> str:
    """A query string: `params` with `changes` applied, empty values left out."""
    merged = {**params, **changes}
    return "?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})


class Dashboard:
    """The pages. `config` is called per request: the daemon's reloaded config shows at once."""

    def __init__(self, config: Callable[[], Config], reader: StoreReader,
                 token: str | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.reader = reader
        self.token = token or None
        self.clock = clock
        self.env = _env()
        self.folds = Folds()   # the tester's memo (used on the store's thread only)

    def _page(self, request: Request, name: str, status: int = 200, **values: Any) -> Response:
        html = self.env.get_template(name).render(path=request.url.path, **values)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    def _clock(self, config: Config) -> pages.Clock:
        return pages.Clock(self.clock(), config.settings.tz)

    # -- pages ----------------------------------------------------------------------------
    async def overview(self, request: Request) -> Response:
        config = self.config()
        clock = self._clock(config)
        origin, labels = clock.days()

        def read(store: Store, reports: Reports) -> dict[str, Any]:
            return {"alert_days": reports.alert_days(origin, len(labels)),
                    "feeds": store.feeds(), "arrivals": reports.arrivals(),
                    "records": store.health_records(), "outbox": reports.outbox(),
                    "daemons": store.daemons(), "leases": store.feed_leases()}

        data = await self.reader.read(read)
        states = {f.url: f for f in data["feeds"]}
        health = pages.feed_health(config, states, data["arrivals"], data["records"],
                                   clock.now)
        live = [(owner, until) for owner, until in data["leases"].values() if until > clock.now]
        daemons = [{"owner": d["owner"], "info": d["info"], "heartbeat": clock.ago(
                        float(str(d["last_heartbeat"]))), "claims": sum(
                        1 for owner, _ in live if owner == d["owner"])} for d in data["daemons"]]
        return self._page(request, "overview.html", title="Overview",
                          chart=pages.alerts_chart(config, data["alert_days"], labels),
                          health=pages.health_counts(health),
                          outbox=pages.outbox_rows(config, data["outbox"]), daemons=daemons)

    async def alerts(self, request: Request) -> Response:
        config = self.config()
        clock = self._clock(config)
        params = {k: request.query_params.get(k, "").strip()
                  for k in ("profile", "channel", "feed", "date", "page")}
        problem, since = None, None
        if params["date"]:
            try:
                since = clock.day_start(params["date"])
            except ValueError:
                problem = f"date: {params['date']!r} is not a date (use YYYY-MM-DD)"
        page = _page_number(params["page"])
        where = AlertFilter(profile=params["profile"] or None, channel=params["channel"] or None,
                            feed_url=params["feed"] or None, since=since,
                            until=None if since is None else since + DAY)

        def read(store: Store, reports: Reports) -> dict[str, Any]:
            rows = [] if problem else reports.alerts(where, ALERTS_PER_PAGE + 1,
                                                      (page - 1) * ALERTS_PER_PAGE)
            stories = [r.row.story_id for r in rows if r.row.story_id is not None]
            return {"rows": rows, "outlets": reports.outlets(stories)}

        data = await self.reader.read(read)
        rows = data["rows"]
        return self._page(
            request, "alerts.html", status=400 if problem else 200, title="Alerts",
            problem=problem, params=params, page=page, more=len(rows) > ALERTS_PER_PAGE,
            alerts=pages.alert_rows(rows[:ALERTS_PER_PAGE], data["outlets"], clock),
            profiles=[p.name for p in config.profiles],
            channels=sorted(set(config.channels) | {r.row.channel for r in rows}
                            | ({params["channel"]} if params["channel"] else set())),
            feeds=[(f.url, f.label) for f in config.feeds])

    async def feeds(self, request: Request) -> Response:
        config = self.config()
        clock = self._clock(config)
        origin, labels = clock.days()
        sort = request.query_params.get("sort", "feed")
        sort = sort if sort in pages.SORTS else "feed"
        descending = request.query_params.get("dir", "asc") == "desc"
        page = _page_number(request.query_params.get("page", ""))

        def read(store: Store, reports: Reports) -> dict[str, Any]:
            feeds = store.feeds()
            return {"status": feed_status(config, feeds, store.feed_leases(), clock.now),
                    "feeds": feeds, "item_days": reports.item_days(origin, len(labels)),
                    "arrivals": reports.arrivals(), "records": store.health_records()}

        data = await self.reader.read(read)
        states = {f.url: f for f in data["feeds"]}
        health = pages.feed_health(config, states, data["arrivals"], data["records"],
                                   clock.now)
        rows = pages.feed_rows(data["status"], health, data["item_days"], clock, sort,
                               descending, FEEDS_PER_PAGE * (page - 1), FEEDS_PER_PAGE)
        return self._page(request, "feeds.html", title="Feeds", rows=rows, sort=sort,
                          descending=descending, sorts=pages.SORTS, first_day=labels[0],
                          page=page, more=len(data["status"]) > FEEDS_PER_PAGE * page,
                          total=len(data["status"]),
                          params={"sort": sort, "dir": "desc" if descending else "asc"})

    async def profiles(self, request: Request) -> Response:
        config = self.config()
        clock = self._clock(config)
        origin, labels = clock.days()

        def read(store: Store, reports: Reports) -> dict[str, Any]:
            return {"alert_days": reports.alert_days(origin, len(labels)),
                    "last": reports.last_hits()}

        data = await self.reader.read(read)
        return self._page(request, "profiles.html", title="Profiles", first_day=labels[0],
                          rows=pages.profile_rows(config, data["alert_days"], data["last"],
                                                  clock), aliases=dict(config.aliases))

    async def tester(self, request: Request) -> Response:
        config = self.config()
        clock = self._clock(config)
        form: Mapping[str, Any] = (await request.form() if request.method == "POST"
                                   else request.query_params)
        query = str(form.get("q", "")).strip()
        period = str(form.get("period", "7d")).strip() or "7d"
        values: dict[str, Any] = {"query": query, "period": period, "periods": PERIODS,
                                  "result": None, "problem": None, "seconds": None,
                                  "when": clock.when, "profiles": config.profiles}
        try:
            span = parse_duration(period)
        except ValueError as exc:
            values["problem"] = f"period: {exc}"
            span = 0.0
        if query and not values["problem"]:
            aliases = dict(config.aliases)
            started = time.perf_counter()
            values["result"] = await self.reader.read(
                lambda store, reports: query_tester(reports, query, aliases, clock.now - span,
                                                    self.folds))
            values["seconds"] = time.perf_counter() - started
        status = 400 if values["problem"] or (values["result"] and values["result"].problem) \
            else 200
        if request.headers.get("hx-request") == "true":
            return self._page(request, "_tester_results.html", status=200, **values)
        return self._page(request, "tester.html", status=status, title="Query tester", **values)

    async def login(self, request: Request) -> Response:
        given = request.query_params.get("token", "")
        if self.token is None:
            return RedirectResponse("/", status_code=303)
        if not given:
            return self._page(request, "login.html", title="Sign in", failed=False)
        if not token_matches(given, self.token):
            return self._page(request, "login.html", status=401, title="Sign in", failed=True)
        answer = RedirectResponse("/", status_code=303)
        answer.set_cookie(COOKIE, session_value(self.token), httponly=True, samesite="strict",
                          secure=request.url.scheme == "https", path="/")
        return answer


def query_tester(reports: Reports, query: str, aliases: Mapping[str, Sequence[str]],
                 since: float, folds: Folds | None = None) -> TesterResult:
    """The tester over the items seen since then: the literal scan picks the candidates,
    the matcher decides (every item in full when the scan cannot help)."""
    plan = plan_of(query, aliases)
    if plan is not None:
        scanned, ids = 0, []
        for count, text in reports.search_texts(since, plan.fields):
            got = candidates(text, count, plan, folds)
            if got is None:
                break
            scanned += count
            ids += got
        else:
            return run_tester(query, aliases, reports.items_by_id(ids), scanned_before=scanned)
    return run_tester(query, aliases, reports.items_since(since))


async def _store_failed(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"503 Service Unavailable: {exc}\n", status_code=503)


def build_app(config: Callable[[], Config], reader: StoreReader, token: str | None = None,
              clock: Callable[[], float] = time.time) -> Starlette:
    board = Dashboard(config, reader, token, clock)
    routes = [
        Route("/", board.overview), Route("/alerts", board.alerts), Route("/feeds", board.feeds),
        Route("/profiles", board.profiles),
        Route("/tester", board.tester, methods=["GET", "POST"]),
        Route("/login", board.login),
        Mount("/static", StaticFiles(packages=[("watcher.web", "static")]), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(Guard, token=board.token)],
                     exception_handlers={WatcherError: _store_failed})
