"""A Slack message through an incoming webhook: Block Kit blocks and the ``text`` fallback.

The first line names service, severity and culprit, as an on-call engineer reads it on a
phone's lock screen (the ``text`` fallback is what notifications show). Firing and
resolved are separate messages: an incoming webhook cannot edit what it posted. Texts are
cut to Block Kit's limits (header 150, section 3000, field 2000, button 75, URL 3000
characters) so a long summary never gets the whole message rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tailsight.alerts.model import Alert
from tailsight.alerts.notifiers._http import post_json
from tailsight.alerts.notifiers.base import NotifierSpec, headline, public_url, url_secrets
from tailsight.model import iso

KEYS = frozenset({"webhook_url"})
HEADER_MAX = 150
SECTION_MAX = 3000
FIELD_MAX = 2000
BUTTON_TEXT_MAX = 75
URL_MAX = 3000
TEXT_MAX = 4000  # Slack truncates a message's text past 40,000; a page needs far less


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: only ``&``, ``<`` and ``>`` are special."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _linkable(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(url) <= URL_MAX


def slack_message(alert: Alert, *, now: datetime) -> dict[str, Any]:
    """The webhook body: ``text`` fallback and ``blocks``."""
    resolved = alert.state == "resolved"
    cause = alert.root_cause
    culprit = cause.culprit if cause else "unknown"
    icon = ":white_check_mark:" if resolved else ":rotating_light:"
    title = f"{'Resolved' if resolved else 'Firing'} · {alert.severity} · {alert.service}"
    fields = [
        f"*Service*\n{escape(alert.service)}",
        f"*Severity*\n{escape(alert.severity)}",
        f"*Culprit*\n`{escape(culprit)}`",
        f"*Cause*\n{escape(cause.kind) if cause else 'not found'}",
    ]
    if alert.slo:
        fields.append(f"*SLO*\n{escape(alert.slo)}")
    started = iso(alert.starts_at)
    fields.append(f"*Started*\n{started}")
    if resolved:
        fields.append(f"*Resolved*\n{iso(alert.ends_at or now)}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(title, HEADER_MAX)}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": cut(f"{icon} *{escape(alert.summary)}*", SECTION_MAX),
            },
        },
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": cut(f, FIELD_MAX)} for f in fields],
        },
    ]
    if cause is not None and not resolved:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": cut(f"*Root cause:* {escape(cause.summary)}", SECTION_MAX),
                },
            }
        )
    if _linkable(alert.url):
        label = "Open incident" if "/incidents/" in alert.url else "Open in tailsight"
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": cut(label, BUTTON_TEXT_MAX)},
                        "url": alert.url,
                        "action_id": "open",
                    }
                ],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"tailsight · {escape(alert.name)} · `{alert.fingerprint}`",
                }
            ],
        }
    )
    # The fallback is mrkdwn too: escaped, the link in Slack's <url|label> form.
    text = escape(headline(alert))
    if _linkable(alert.url):
        text = cut(text, TEXT_MAX - len(alert.url) - 10) + f" <{alert.url}|open>"
    return {"text": cut(text, TEXT_MAX), "blocks": blocks}


class SlackNotifier:
    """Posts to one Slack incoming webhook (its URL is the secret)."""

    def __init__(self, name: str, webhook_url: str) -> None:
        self.name = name
        self._url = webhook_url
        self._secrets = url_secrets(webhook_url)

    def __repr__(self) -> str:
        return f"SlackNotifier(name={self.name!r}, webhook_url={public_url(self._url)!r})"

    async def notify(self, alert: Alert) -> None:
        await post_json(
            self._url, slack_message(alert, now=datetime.now(UTC)), secrets=self._secrets
        )


def from_spec(spec: NotifierSpec) -> SlackNotifier:
    spec.check_keys(KEYS)
    return SlackNotifier(spec.name, spec.http_url("webhook_url"))
