"""A local Slack Web API server for tests: auth.test, chat.postMessage, an incoming webhook.

slack_sdk talks to it through `base_url=server.api_url`; webhooks post to
`server.webhook_url`. It records every request, keeps the messages it
accepted (`messages`, `wait_for`), and can be scripted to fail:

    with SlackServer(token="xoxb-test") as slack:
        slack.rate_limit_next(1, retry_after=2)   # next request: 429 + Retry-After
        slack.fail_next(2, status=500)            # then two HTTP 500s
        slack.error_next(1, "channel_not_found")  # then {"ok": false, ...}
        slack.set_error("invalid_auth")           # every request until clear_error()
        slack.set_down(True)                      # every request: 503

Messages over Slack's limits (50 blocks, 3,000 characters per text, about
13,000 characters of blocks, 40,000 of text) are refused as Slack does.
Scripted failures apply to every endpoint, in the order queued; `set_down`
wins over the queue, the queue over `set_error`. Run it by hand with
`python -m tests.servers.slack --port 8099 --token xoxb-test`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.support.waiting import DEADLINE

# What an incoming webhook answers for an error name (Slack's documented statuses).
_WEBHOOK_STATUS = {"invalid_payload": 400, "invalid_blocks": 400, "no_text": 400,
                   "invalid_token": 403, "action_prohibited": 403, "channel_not_found": 404,
                   "no_service": 404, "channel_is_archived": 410}
WEBHOOK_PATH = "/services/T000/B000/XXXXSECRET"


@dataclass
class Request:
    method: str
    path: str
    payload: dict[str, Any]
    headers: dict[str, str]
    received: float = field(default_factory=time.monotonic)  # monotonic clock


@dataclass
class _Script:
    status: int
    error: str | None = None
    retry_after: float | None = None


class SlackServer:
    """A real HTTP server on 127.0.0.1 speaking enough of Slack for watcher's tests."""

    def __init__(self, *, token: str = "xoxb-test-token", port: int = 0,
                 channels: set[str] | None = None) -> None:
        self.token = token
        self.channels = channels          # None: every channel exists
        self.requests: list[Request] = []
        self.messages: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._script: list[_Script] = []
        self._error: str | None = None
        self._down = False
        self._ts = 100
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    def start(self) -> SlackServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True, name="slack-server")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SlackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        with self._cond:
            self._script += [_Script(status) for _ in range(n)]

    def rate_limit_next(self, n: int = 1, retry_after: float = 2) -> None:
        with self._cond:
            self._script += [_Script(429, "ratelimited", retry_after) for _ in range(n)]

    def error_next(self, n: int, error: str) -> None:
        with self._cond:
            self._script += [_Script(200, error) for _ in range(n)]

    def set_error(self, error: str) -> None:
        with self._cond:
            self._error = error

    def clear_error(self) -> None:
        with self._cond:
            self._error = None

    def set_down(self, down: bool = True) -> None:
        with self._cond:
            self._down = down

    def wait_for(self, n: int, timeout: float = DEADLINE) -> list[dict[str, Any]]:
        """The accepted messages once there are at least `n`; TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.messages)} of {n} Slack messages arrived")
                self._cond.wait(left)
            return list(self.messages)

    # -- serving -----------------------------------------------------------
    def _decide(self, req: Request) -> tuple[int, dict[str, str], bytes]:
        """The (status, headers, body) to answer `req` with; records what it accepts."""
        webhook = req.path == WEBHOOK_PATH
        with self._cond:
            self.requests.append(req)
            if self._down:
                return 503, {}, b"service unavailable"
            script = self._script.pop(0) if self._script else None
            if script is None and self._error:
                script = _Script(200, self._error)
            if script is not None:
                headers = {}
                if script.retry_after is not None:
                    headers["Retry-After"] = f"{script.retry_after:g}"
                if script.error is None:
                    return script.status, headers, b"internal error"
                if webhook:
                    status = script.status if script.status != 200 else \
                        _WEBHOOK_STATUS.get(script.error, 400)
                    return status, headers, script.error.encode()
                return script.status, headers, _json({"ok": False, "error": script.error})
            problem = _limits(req.payload)
            if problem and (webhook or req.path == "/api/chat.postMessage"):
                if webhook:
                    return 400, {}, problem.encode()
                return 200, {}, _json({"ok": False, "error": problem})
            if webhook:
                self._accept(req.payload, channel=None, via="webhook")
                return 200, {}, b"ok"
            if req.path not in ("/api/auth.test", "/api/chat.postMessage"):
                return 404, {}, _json({"ok": False, "error": "unknown_method"})
            auth = req.headers.get("authorization", "")
            token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else \
                str(req.payload.get("token", ""))
            if not token:
                return 200, {}, _json({"ok": False, "error": "not_authed"})
            if token != self.token:
                return 200, {}, _json({"ok": False, "error": "invalid_auth"})
            if req.path == "/api/auth.test":
                return 200, {}, _json({"ok": True, "team": "Test Team", "user": "watcher",
                                       "team_id": "T000", "user_id": "U000"})
            channel = str(req.payload.get("channel", ""))
            if not channel or (self.channels is not None and channel not in self.channels):
                return 200, {}, _json({"ok": False, "error": "channel_not_found"})
            if not req.payload.get("text") and not req.payload.get("blocks"):
                return 200, {}, _json({"ok": False, "error": "no_text"})
            ts = self._accept(req.payload, channel=channel, via="api")
            return 200, {}, _json({"ok": True, "channel": channel, "ts": ts,
                                   "message": {"text": req.payload.get("text")}})

    def _accept(self, payload: dict[str, Any], *, channel: str | None, via: str) -> str:
        self._ts += 100
        ts = f"{1700000000 + self._ts // 1000000}.{self._ts % 1000000:06d}"
        self.messages.append({**payload, "channel": channel, "ts": ts, "via": via,
                              "thread_ts": payload.get("thread_ts")})
        self._cond.notify_all()
        return ts

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                req = Request("POST", self.path.split("?")[0], _parse(self.headers, body),
                              {k.lower(): v for k, v in self.headers.items()})
                status, headers, out = server._decide(req)
                self.send_response(status)
                ctype = "application/json" if out.startswith(b"{") else "text/plain"
                self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                self.send_header("Content-Length", str(len(out)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _texts(node: Any) -> list[str]:
    """Every "text" string inside a Block Kit structure."""
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    if isinstance(node, dict):
        out = [node["text"]] if isinstance(node.get("text"), str) else []
        return out + [t for v in node.values() if not isinstance(v, str) for t in _texts(v)]
    return []


def _limits(payload: dict[str, Any]) -> str | None:
    """The error Slack gives for a message over its limits, or None."""
    blocks = payload.get("blocks") or []
    if len(str(payload.get("text") or "")) > 40_000:
        return "msg_too_long"
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "invalid_blocks"
    texts = _texts(blocks)
    if any(len(t) > 3000 or not t for t in texts):
        return "invalid_blocks"
    if sum(map(len, texts)) > 13_000:  # observed near 13,200 (slackapi/bolt-js#2509)
        return "msg_blocks_too_long"
    return None


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def _parse(headers: Any, body: bytes) -> dict[str, Any]:
    """A JSON or form body as a dict; a form's `blocks` JSON string decoded."""
    ctype = headers.get("Content-Type", "")
    if not body:
        return {}
    if "json" in ctype:
        data = json.loads(body)
        return data if isinstance(data, dict) else {"_": data}
    form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    if isinstance(form.get("blocks"), str):
        form["blocks"] = json.loads(form["blocks"])
    return dict(form)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--token", default="xoxb-test-token")
    args = parser.parse_args()
    with SlackServer(token=args.token, port=args.port) as server:
        print(f"api_url {server.api_url}\nwebhook_url {server.webhook_url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
