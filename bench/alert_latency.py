"""Time to a root-cause page: fault onset to the notification that names the right culprit.

The simulator streams a fleet live (real time, not backfill) into ``tailsight up`` with
an SLO on every service and every notifier type pointed at local peers; faults of every
incident kind are injected one after another. For each, the latency is the time from the
fault's onset to the first webhook notification (Alertmanager webhook v4) of an affected
service whose ``culprit`` label is the fault's culprit (or an equally right entity).

It prints the median and max seconds, per fault kind, and the ratio to a Prometheus +
Alertmanager pipeline's floor: 1 m scrape + 1 m rule evaluation + 30 s group wait = 150 s.
Targets (issue 14): median <= 30 s, max <= 60 s.

    .venv/bin/python bench/alert_latency.py [--faults 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tailsight.sim.demo import DEMO_FLEET  # noqa: E402
from tailsight.sim.faults import INCIDENT_KINDS  # noqa: E402
from tests.alerts.live import LiveFleet, Peers, wait_for, write_config, write_slos  # noqa: E402
from tests.conftest import UpProcess  # noqa: E402

PROMETHEUS_FLOOR_S = 150.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait per fault")
    args = parser.parse_args()
    peers = Peers()
    rows: list[tuple[str, float | None, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = write_config(
            root,
            peers,
            slo_dir=str(write_slos(root / "slos", sorted(DEMO_FLEET.services)).parent),
            alert_resolve_delay_s=30,
        )
        up = UpProcess(root / "data", "--config", str(config))
        fleet: LiveFleet | None = None
        try:
            up.wait_healthy(60)
            print("backfilling a 30-minute baseline ...", file=sys.stderr)
            fleet = LiveFleet(DEMO_FLEET, f"http://127.0.0.1:{up.otlp_http_port}", baseline_s=1800)
            fleet.start()
            time.sleep(30)  # the baseline analysed before the first fault
            for i in range(args.faults):
                kind = INCIDENT_KINDS[i % len(INCIDENT_KINDS)]
                rows.append(_one_fault(fleet, peers, kind, f"f{i + 1}", args.timeout))
                print(_row(*rows[-1]), file=sys.stderr)
                if fleet.error is not None:
                    raise fleet.error
        finally:
            if fleet is not None:
                fleet.stop()
            up.stop()
            peers.stop()
    return _report(rows)


def _one_fault(
    fleet: LiveFleet, peers: Peers, kind: str, fid: str, timeout: float
) -> tuple[str, float | None, str]:
    before = len(peers.of("webhook"))
    fault, want = fleet.inject(kind, 600, fid, intensity=1.0)
    good = {f"{e['type']}:{e['id']}" for e in [want["culprit"], *want["accepted"]] if e}
    hurt = set(want["affected_services"]) | set(want["upstream_services"])
    found: list[tuple[float, str]] = []

    def paged() -> bool:
        for r in peers.of("webhook")[before:]:
            for a in r.body["alerts"]:
                if a["status"] == "firing" and a["labels"]["service"] in hurt:
                    found.append((r.at, a["labels"].get("culprit", "-")))
        return any(c in good for _, c in found)

    wait_for(paged, timeout, poll_s=0.2)
    right = [at for at, c in found if c in good]
    latency = min(right) - fault.start if right else None
    first = min(found)[1] if found else "no page"
    # End the fault now and let its alerts resolve before the next one.
    engine = fleet.sim.engine
    engine.faults = [replace(f, end=time.time()) if f.id == fault.id else f for f in engine.faults]
    resolved_from = len(peers.of("webhook"))
    wait_for(
        lambda: any(
            a["status"] == "resolved"
            for r in peers.of("webhook")[resolved_from:]
            for a in r.body["alerts"]
        )
        or not found,
        240,
    )
    time.sleep(20)
    return kind, latency, first


def _row(kind: str, latency: float | None, first: str) -> str:
    took = f"{latency:6.1f} s" if latency is not None else "  missed"
    return f"{kind:22s} {took}   first page named {first}"


def _report(rows: list[tuple[str, float | None, str]]) -> int:
    got = [lat for _, lat, _ in rows if lat is not None]
    print("\nfault kind             to page   first culprit named")
    for row in rows:
        print(_row(*row))
    print(f"\npaged with the right culprit: {len(got)} of {len(rows)}")
    if not got:
        return 1
    median, worst = statistics.median(got), max(got)
    print(f"median {median:.1f} s, max {worst:.1f} s (targets: median <= 30 s, max <= 60 s)")
    print(
        f"ratio to a Prometheus + Alertmanager floor of {PROMETHEUS_FLOOR_S:.0f} s: "
        f"median {median / PROMETHEUS_FLOOR_S:.2f}, max {worst / PROMETHEUS_FLOOR_S:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
