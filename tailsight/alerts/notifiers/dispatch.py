"""Deliver one alert to every notifier at once, each with its own retries and timeouts.

Each target runs as its own task: a target that refuses, hangs or keeps failing only
delays itself. Every attempt becomes a :class:`~tailsight.alerts.model.Delivery`, handed
to ``on_delivery`` the moment it ends, so the caller can persist it (and show it in
``GET /api/v1/alerts``) while slower targets are still trying.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from tailsight.alerts.model import Alert, Delivery
from tailsight.alerts.notifiers.base import Notifier, NotifyError

log = logging.getLogger(__name__)

OnDelivery = Callable[[Delivery], Awaitable[None] | None]
MAX_RETRY_AFTER_S = 60.0  # a target's Retry-After is honoured up to this


async def _attempt(notifier: Notifier, alert: Alert, timeout_s: float) -> NotifyError | None:
    """One try: ``None`` when the target took the alert, else why not."""
    try:
        await asyncio.wait_for(notifier.notify(alert), timeout_s)
    except NotifyError as exc:
        return exc
    except TimeoutError:
        return NotifyError(f"no answer within {timeout_s:g} s", retryable=True)
    except Exception as exc:  # a notifier's bug must not stop the other targets
        log.error("notifier %s failed unexpectedly: %s", notifier.name, type(exc).__name__)
        return NotifyError(f"internal error: {type(exc).__name__}", retryable=False)
    return None


async def _record(delivery: Delivery, sink: list[Delivery], on_delivery: OnDelivery | None) -> None:
    sink.append(delivery)
    if on_delivery is None:
        return
    try:
        result = on_delivery(delivery)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("on_delivery failed for %s attempt %d", delivery.notifier, delivery.attempt)


async def _deliver_one(
    alert: Alert,
    notifier: Notifier,
    *,
    attempts: int,
    backoff_s: float,
    timeout_s: float,
    sink: list[Delivery],
    on_delivery: OnDelivery | None,
) -> None:
    for attempt in range(1, attempts + 1):
        error = await _attempt(notifier, alert, timeout_s)
        await _record(
            Delivery(
                notifier=notifier.name,
                at=datetime.now(UTC),
                ok=error is None,
                error=error.reason if error else None,
                state=alert.state,
                attempt=attempt,
            ),
            sink,
            on_delivery,
        )
        if error is None:
            return
        if not error.retryable or attempt == attempts:
            log.warning(
                "alert %s (%s) not delivered to %s after %d attempt(s): %s",
                alert.fingerprint,
                alert.state,
                notifier.name,
                attempt,
                error.reason,
            )
            return
        delay = backoff_s * 2 ** (attempt - 1)
        if error.retry_after_s is not None:
            delay = max(delay, min(error.retry_after_s, MAX_RETRY_AFTER_S))
        await asyncio.sleep(delay)


async def deliver(
    alert: Alert,
    notifiers: Sequence[Notifier],
    *,
    attempts: int = 3,
    backoff_s: float = 2.0,
    timeout_s: float = 10.0,
    on_delivery: OnDelivery | None = None,
) -> list[Delivery]:
    """Send ``alert`` (its firing or resolved form) to every notifier concurrently.

    Each notifier gets up to ``attempts`` tries, ``timeout_s`` each; after a retryable
    failure it waits ``backoff_s``, then twice that, and so on (longer when the target
    sent Retry-After). ``on_delivery`` (plain or async) gets each attempt as it ends.

    Returns:
        Every attempt of every notifier, in the order they ended.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    deliveries: list[Delivery] = []
    async with asyncio.TaskGroup() as group:
        for notifier in notifiers:
            group.create_task(
                _deliver_one(
                    alert,
                    notifier,
                    attempts=attempts,
                    backoff_s=backoff_s,
                    timeout_s=timeout_s,
                    sink=deliveries,
                    on_delivery=on_delivery,
                ),
                name=f"notify:{notifier.name}",
            )
    return deliveries
