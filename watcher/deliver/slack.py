"""Slack channel: render alerts as Block Kit messages (pure) and post them (I/O).

Escaping. Feed text reaches Slack as text, never as markup: `&`, `<`, `>`
become `&amp;`, `&lt;`, `&gt;` (so `<!channel>`, `<@U123>` and `<url|label>`
cannot form), control characters are removed, and the mrkdwn markers
`* _ ~ `` ` are replaced by look-alike characters (∗ ˍ ∼ ˋ). Slack has no
backslash escape, and a zero-width-joiner trick depends on client
versions; look-alikes always render, read the same, and cannot open a bold
or code span that swallows the rest of the message. (Copying a title from
Slack therefore gives "∗" for "*"; we accept that.) Emoji codes (`:x:`) are
left alone: they cannot mention or link anyone.

Limits. Slack rejects more than 50 blocks, 3,000 characters in a section or
(undocumented) about 13,200 characters of blocks in all, and truncates text
past 40,000 characters; renderers trim to stay inside (blocks to 12,000
characters, message text to 4,000, Slack's advice), and trimming never cuts an
escape (`&amp;`), a link (`<url|label>`) or a bold span in half.

Sending. `SlackSender` uses slack_sdk's sync `WebClient` (bot token:
threads work) or `WebhookClient` (incoming webhook: no threads, replies go
out as plain messages). slack_sdk's own retries are switched off
(`retry_handlers=[]`): the outbox owns retrying and back-off, so one send is
one HTTP request, and errors are translated to Transient/Permanent
DeliveryError here. Secrets (token, webhook URL) never appear in messages.
"""

from __future__ import annotations

import http.client
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError
from zoneinfo import ZoneInfo

from watcher.deliver.text import (
    clean,
    format_time,
    snippet_parts,
    snippet_source,
    terms_label,
    trim,
    web_link,
)
from watcher.errors import PermanentDeliveryError, TransientDeliveryError
from watcher.models import Alert

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
# Undocumented: Slack answers msg_blocks_too_long past about 13,200 characters of
# blocks in all (slackapi/bolt-js#2509); keep well under it.
BLOCKS_TEXT_LIMIT = 12_000
TEXT_LIMIT = 4000  # Slack truncates at 40,000 and advises at most 4,000
TITLE_LIMIT = 300
LINE_LIMIT = 1000
_LOOKALIKES = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})
_ZWSP = "\u200b"  # lets a bold span start or end inside a word


@dataclass(frozen=True)
class SlackMessage:
    """What one chat.postMessage carries."""

    text: str                      # plain-text fallback (notifications), always sent
    blocks: list[dict[str, Any]]   # Block Kit


def escape_mrkdwn(text: str) -> str:
    """Feed text made inert for mrkdwn: controls stripped, & < > escaped, markers swapped."""
    return _inert(clean(text))


def _inert(text: str) -> str:
    """Already-cleaned text made inert for mrkdwn (white space at the ends kept)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.translate(_LOOKALIKES)


def trim_mrkdwn(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a point outside any escape, link or bold span."""
    if len(text) <= limit:
        return text
    budget = limit - 1  # room for the ellipsis
    safe, i, in_bold = 0, 0, False
    while i < len(text):
        c = text[i]
        if c == "<":
            j = text.find(">", i)
            end = len(text) if j == -1 else j + 1
        elif c == "&":
            j = text.find(";", i, i + 8)
            end = i + 1 if j == -1 else j + 1
        else:
            end = i + 1
            if c == "*":
                in_bold = not in_bold
        if end > budget:
            break
        i = end
        if not in_bold:
            safe = i
    return text[:safe].rstrip() + "…"


def mrkdwn_link(url: str, label: str) -> str:
    """`<url|label>` for an http(s) URL (label escaped here); the label alone otherwise."""
    label = escape_mrkdwn(label) or "(untitled)"
    href = web_link(url)
    if href is None:
        return label
    href = href.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E")
    return f"<{href.replace('|', '%7C')}|{label}>"


def _title_link(alert: Alert) -> str:
    return mrkdwn_link(alert.link, trim(clean(alert.title), TITLE_LIMIT))


def _section(text: str) -> dict[str, Any]:
    return {"type": "section",
            "text": {"type": "mrkdwn", "text": trim_mrkdwn(text, SECTION_LIMIT) or "…"}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context",
            "elements": [{"type": "mrkdwn", "text": trim_mrkdwn(text, SECTION_LIMIT) or "…"}]}


def _message(text: str, blocks: list[dict[str, Any]]) -> SlackMessage:
    return SlackMessage(text=trim_mrkdwn(text, TEXT_LIMIT) or "watcher", blocks=blocks)


def _profiles(alert: Alert) -> str:
    return ", ".join(escape_mrkdwn(p) for p in alert.profiles) or "watcher"


def _snippet(alert: Alert) -> str:
    out = []
    for text, bold in snippet_parts(alert.snippet):
        text = _inert(text)
        out.append(f"{_ZWSP}*{text}*{_ZWSP}" if bold else text)
    source = snippet_source(alert.snippet)
    return (f"_{source}:_ " if source and out else "") + "".join(out)


def render_alert(alert: Alert, tz: ZoneInfo) -> SlackMessage:
    """One story: profiles, linked title, feed and time, snippet, matched terms."""
    title = _title_link(alert)
    feed = escape_mrkdwn(alert.feed)
    if alert.kind == "test":
        head = ":test_tube: *TEST ALERT* from watcher: not a real hit, no action needed"
        fallback = f"[TEST] watcher test alert: {title}"
    elif alert.kind in ("health", "recovered"):   # a feed or the network, down or back
        icon = ":white_check_mark:" if alert.kind == "recovered" else ":warning:"
        head = f"{icon} *watcher health*"
        fallback = f"[watcher health] {escape_mrkdwn(alert.title)}"
    else:
        head = f"*{_profiles(alert)}*" + (" (update)" if alert.kind == "update" else "")
        fallback = f"{_profiles(alert)}: {title}" + (" (update)" if alert.kind == "update" else "")
    when = format_time(alert.published, tz)
    blocks = [_section(f"{head}\n*{title}*"),
              _context(" · ".join(x for x in (feed, when) if x) or "unknown feed")]
    snippet = _snippet(alert)
    if snippet:
        blocks.append(_section(snippet))
    if alert.terms:
        blocks.append(_context("matched: " + escape_mrkdwn(terms_label(alert.terms))))
    return _message(f"{fallback} ({feed})" if feed else fallback, blocks)


def render_reply(alert: Alert, tz: ZoneInfo) -> SlackMessage:
    """A thread reply: another outlet's copy ("also") or a changed title ("edit")."""
    title = _title_link(alert)
    if alert.kind == "also":
        text = f"also reported by {escape_mrkdwn(alert.feed) or 'another feed'}: {title}"
    elif alert.kind == "edit":
        text = f"title changed: {title}"
    else:
        text = f"{_profiles(alert)}: {title}"
    when = format_time(alert.published, tz)
    blocks = [_section(text)] + ([_context(when)] if when else [])
    return _message(text, blocks)


def _pack(head: list[dict[str, Any]], groups: Sequence[tuple[str, Sequence[str]]],
          ) -> list[dict[str, Any]]:
    """`head`, then each group's heading and lines in sections within Slack's limits
    (blocks, characters per section, characters in all); a final note counts the
    lines that did not fit."""
    budget = MAX_BLOCKS - len(head) - 1  # one block kept for the "more" note
    chars = BLOCKS_TEXT_LIMIT - sum(len(str(b)) for b in head) - 200
    sections: list[str] = []
    total = sum(len(lines) for _, lines in groups)
    used, shown, full, dangling = 0, 0, False, False
    for heading, lines in groups:
        entries = [(heading, True)] if heading else []
        entries += [(trim_mrkdwn(line, LINE_LIMIT), False) for line in lines]
        for text, is_heading in entries:
            fresh = (not sections or is_heading
                     or len(sections[-1]) + 1 + len(text) > SECTION_LIMIT)
            if used + len(text) + 1 > chars or (fresh and len(sections) >= budget):
                full = True
                break
            if fresh:
                sections.append(text)
            else:
                sections[-1] += "\n" + text
            used += len(text) + 1
            shown += 0 if is_heading else 1
            dangling = is_heading
        if full:
            break
    if dangling:  # a group heading with none of its lines
        sections.pop()
    blocks = head + [_section(s) for s in sections]
    if shown < total:
        blocks.append(_context(f"…and {total - shown} more not shown here"))
    return blocks


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def render_summary(alerts: Sequence[Alert], tz: ZoneInfo) -> SlackMessage:
    """Flood control: one message listing a burst of alerts."""
    heading = f"{_plural(len(alerts), 'new alert')}"
    lines = [f"• {_title_link(a)} ({_profiles(a)} · {escape_mrkdwn(a.feed)})" for a in alerts]
    blocks = _pack([_section(f"*{heading}*")], [("", lines)])
    titles = "; ".join(escape_mrkdwn(trim(clean(a.title), 200)) for a in alerts)
    return _message(f"{heading}: {titles}", blocks)


def _by_profile(alerts: Sequence[Alert]) -> dict[str, list[Alert]]:
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        for profile in alert.profiles or ("watcher",):
            groups.setdefault(profile, []).append(alert)
    return groups


def render_digest(alerts: Sequence[Alert], tz: ZoneInfo, *, heading: str) -> SlackMessage:
    """One message with every alert of a digest period, grouped by profile (an alert
    matching several profiles is listed under each)."""
    title = f"{escape_mrkdwn(heading)}: {_plural(len(alerts), 'alert')}"
    groups = []
    for profile, items in _by_profile(alerts).items():
        lines = []
        for a in items:
            when = format_time(a.published, tz)
            meta = " · ".join(x for x in (escape_mrkdwn(a.feed), when) if x)
            lines.append(f"• {_title_link(a)}" + (f" ({meta})" if meta else ""))
        groups.append((f"*{escape_mrkdwn(profile)}* ({len(items)})", lines))
    head = [_section(f"*{title}*" if alerts else f"*{title}*\nNo new alerts.")]
    counts = ", ".join(f"{escape_mrkdwn(p)}: {len(v)}" for p, v in _by_profile(alerts).items())
    return _message(f"{title}" + (f" ({counts})" if counts else ""), _pack(head, groups))


# --- sending --------------------------------------------------------------------

_FIX: dict[str, str] = {
    "invalid_auth": "Slack rejected the token: set a valid bot token (xoxb-...)",
    "not_authed": "no token reached Slack: set the channel's token",
    "token_revoked": "the token was revoked: reinstall the Slack app and set the new token",
    "token_expired": "the token expired: set a new bot token",
    "account_inactive": "the bot's account is deactivated: reinstall the app, set a new token",
    "missing_scope": "the token lacks the chat:write scope: add it to the app and reinstall",
    "channel_not_found": "the bot cannot see channel {channel}: check its name or ID; "
                         "for a private channel invite the bot",
    "not_in_channel": "the bot is not in {channel}: invite it (/invite @bot in {channel})",
    "is_archived": "channel {channel} is archived: unarchive it or choose another channel",
    "channel_is_archived": "the webhook's channel is archived: create a new webhook",
    "restricted_action": "the workspace does not let the bot post in {channel}: ask an admin",
    "invalid_token": "Slack rejected the webhook URL: create a new incoming webhook",
    "no_service": "the incoming webhook was removed: create a new one, set webhook_url",
    "no_active_hooks": "the incoming webhook is disabled: enable it or create a new one",
    "action_prohibited": "an admin blocked this webhook: ask a workspace admin",
    "team_disabled": "the Slack workspace is disabled",
}
# The message itself was refused: send it again as plain text before giving up.
_MESSAGE_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long",
                             "msg_blocks_too_long",
                             "invalid_payload", "no_text", "too_many_attachments"})
_NETWORK_ERRORS = (URLError, OSError, http.client.HTTPException, TimeoutError)


class _Refused(Exception):
    """Slack refused this message's content (internal: triggers the text-only retry)."""


def _retry_after(headers: Any) -> float | None:
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:  # an HTTP date: Slack sends seconds, so let the outbox decide
        return None


class SlackSender:
    """Posts SlackMessages to one channel, by bot token (threads) or incoming webhook."""

    def __init__(self, *, channel: str, token: str | None = None, webhook_url: str | None = None,
                 api_url: str | None = None, timeout: float = 10.0,
                 unfurl_links: bool = False) -> None:
        # Imported here so the pure renderers above load without slack_sdk.
        from slack_sdk import WebClient
        from slack_sdk.webhook import WebhookClient

        if not token and not webhook_url:
            raise ValueError("a Slack channel needs a token or a webhook_url")
        self.channel = channel
        self.unfurl_links = unfurl_links
        self._secrets = [s for s in (token, webhook_url) if s]
        seconds = max(1, math.ceil(timeout))  # slack_sdk takes whole seconds
        self._client: WebClient | None = None
        self._webhook: WebhookClient | None = None
        if token:  # a token wins when both are set: it can thread replies
            base = (api_url or "https://slack.com/api/").rstrip("/") + "/"
            self._client = WebClient(token=token, base_url=base, timeout=seconds,
                                     retry_handlers=[])
        else:
            assert webhook_url is not None
            self._webhook = WebhookClient(webhook_url, timeout=seconds, retry_handlers=[])

    @property
    def threads(self) -> bool:
        """True when replies can go into a thread (bot-token mode)."""
        return self._client is not None

    def send(self, message: SlackMessage, *, thread_ts: str | None = None) -> str | None:
        """Post `message` (as a reply in `thread_ts` when threads work); the new
        message's ts in bot mode, None for a webhook. A message whose blocks Slack
        refuses is sent once more as plain text."""
        try:
            return self._post(message.text, message.blocks, thread_ts)
        except _Refused:
            try:
                return self._post(trim(message.text, TEXT_LIMIT), None, thread_ts)
            except _Refused as exc:
                raise PermanentDeliveryError(
                    self._say(f"Slack refused the message ({exc}); please report this watcher bug")
                ) from None

    def auth_test(self) -> str:
        """Check the credentials: "team X as user Y" (webhooks have no check)."""
        if self._client is None:
            return "webhook (no threads, no auth.test)"
        with self._translated():
            data = self._client.auth_test().data
        info = data if isinstance(data, dict) else {}
        return f"team {info.get('team', '?')} as user {info.get('user', '?')}"

    def _post(self, text: str, blocks: list[dict[str, Any]] | None,
              thread_ts: str | None) -> str | None:
        with self._translated():
            if self._client is not None:
                resp = self._client.chat_postMessage(
                    channel=self.channel, text=text, blocks=blocks, thread_ts=thread_ts,
                    unfurl_links=self.unfurl_links, unfurl_media=self.unfurl_links)
                ts = resp.get("ts")
                return str(ts) if ts is not None else None
            assert self._webhook is not None
            hook = self._webhook.send(text=text, blocks=blocks)
        if hook.status_code == 200:
            return None
        raise self._api_error(hook.status_code, {"error": (hook.body or "").strip()[:100]},
                              hook.headers)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """slack_sdk and network errors, as DeliveryErrors."""
        from slack_sdk.errors import SlackApiError, SlackRequestError

        try:
            yield
        except SlackApiError as exc:
            raise self._api_error(exc.response.status_code, exc.response.data,
                                  exc.response.headers) from None
        except SlackRequestError as exc:
            raise PermanentDeliveryError(self._say(f"bad Slack URL: {exc}")) from None
        except _NETWORK_ERRORS as exc:
            raise TransientDeliveryError(self._say(f"Slack unreachable: {exc}")) from None

    def _api_error(self, status: int, data: Any, headers: Any) -> Exception:
        error = clean(str(data.get("error", "")))[:100] if isinstance(data, dict) else ""
        if status == 429 or error in ("ratelimited", "rate_limited"):
            return TransientDeliveryError(self._say("Slack rate limit (429)"),
                                          retry_after=_retry_after(headers))
        if status >= 500:
            return TransientDeliveryError(self._say(f"Slack server error (HTTP {status})"))
        if error in _FIX:
            fix = _FIX[error].format(channel=clean(self.channel))
            return PermanentDeliveryError(self._say(f"{fix} ({error})"))
        if error in _MESSAGE_ERRORS:
            return _Refused(error)
        return TransientDeliveryError(self._say(f"Slack error {error or status}"))

    def _say(self, text: str) -> str:
        text = f"slack {clean(self.channel)}: {text}"
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text
