"""Who may see the dashboard, and the headers every answer carries.

Without a token the dashboard listens on loopback only (`check_listen` refuses anything
else). With one, a request passes with `Authorization: Bearer TOKEN` or with the session
cookie that `/login?token=TOKEN` sets; the cookie holds an HMAC of the token, never the
token. Comparisons are constant-time (hmac.compare_digest).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from watcher.errors import ConfigError

COOKIE = "watcher_session"
OPEN_PATHS = ("/login",)
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self';"
                               " img-src 'self'; connect-src 'self'; form-action 'self';"
                               " base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(host: str, token: str | None, where: str) -> None:
    """Refuse to serve beyond this machine without a token (ConfigError: exit 2)."""
    if not token and not is_loopback(host):
        raise ConfigError(f"{where}: the dashboard would listen on {host}, beyond this "
                          "machine, without a token: set [web] token (e.g. "
                          '"${WATCHER_WEB_TOKEN}") or listen on 127.0.0.1')


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"watcher web session", hashlib.sha256).hexdigest()


def token_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and token_matches(given.strip(), token):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), session_value(token).encode())


class Guard:
    """ASGI middleware: the security headers on every answer; 401 without the token."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                            if k.encode() not in present]
                message = {**message, "headers": headers}
            await send(message)

        path = str(scope.get("path", ""))
        if self.token and path not in OPEN_PATHS \
                and not authorised(Request(scope), self.token):
            answer = PlainTextResponse(
                "401 Unauthorized: send Authorization: Bearer TOKEN, or open /login?token=TOKEN"
                " once in this browser\n", status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="watcher"'})
            await answer(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
