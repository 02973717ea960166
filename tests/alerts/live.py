"""A live fleet feeding `tailsight up`, and real local peers that receive its notifications.

Used by the end-to-end alert test and by ``bench/alert_latency.py``: the simulator
backfills a clean baseline, then streams in real time while faults are injected; an HTTP
server stands in for Alertmanager, a webhook receiver, Slack and PagerDuty, and an SMTP
server (aiosmtpd) receives the mails. Everything listens on 127.0.0.1 and stops at the end.
"""

from __future__ import annotations

import email
import email.policy
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.controller import Controller

from tailsight.sim.faults import Fault, random_fault, truth
from tailsight.sim.fleet import FleetSpec
from tailsight.sim.scenario import Scenario, Simulation
from tailsight.sim.sender import OtlpHttpSender, backfill, live
from tests.alerts.peers import HttpPeer
from tests.conftest import free_port


@dataclass
class Received:
    """One notification as a peer received it."""

    peer: str  # alertmanager | webhook | slack | pagerduty | email
    at: float
    body: Any


class Peers:
    """The notification targets: one recording HTTP server (a path per peer) and an SMTP server."""

    def __init__(self) -> None:
        self.http = HttpPeer()
        self.mail: list[Received] = []
        peers = self

        class Mailbox:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
                peers.mail.append(Received("email", time.time(), msg))
                return "250 OK"

        self.smtp_port = free_port()
        self.smtp = Controller(Mailbox(), hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()

    def of(self, peer: str) -> list[Received]:
        """What ``peer`` received, in order of arrival."""
        if peer == "email":
            return list(self.mail)
        return [
            Received(peer, r.at, r.json())
            for r in list(self.http.requests)
            if r.path.strip("/").split("/")[0] == peer
        ]

    @property
    def http_url(self) -> str:
        return self.http.url

    @property
    def smtp_url(self) -> str:
        return f"smtp://127.0.0.1:{self.smtp_port}"

    def stop(self) -> None:
        self.http.stop()
        self.smtp.stop()


def write_config(directory: Path, peers: Peers, **settings: Any) -> Path:
    """A config file with every notifier type pointing at ``peers``, plus ``settings``."""
    base = peers.http_url
    config = {
        "notifiers": [
            {"type": "alertmanager", "url": f"{base}/alertmanager"},
            {"type": "webhook", "url": f"{base}/webhook"},
            {"type": "slack", "webhook_url": f"{base}/slack"},
            {"type": "pagerduty", "routing_key": "R0UT1NGKEY", "url": f"{base}/pagerduty"},
            {"type": "email", "to": "oncall@example.com"},
        ],
        "smtp_url": peers.smtp_url,
        **settings,
    }
    path = directory / "tailsight.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def write_slos(directory: Path, services: list[str], max_ms: float = 2000.0) -> Path:
    """One latency SLO (99% under ``max_ms``) per service, in OpenSLO v1."""
    directory.mkdir(parents=True, exist_ok=True)
    docs = []
    for service in services:
        spans = {"service": service}
        docs.append(
            {
                "apiVersion": "openslo/v1",
                "kind": "SLO",
                "metadata": {"name": f"{service}-latency"},
                "spec": {
                    "service": service,
                    "budgetingMethod": "Occurrences",
                    "timeWindow": [{"duration": "28d", "isRolling": True}],
                    "objectives": [{"target": 0.99}],
                    "indicator": {
                        "metadata": {"name": f"{service}-fast"},
                        "spec": {
                            "ratioMetric": {
                                "counter": True,
                                "good": _source({**spans, "max_duration_ms": max_ms}),
                                "total": _source(spans),
                            }
                        },
                    },
                },
            }
        )
    path = directory / "slos.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def _source(spans: dict[str, Any]) -> dict[str, Any]:
    return {"metricSource": {"type": "tailsight", "spec": {"spans": spans}}}


class LiveFleet:
    """A simulated fleet: a backfilled baseline, then real-time telemetry with injectable faults."""

    def __init__(self, spec: FleetSpec, endpoint: str, seed: int = 3, baseline_s: float = 900.0):
        now = float(int(time.time()) // 10 * 10)
        self.scenario = Scenario(seed, now - baseline_s, baseline_s, spec, (), name="live")
        self.sim = Simulation(self.scenario)
        self.sender = OtlpHttpSender(endpoint)
        self.rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> LiveFleet:
        """Backfill the baseline up to now, then stream in a background thread."""
        backfill(self.sim, self.sender, self.scenario.end, ticks_per_batch=30)
        self._thread = threading.Thread(target=self._stream, name="live-fleet", daemon=True)
        self._thread.start()
        return self

    def _stream(self) -> None:
        try:
            live(self.sim, self.sender, stop=self._stop.is_set)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc

    def draw(
        self, kind: str, duration_s: float, fid: str, **changes: Any
    ) -> tuple[Fault, dict[str, Any]]:
        """A fault of ``kind`` on a random target, starting now, with its ground truth."""
        fault = random_fault(kind, self.sim.fleet, self.rng, time.time(), duration_s, fid)
        if changes:
            fault = replace(fault, **changes)
        return fault, truth(fault, self.sim.fleet)

    def inject(
        self, kind: str, duration_s: float, fid: str, **changes: Any
    ) -> tuple[Fault, dict[str, Any]]:
        """A fault of ``kind`` starting now, injected; returns it with its ground truth."""
        fault, want = self.draw(kind, duration_s, fid, **changes)
        self.sim.engine.add_fault(fault)
        return fault, want

    def end_faults(self, ids: set[str]) -> None:
        """End the faults ``ids`` now (their level falls to 0 from the next tick)."""
        engine = self.sim.engine
        now = time.time()
        engine.faults = [replace(f, end=now) if f.id in ids else f for f in engine.faults]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self.sender.close()


def wait_for(check: Callable[[], bool], timeout_s: float, poll_s: float = 0.5) -> bool:
    """Poll ``check`` until it is true or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(poll_s)
    return check()
