"""One simulated fault, live through `tailsight up`, paged to every notifier once and resolved once.

Real peers: an HTTP server standing in for Alertmanager, a webhook receiver, Slack and
PagerDuty, and an aiosmtpd SMTP server. `tailsight up` is restarted while the alert fires:
the restarted process must not page again, and must still send the resolve.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tailsight.app.launch import UpServer
from tests.alerts.formats import parse_time
from tests.alerts.live import LiveFleet, Peers, wait_for, write_config, write_slos
from tests.conftest import UpProcess
from tests.sim.simdata import SPEC

PEERS = ("alertmanager", "webhook", "slack", "pagerduty", "email")


def _webhook_alerts(peers: Peers) -> list[dict]:
    return [a for r in peers.of("webhook") for a in r.body["alerts"]]


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_a_fault_pages_each_notifier_once_and_resolves_once_across_a_restart(
    tmp_path: Path,
) -> None:
    peers = Peers()
    services = sorted(SPEC.services)
    config = write_config(
        tmp_path,
        peers,
        slo_dir=str(write_slos(tmp_path / "slos", services).parent),
        analysis_interval_s=3,
        slo_interval_s=2,
        alert_resolve_delay_s=30,
    )
    data = tmp_path / "data"
    up: UpServer = UpProcess(data, "--config", str(config))
    fleet: LiveFleet | None = None
    try:
        up.wait_healthy(60)
        fleet = LiveFleet(SPEC, f"http://127.0.0.1:{up.otlp_http_port}").start()
        fault, want = fleet.inject(
            "gpu_noisy_neighbor", 150, "f1", intensity=1.0, ramp_s=10.0
        )
        culprit = f"{want['culprit']['type']}:{want['culprit']['id']}"
        hurt = set(want["affected_services"])

        def paged() -> list[dict]:
            return [
                a
                for a in _webhook_alerts(peers)
                if a["status"] == "firing" and a["labels"]["service"] in hurt
            ]

        assert wait_for(lambda: bool(paged()), 150), f"no page for {hurt}:\n{up.output()[-3000:]}"
        (first, *_) = paged()
        assert first["labels"]["culprit"] == culprit, first
        assert first["labels"]["cause_kind"] == "noisy_neighbor"
        assert "/incidents/" in first["annotations"]["url"]
        fp = first["fingerprint"]

        # Every notifier gets the page; the fault ends; restart while the alert still fires.
        assert wait_for(lambda: all(peers.of(p) for p in PEERS), 30), [
            p for p in PEERS if not peers.of(p)
        ]
        fleet.end_faults({fault.id})
        up.stop()
        up = UpServer(
            data,
            "--config",
            str(config),
            api_port=up.api_port,
            otlp_http_port=up.otlp_http_port,
            otlp_grpc_port=up.otlp_grpc_port,
            log=tmp_path / "up-restarted.log",
        )
        up.wait_healthy(60)

        def resolved() -> bool:
            return any(
                a["fingerprint"] == fp and a["status"] == "resolved"
                for a in _webhook_alerts(peers)
            )

        assert wait_for(resolved, 300), f"no resolve:\n{up.output()[-3000:]}"
        # Every other notifier's resolve lands (the checks below say which are missing),
        # then a few evaluation intervals (slo_interval_s=2) in which a duplicate would show.
        wait_for(lambda: all(len(peers.of(p)) >= 2 for p in PEERS), 10)
        wait_for(lambda: False, 5)
        assert fleet.error is None, fleet.error
    finally:
        if fleet is not None:
            fleet.stop()
        up.stop()
        peers.stop()

    # Exactly one firing and one resolved per notifier for the alert, across the restart.
    states = Counter(
        (a["fingerprint"], a["status"]) for a in _webhook_alerts(peers)
    )
    assert states[(fp, "firing")] == 1 and states[(fp, "resolved")] == 1, states
    am = Counter(
        "resolved" if parse_time(a["endsAt"]).timestamp() <= r.at else "firing"
        for r in peers.of("alertmanager")
        for a in r.body
        if a["labels"]["alertname"] == first["labels"]["alertname"]
    )
    assert am == Counter({"firing": 1, "resolved": 1}), am
    pd = Counter(
        r.body["event_action"] for r in peers.of("pagerduty") if r.body["dedup_key"] == fp
    )
    assert pd == Counter({"trigger": 1, "resolve": 1}), pd
    name = first["labels"]["alertname"]
    slack = [r for r in peers.of("slack") if name in str(r.body) or first["labels"]["service"] in str(r.body)]
    assert len(slack) == 2, [r.body for r in slack]
    mails = [r.body for r in peers.of("email") if first["labels"]["service"] in str(r.body["Subject"])]
    assert len(mails) == 2, [m["Subject"] for m in mails]
    assert {m.get_content_type() for m in mails} == {"multipart/alternative"}
