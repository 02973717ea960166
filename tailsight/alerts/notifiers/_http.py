"""One JSON POST for the HTTP notifiers, its failures turned into a :class:`NotifyError`.

A fresh ``httpx.AsyncClient`` per alert: alerts are rare, so pooled connections buy
nothing, and a client bound to no event loop cannot outlive the loop that made it.
``trust_env`` stays on so ``HTTPS_PROXY``/``NO_PROXY`` reach Slack and PagerDuty.

httpx logs every request's full URL at INFO; a Slack webhook URL is the secret itself, so
its logger gets a filter that shows only scheme, host and port of any URL it logs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx

from tailsight import __version__
from tailsight.alerts.notifiers.base import NotifyError, public_url, redact

USER_AGENT = f"tailsight/{__version__}"
DEFAULT_TIMEOUT_S = 30.0  # dispatch.deliver bounds each attempt more tightly


class _HideUrlPaths(logging.Filter):
    """Rewrites the URLs in httpx's log records to their public part (no path, no query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                public_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _HideUrlPaths) for f in _httpx_log.filters):
    _httpx_log.addFilter(_HideUrlPaths())


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # an HTTP date: rare from these targets; backoff applies


async def post_json(
    url: str,
    body: Any,
    *,
    secrets: Sequence[str],
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> httpx.Response:
    """POST ``body`` as JSON; a 2xx answer is returned, anything else raises.

    Raises:
        NotifyError: connection failures, timeouts, 5xx and 429 retryable; other codes not.
    """
    shown = public_url(url)
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.post(url, json=body, headers={"User-Agent": USER_AGENT})
    except httpx.TimeoutException as exc:
        raise NotifyError(f"{shown}: timed out ({type(exc).__name__})", retryable=True) from None
    except httpx.TransportError as exc:
        detail = redact(str(exc), secrets) or type(exc).__name__
        raise NotifyError(f"{shown}: {detail}", retryable=True) from None
    if 200 <= response.status_code < 300:
        return response
    status = response.status_code
    snippet = redact(response.text[:200], secrets).strip()
    reason = f"{shown}: HTTP {status} {response.reason_phrase}" + (
        f": {snippet}" if snippet else ""
    )
    raise NotifyError(
        reason,
        retryable=status >= 500 or status == 429,
        retry_after_s=_retry_after(response) if status in (429, 503) else None,
    )
