"""The alert manager on a real store with real notifiers: incidents page once, resolve once,
and a new manager on the same store (a restart) neither re-pages nor forgets the resolve."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tailsight.alerts.lifecycle import Timing
from tailsight.alerts.manager import AlertManager
from tailsight.alerts.notifiers import build_notifiers
from tailsight.alerts.slo import SloCatalog
from tailsight.app.alerting import add_silence, alerts_json, expire_silence, notifier_sender
from tailsight.model import Cause, Entity, Incident
from tailsight.storage import Store
from tailsight.storage.alerts import acknowledge, alerts_of_incident
from tailsight.storage.incidents import replace_incidents
from tests.alerts.live import write_slos
from tests.alerts.peers import HttpPeer

TIMING = Timing(resolve_delay_s=60, repeat_interval_s=3600)


def _incident(service: str, start: datetime, end: datetime | None) -> Incident:
    cause = Cause(
        "network_congestion",
        0.9,
        service,
        Entity("switch_port", "leaf1/Ethernet3"),
        "ECN marks on leaf1/Ethernet3 rose 40x",
    )
    return Incident(service, start, end, 900.0, 120.0, causes=(cause,))


def _manager(store: Store, slo_dir: Path, peer: HttpPeer) -> AlertManager:
    notifiers = build_notifiers(
        [
            {"type": "webhook", "url": f"{peer.url}/hook"},
            {"type": "pagerduty", "routing_key": "k", "url": f"{peer.url}/pd"},
        ],
        smtp_url=None,
        smtp_from="t@localhost",
        external_url="http://ui.example",
    )
    return AlertManager(
        store,
        SloCatalog(slo_dir),
        {n.name: None for n in notifiers},
        notifier_sender(notifiers),
        ui_url="http://ui.example",
        timing=TIMING,
    )


def _run(manager: AlertManager, now: datetime) -> None:
    async def go() -> None:
        await manager.evaluate(now)
        await manager.drain()

    asyncio.run(go())


def _sent(peer: HttpPeer) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()
    for r in peer.on("/hook"):
        for a in r.json()["alerts"]:
            out[("hook", a["status"])] += 1
    for r in peer.on("/pd"):
        out[("pd", r.json()["event_action"])] += 1
    return out


def test_incident_pages_once_and_resolves_once_across_a_restart(
    store: Store, tmp_path: Path, peer: HttpPeer
) -> None:
    slo_dir = write_slos(tmp_path / "slos", ["embedder"]).parent
    t0 = datetime.now(UTC).replace(microsecond=0)
    onset = t0 - timedelta(seconds=40)
    replace_incidents(store, onset - timedelta(minutes=5), t0, [_incident("embedder", onset, None)])
    # An incident of a service without an SLO does not page (incident_alerts: slo).
    replace_incidents(store, onset, t0, [_incident("asr", onset, None), _incident("embedder", onset, None)])

    manager = _manager(store, slo_dir, peer)
    _run(manager, t0)
    assert _sent(peer) == Counter({("hook", "firing"): 1, ("pd", "trigger"): 1})
    (alert,) = alerts_json(store, "firing", None, t0)
    assert alert["root_cause"]["entity"] == {"type": "switch_port", "id": "leaf1/Ethernet3"}
    assert alert["labels"]["culprit"] == "switch_port:leaf1/Ethernet3"
    assert alert["url"].startswith("http://ui.example/incidents/")
    assert {d["notifier"] for d in alert["deliveries"] if d["ok"]} == {"webhook", "pagerduty"}
    (carried,) = alerts_of_incident(store, alert["incidents"][0])  # the incident page's link
    assert carried.fingerprint == alert["fingerprint"] and len(carried.deliveries) == 2

    _run(manager, t0 + timedelta(seconds=10))  # still open: no second page
    assert sum(_sent(peer).values()) == 2

    # The spike ends; a restarted manager (new instance, same store) takes over.
    end = t0 + timedelta(seconds=20)
    replace_incidents(store, onset - timedelta(minutes=5), end, [_incident("embedder", onset, end)])
    restarted = _manager(store, slo_dir, peer)
    _run(restarted, end + timedelta(seconds=30))  # ended recently: the condition still holds
    assert sum(_sent(peer).values()) == 2
    _run(restarted, end + timedelta(seconds=70))  # quiet less than the resolve delay
    assert sum(_sent(peer).values()) == 2
    _run(restarted, end + timedelta(seconds=60 + 61 + 10))
    assert _sent(peer) == Counter(
        {("hook", "firing"): 1, ("pd", "trigger"): 1, ("hook", "resolved"): 1, ("pd", "resolve"): 1}
    )
    _run(restarted, end + timedelta(seconds=300))
    assert sum(_sent(peer).values()) == 4  # resolved once
    (done,) = alerts_json(store, "resolved", None, end)
    assert done["fingerprint"] == alert["fingerprint"] and done["ends_at"] is not None


def test_silenced_alert_waits_and_a_failing_notifier_is_retried(
    store: Store, tmp_path: Path, peer: HttpPeer
) -> None:
    slo_dir = write_slos(tmp_path / "slos", ["embedder"]).parent
    t0 = datetime.now(UTC).replace(microsecond=0)
    replace_incidents(store, t0 - timedelta(minutes=5), t0, [_incident("embedder", t0, None)])
    silence = add_silence(store, {"matchers": ["service=embedder"], "for": "10m"}, t0)
    peer.respond("/pd", 500)  # PagerDuty fails, every attempt
    manager = _manager(store, slo_dir, peer)
    manager.timing = Timing(resolve_delay_s=60, retry_first_s=1.0)
    _run(manager, datetime.now(UTC))
    assert _sent(peer) == Counter()  # silenced: nothing sent
    (alert,) = alerts_json(store, "firing", None, datetime.now(UTC))
    assert alert["silenced"] is True

    assert expire_silence(store, silence.id, datetime.now(UTC)) is not None
    _run(manager, datetime.now(UTC))  # the page held back is sent now
    assert _sent(peer)[("hook", "firing")] == 1
    failed = [
        d for d in alerts_json(store, "firing", None, t0)[0]["deliveries"] if not d["ok"]
    ]
    assert failed and all(d["notifier"] == "pagerduty" and "500" in d["error"] for d in failed)
    peer.respond("/pd", 202)
    _run(manager, datetime.now(UTC))  # too soon after the failure: backoff
    assert _sent(peer)[("pd", "trigger")] == len(failed)
    time.sleep(1.2)
    _run(manager, datetime.now(UTC))
    assert _sent(peer)[("pd", "trigger")] == len(failed) + 1  # retried, and got through
    assert _sent(peer)[("hook", "firing")] == 1  # the webhook was not sent twice
    assert acknowledge(store, alert["fingerprint"]) is not None
    (acked,) = alerts_json(store, "firing", None, t0)
    assert acked["acknowledged"] is True
