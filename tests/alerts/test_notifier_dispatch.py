"""deliver(): concurrency, retries, timeouts and the record of every attempt, against real
local servers that answer slowly, wrongly or not at all."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tailsight.alerts.model import Delivery
from tailsight.alerts.notifiers import NotifyError, deliver
from tailsight.alerts.notifiers.pagerduty import PagerDutyNotifier
from tailsight.alerts.notifiers.slack import SlackNotifier
from tailsight.alerts.notifiers.webhook import WebhookNotifier
from tests.alerts.peers import HttpPeer, sample_alert
from tests.conftest import free_port

pytestmark = pytest.mark.integration

SECRET_PATH = "/services/T0/B0/s3cr3tT0k3n"


def test_a_hanging_target_never_delays_the_others(peer: HttpPeer) -> None:
    peer.hang("/slow")
    slow = WebhookNotifier("webhook:slow", peer.url + "/slow")
    fast = SlackNotifier("slack", peer.url + "/fast")
    seen: list[Delivery] = []
    out = asyncio.run(
        deliver(sample_alert(), [slow, fast], attempts=1, timeout_s=5.0, on_delivery=seen.append)
    )
    # The fast target's delivery was recorded while the slow one still hung, and the slow
    # one was then cut off by its own timeout.
    assert [(d.notifier, d.ok) for d in seen] == [("slack", True), ("webhook:slow", False)]
    assert out == seen
    assert seen[1].error == "no answer within 5 s"
    assert len(peer.on("/slow")) == 1 and len(peer.on("/fast")) == 1


def test_async_on_delivery_sees_each_attempt_as_it_ends(peer: HttpPeer) -> None:
    peer.respond("/flaky", 503, 200)
    order: list[tuple[str, int, bool]] = []

    async def persist(d: Delivery) -> None:
        await asyncio.sleep(0)
        order.append((d.notifier, d.attempt, d.ok))

    out = asyncio.run(
        deliver(
            sample_alert("resolved"),
            [WebhookNotifier("webhook", peer.url + "/flaky")],
            backoff_s=0.01,
            on_delivery=persist,
        )
    )
    assert order == [("webhook", 1, False), ("webhook", 2, True)]
    assert all(d.state == "resolved" for d in out)
    assert "HTTP 503" in (out[0].error or "")


def test_500_is_retried_with_backoff_then_recorded_failed(peer: HttpPeer) -> None:
    peer.respond("/pd", 500, body=b"internal")
    notifier = PagerDutyNotifier("pagerduty", "k" * 32, url=peer.url + "/pd")
    out = asyncio.run(deliver(sample_alert(), [notifier], attempts=3, backoff_s=0.01))
    assert [(d.attempt, d.ok) for d in out] == [(1, False), (2, False), (3, False)]
    assert all(d.error and "HTTP 500" in d.error and "internal" in d.error for d in out)
    assert len(peer.on("/pd")) == 3
    assert out[0].at <= out[1].at <= out[2].at


def test_429_is_retried(peer: HttpPeer) -> None:
    peer.respond("/s", 429, 200, headers={"Retry-After": "0"})
    out = asyncio.run(
        deliver(sample_alert(), [SlackNotifier("slack", peer.url + "/s")], backoff_s=0.01)
    )
    assert [d.ok for d in out] == [False, True]


def test_400_is_not_retried(peer: HttpPeer) -> None:
    peer.respond("/bad", 400, body=b"invalid_payload")
    out = asyncio.run(
        deliver(sample_alert(), [SlackNotifier("slack", peer.url + "/bad")], backoff_s=0.01)
    )
    assert len(out) == 1 and not out[0].ok
    assert (
        out[0].error is not None
        and "HTTP 400" in out[0].error
        and "invalid_payload" in out[0].error
    )
    assert len(peer.on("/bad")) == 1


def test_refused_connection_is_retried_and_its_error_holds_no_secret() -> None:
    url = f"http://127.0.0.1:{free_port()}{SECRET_PATH}"
    notifier = SlackNotifier("slack", url)
    with pytest.raises(NotifyError) as caught:
        asyncio.run(notifier.notify(sample_alert()))
    assert caught.value.retryable
    out = asyncio.run(deliver(sample_alert(), [notifier], attempts=2, backoff_s=0.01))
    assert [d.ok for d in out] == [False, False]
    for text in [str(caught.value), *(d.error or "" for d in out), repr(notifier)]:
        assert "s3cr3tT0k3n" not in text and SECRET_PATH not in text
    assert "127.0.0.1" in (out[0].error or "")


def test_a_notifier_raising_something_else_is_recorded_not_raised(peer: HttpPeer) -> None:
    class Broken:
        name = "broken"

        async def notify(self, alert: object) -> None:
            raise RuntimeError("bug")

    out = asyncio.run(
        deliver(sample_alert(), [Broken(), SlackNotifier("slack", peer.url + "/s")], backoff_s=0.01)
    )
    by = {d.notifier: d for d in out}
    assert by["slack"].ok
    assert not by["broken"].ok and by["broken"].error == "internal error: RuntimeError"
    assert len([d for d in out if d.notifier == "broken"]) == 1


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts"):
        asyncio.run(deliver(sample_alert(), [], attempts=0))


def test_secrets_never_reach_the_logs(peer: HttpPeer, caplog: pytest.LogCaptureFixture) -> None:
    peer.respond(SECRET_PATH, 200, 500)
    notifier = SlackNotifier("slack", peer.url + SECRET_PATH)
    with caplog.at_level(logging.DEBUG):
        asyncio.run(deliver(sample_alert(), [notifier], attempts=2, backoff_s=0.01))
        asyncio.run(deliver(sample_alert(), [notifier], attempts=2, backoff_s=0.01))
    assert "HTTP Request: POST" in caplog.text  # httpx logged each request, path hidden
    assert "not delivered to slack" in caplog.text
    assert "s3cr3tT0k3n" not in caplog.text
