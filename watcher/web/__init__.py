"""The web dashboard (`watcher web`, `watcher run --web`): read-only pages over the store.

    app.py      Starlette app: one handler per page (overview, alerts, feeds, profiles, tester)
    auth.py     loopback-or-token rule, Bearer token and session cookie, security headers
    charts.py   SVG chart geometry (pure)
    pages.py    store rows → page values (pure)
    tester.py   the query tester over stored items (pure)
    scan.py     the tester's first pass: items that could match, from literals (pure)
    reader.py   the dashboard's own store connection, on one thread
    server.py   uvicorn, alone or on a thread beside the daemon
    templates/  Jinja2 (autoescape on), static/ (vendored htmx, CSS)
"""
