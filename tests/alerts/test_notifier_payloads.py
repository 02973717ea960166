"""Each HTTP notifier against a real local server: the request it sends, field by field,
checked against the published format (tests/alerts/formats.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tailsight.alerts.model import Alert
from tailsight.alerts.notifiers import Notifier, build_notifiers
from tailsight.alerts.notifiers.alertmanager import AlertmanagerNotifier
from tailsight.alerts.notifiers.pagerduty import PagerDutyNotifier
from tailsight.alerts.notifiers.slack import SlackNotifier
from tailsight.alerts.notifiers.webhook import WebhookNotifier
from tests.alerts.formats import (
    check_pagerduty_event,
    check_postable_alerts,
    check_slack_message,
    check_webhook_v4,
    parse_time,
)
from tests.alerts.peers import HttpPeer, sample_alert

pytestmark = pytest.mark.integration

EXTERNAL = "http://tailsight.example:8050"


def firing_then_resolved(
    notifier: Notifier,
    peer: HttpPeer,
    path: str,
    check: Callable[[Any], None],
    firing: Alert | None = None,
) -> list[Any]:
    """Notify an alert firing, then resolved: the two bodies ``path`` got, each checked."""
    for alert in (firing or sample_alert("firing"), sample_alert("resolved")):
        asyncio.run(notifier.notify(alert))
    sent = peer.on(path)
    assert len(sent) == 2
    assert all(r.headers["content-type"] == "application/json" for r in sent)
    bodies = [r.json() for r in sent]
    for body in bodies:
        check(body)
    return bodies


def test_alertmanager_firing_then_resolved(peer: HttpPeer) -> None:
    notifier = AlertmanagerNotifier("alertmanager", peer.url + "/", valid_for_s=600)
    firing, resolved = sample_alert("firing"), sample_alert("resolved")
    before = datetime.now(UTC)
    sent = firing_then_resolved(notifier, peer, "/api/v2/alerts", check_postable_alerts, firing)
    after = datetime.now(UTC)
    [fire] = sent[0]
    assert fire["labels"] == {
        "alertname": "llm-gateway-latency:1h/5m",
        "service": "llm-gateway",
        "severity": "page",
        "slo": "llm-gateway-latency",
        "cause_kind": "thermal_throttle",
        "culprit": "gpu:node-7/3",
    }
    assert fire["annotations"] == {
        "summary": firing.summary,
        "description": firing.description,
        "url": firing.url,
    }
    assert parse_time(fire["startsAt"]) == firing.starts_at
    # Firing: endsAt is a lease in the future, as Prometheus sends it.
    assert parse_time(fire["endsAt"]) > before
    assert fire["generatorURL"] == firing.url
    [res] = sent[1]
    assert res["labels"] == fire["labels"]
    assert parse_time(res["endsAt"]) == resolved.ends_at
    assert parse_time(res["endsAt"]) <= after  # in the past: Alertmanager resolves it now
    assert notifier.resend_interval_s == 150


def test_webhook_v4_firing_then_resolved(peer: HttpPeer) -> None:
    [notifier] = build_notifiers(
        [{"type": "webhook", "name": "ops", "url": peer.url + "/hook"}], None, "x@y", EXTERNAL
    )
    firing, resolved = sample_alert("firing"), sample_alert("resolved")
    body, later = firing_then_resolved(notifier, peer, "/hook", check_webhook_v4, firing)
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "webhook:ops"
    assert body["externalURL"] == EXTERNAL
    assert body["truncatedAlerts"] == 0
    assert body["groupLabels"] == {"alertname": firing.name, "service": "llm-gateway"}
    assert body["groupKey"] == '{}:{alertname="llm-gateway-latency:1h/5m", service="llm-gateway"}'
    assert body["commonLabels"] == firing.labels
    assert body["commonAnnotations"] == firing.annotations
    [alert] = body["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"]["culprit"] == "gpu:node-7/3"
    assert alert["fingerprint"] == firing.fingerprint
    assert alert["generatorURL"] == firing.url
    assert parse_time(alert["startsAt"]) == firing.starts_at
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"  # Go's zero time, as Alertmanager sends
    assert later["status"] == "resolved"
    assert later["groupKey"] == body["groupKey"]
    assert later["alerts"][0]["status"] == "resolved"
    assert parse_time(later["alerts"][0]["endsAt"]) == resolved.ends_at


def test_slack_block_kit_names_service_severity_culprit_and_link(peer: HttpPeer) -> None:
    notifier = SlackNotifier("slack", peer.url + "/services/T000/B000/XXXX")
    firing = sample_alert("firing")
    body, done = firing_then_resolved(
        notifier, peer, "/services/T000/B000/XXXX", check_slack_message
    )
    assert body["text"].startswith(
        "[FIRING page] llm-gateway p99 latency 4.1 s &gt; 2 s: culprit gpu:node-7/3"
    )
    assert "gpu:node-7/3" in body["text"] and body["text"].endswith(f" <{firing.url}|open>")
    blocks = body["blocks"]
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "Firing · page · llm-gateway"
    fields = [f["text"] for b in blocks if b["type"] == "section" for f in b.get("fields", [])]
    assert "*Service*\nllm-gateway" in fields
    assert "*Severity*\npage" in fields
    assert "*Culprit*\n`gpu:node-7/3`" in fields
    assert "*Cause*\nthermal_throttle" in fields
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert any("88 °C" in t and t.startswith("*Root cause:*") for t in texts)
    [button] = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert button["url"] == firing.url
    assert button["text"]["text"] == "Open incident"

    assert done["text"].startswith("[RESOLVED page] llm-gateway p99 latency")
    assert done["blocks"][0]["text"]["text"] == "Resolved · page · llm-gateway"
    assert done["blocks"] != blocks


def test_slack_cuts_long_texts_to_block_kit_limits(peer: HttpPeer) -> None:
    notifier = SlackNotifier("slack", peer.url + "/hook")
    long = sample_alert("firing", summary="x < y & " * 1000)
    asyncio.run(notifier.notify(long))
    body = peer.on("/hook")[0].json()
    check_slack_message(body)
    summary_block = body["blocks"][1]["text"]["text"]
    assert summary_block.endswith("…") and "&lt;" in summary_block and "<" not in summary_block
    assert "x &lt; y &amp; " in body["text"] and body["text"].endswith("|open>")


def test_pagerduty_trigger_then_resolve_with_dedup_key(peer: HttpPeer) -> None:
    peer.respond("/v2/enqueue", 202, body=b'{"status":"success","dedup_key":"x"}')
    [notifier] = build_notifiers(
        [
            {
                "type": "pagerduty",
                "routing_key": "R0UT1NGKEY0000000000000000000000",
                "url": peer.url + "/v2/enqueue",
            }
        ],
        None,
        "x@y",
        EXTERNAL,
    )
    assert isinstance(notifier, PagerDutyNotifier)
    firing = sample_alert("firing", summary="s" * 2000)
    trigger, resolve = firing_then_resolved(
        notifier, peer, "/v2/enqueue", check_pagerduty_event, firing
    )
    assert trigger["event_action"] == "trigger"
    assert trigger["routing_key"] == "R0UT1NGKEY0000000000000000000000"
    assert trigger["dedup_key"] == firing.fingerprint
    payload = trigger["payload"]
    assert len(payload["summary"]) == 1024 and payload["summary"].endswith("…")
    assert payload["source"] == "llm-gateway"
    assert payload["severity"] == "critical"
    assert parse_time(payload["timestamp"]) == firing.starts_at
    assert payload["component"] == "gpu:node-7/3"
    assert payload["group"] == "embedder"
    assert payload["class"] == "thermal_throttle"
    assert payload["custom_details"]["root_cause"]["incident_id"] == "inc-42"
    assert payload["custom_details"]["incidents"] == ["inc-42"]
    assert trigger["links"] == [{"href": firing.url, "text": "Open incident in tailsight"}]
    assert trigger["client_url"] == EXTERNAL
    assert resolve == {
        "routing_key": "R0UT1NGKEY0000000000000000000000",
        "event_action": "resolve",
        "dedup_key": firing.fingerprint,
    }


def test_pagerduty_acknowledges_an_acknowledged_alert(peer: HttpPeer) -> None:
    notifier = PagerDutyNotifier("pagerduty", "k" * 32, url=peer.url + "/e")
    acked = dataclasses.replace(sample_alert("firing"), acknowledged=True)
    asyncio.run(notifier.notify(acked))
    event = peer.on("/e")[0].json()
    check_pagerduty_event(event)
    assert event == {
        "routing_key": "k" * 32,
        "event_action": "acknowledge",
        "dedup_key": acked.fingerprint,
    }


def test_pagerduty_ticket_is_a_warning(peer: HttpPeer) -> None:
    notifier = PagerDutyNotifier("pagerduty", "k" * 32, url=peer.url + "/e")
    asyncio.run(notifier.notify(sample_alert("firing", severity="ticket", root_cause=False)))
    event = peer.on("/e")[0].json()
    check_pagerduty_event(event)
    assert event["payload"]["severity"] == "warning"
    assert event["payload"]["component"] == "llm-gateway"
    assert event["payload"]["class"] == "burn_rate"


def test_webhook_without_external_url_still_valid(peer: HttpPeer) -> None:
    notifier = WebhookNotifier("webhook", peer.url + "/w")
    asyncio.run(notifier.notify(sample_alert("firing", root_cause=False)))
    body = peer.on("/w")[0].json()
    check_webhook_v4(body)
    assert body["externalURL"] == ""
    assert "culprit" not in body["alerts"][0]["labels"]
