"""Time to a root-cause page: fault onset to the notification that names the right culprit.

The simulator streams a fleet live (real time, not backfill) into ``tailsight up`` with
an SLO on every service and every notifier type pointed at local peers; faults of every
incident kind are injected two at a time, on services no other fault of the pair hurts
(each service has its own alert) and on different hosts (a callee slowed by ``call_delay``
on a host whose NIC the other fault congests is rightly blamed on that NIC). For each, the
latency is the time from the fault's onset to the first webhook notification (Alertmanager
webhook v4) of an affected service whose ``culprit`` label is the fault's culprit (or an equally right entity).

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
from tailsight.sim.faults import INCIDENT_KINDS, Fault  # noqa: E402
from tailsight.sim.fleet import Fleet  # noqa: E402
from tests.alerts.live import LiveFleet, Peers, wait_for, write_config, write_slos  # noqa: E402
from tests.conftest import UpProcess  # noqa: E402

PROMETHEUS_FLOOR_S = 150.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait per fault")
    parser.add_argument(
        "--ramp",
        type=float,
        default=None,
        help="seconds each fault takes to reach full strength (default: the simulator's "
        "random 10/30/60/120 s)",
    )
    parser.add_argument("--log", help="copy tailsight up's log here at the end")
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
            kinds = [INCIDENT_KINDS[i % len(INCIDENT_KINDS)] for i in range(args.faults)]
            while kinds:
                done, left = _fault_pair(
                    fleet, peers, kinds[:2], len(rows), args.timeout, args.ramp
                )
                kinds = left + kinds[2:]
                for row in done:
                    rows.append(row)
                    print(_row(*row), file=sys.stderr)
                if fleet.error is not None:
                    raise fleet.error
        finally:
            if fleet is not None:
                fleet.stop()
            up.stop()
            peers.stop()
            if args.log:
                Path(args.log).write_text(up.output())
    return _report(rows)


def _hurt(want: dict[str, object]) -> set[str]:
    return set(want["affected_services"]) | set(want["upstream_services"])  # type: ignore[arg-type]


def _hosts(fault: Fault, fleet: Fleet) -> set[str]:
    """The hosts whose telemetry ``fault`` moves (none for a load surge)."""
    if fault.target in fleet.ports:
        return {n.host for n in fleet.nics.values() if n.port == fault.target}
    if fault.target in fleet.nics:
        return {fleet.nics[fault.target].host}
    if fault.target in fleet.gpus:
        return {fleet.gpus[fault.target].host}
    return {fault.target} if fault.target in fleet.nodes else set()


def _fault_pair(
    fleet: LiveFleet,
    peers: Peers,
    kinds: list[str],
    first: int,
    timeout: float,
    ramp_s: float | None,
) -> tuple[list[tuple[str, float | None, str]], list[str]]:
    """Inject ``kinds`` at once (services and hosts disjoint), time each to its right page.

    Returns the rows and the kinds left for a later round: those with no target disjoint
    from the first fault's in this fleet (a CPU-saturated host serves every service the
    surged one calls), which then run on their own.
    """
    before = len(peers.of("webhook"))
    injected: list[tuple[Fault, set[str], set[str]]] = []
    taken: set[str] = set()
    taken_hosts: set[str] = set()
    left: list[str] = []
    for n, kind in enumerate(kinds):
        for _ in range(50):  # a target whose services no other fault of the pair hurts
            fault, want = fleet.draw(kind, 600, f"f{first + n + 1}", intensity=1.0)
            if ramp_s is not None:
                fault = replace(fault, ramp_s=ramp_s)
            hosts = _hosts(fault, fleet.sim.fleet)
            if not _hurt(want) & taken and not hosts & taken_hosts:
                break
        else:
            left.append(kind)
            continue
        taken |= _hurt(want)
        taken_hosts |= hosts
        good = {f"{e['type']}:{e['id']}" for e in [want["culprit"], *want["accepted"]] if e}
        injected.append((fault, good, _hurt(want)))
    for fault, _, _ in injected:
        fleet.sim.engine.add_fault(replace(fault, start=time.time(), end=time.time() + 600))
    started = {f.id: time.time() for f, _, _ in injected}
    print(f"injected {kinds} at {time.strftime('%H:%M:%S')}", file=sys.stderr)
    found: dict[str, list[tuple[float, str]]] = {f.id: [] for f, _, _ in injected}

    def paged() -> bool:
        for fault, _, hurt in injected:
            found[fault.id] = [
                (r.at, a["labels"].get("culprit", "-"))
                for r in peers.of("webhook")[before:]
                for a in r.body["alerts"]
                if a["status"] == "firing" and a["labels"]["service"] in hurt
            ]
        return all(any(c in good for _, c in found[f.id]) for f, good, _ in injected)

    wait_for(paged, timeout, poll_s=0.2)
    rows = []
    for fault, good, _ in injected:
        right = [at for at, c in found[fault.id] if c in good]
        latency = min(right) - started[fault.id] if right else None
        first_named = min(found[fault.id])[1] if found[fault.id] else "no page"
        rows.append((fault.kind, latency, first_named))
    # End the faults now and let their alerts resolve before the next pair.
    fleet.end_faults({f.id for f, _, _ in injected})
    resolved_from = len(peers.of("webhook"))
    if any(found.values()):
        wait_for(
            lambda: any(
                a["status"] == "resolved"
                for r in peers.of("webhook")[resolved_from:]
                for a in r.body["alerts"]
            ),
            240,
        )
    time.sleep(20)
    return rows, left


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
