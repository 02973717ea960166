"""``tailsight demo``: a populated tailsight in under two minutes, from a simulated fleet.

Starts ``tailsight up`` as a child process on a fresh embedded store (the store admits
one process, and a child keeps the simulator's CPU work out of the server's event loop),
backfills a day of telemetry with one incident of every kind, analyses it, prints the
URLs, then streams live telemetry with a new fault every few minutes until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import IO

import yaml

from tailsight.app.launch import UpFailed, UpServer
from tailsight.cli import CliError
from tailsight.sim.demo import COARSE, FINE, LIVE, LiveFaults, demo_scenario, demo_slos
from tailsight.sim.faults import truth
from tailsight.sim.scenario import Simulation
from tailsight.sim.sender import OtlpHttpSender, SendError, backfill, live
from tailsight.timeutil import parse_duration


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="run tailsight on a simulated GPU fleet with injected faults",
        description="Start `tailsight up` on a fresh embedded store, backfill a day of "
        "telemetry from a simulated inference fleet (one incident of every kind), then "
        "stream live telemetry with a new fault every few minutes. Ctrl-C stops both.",
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="store directory (default: a new temporary one)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--api-port", type=int, default=8050, help="API and UI port")
    parser.add_argument("--otlp-http-port", type=int, default=4318, help="OTLP/HTTP port")
    parser.add_argument("--otlp-grpc-port", type=int, default=4317, help="OTLP/gRPC port")
    parser.add_argument("--history", default="24h", help="history to backfill (default 24h)")
    parser.add_argument(
        "--fine", default="2h", help="recent history at full resolution (default 2h)"
    )
    parser.add_argument(
        "--fault-every", default="3m", help="a new live fault this often (default 3m)"
    )
    parser.add_argument(
        "--live-for", metavar="DURATION", help="stop after this long live (default: Ctrl-C)"
    )
    parser.add_argument("--seed", type=int, default=2026, help="simulation seed")
    parser.set_defaults(handler=run)


class Progress:
    """A one-line progress bar on a terminal (plain lines elsewhere)."""

    def __init__(self, label: str, start: float, end: float, out: IO[str] = sys.stderr) -> None:
        self.label, self.start, self.end, self.out = label, start, end, out
        self.tty = out.isatty()
        self._shown = 0.0
        self._step = -1

    def update(self, t: float, note: str = "") -> None:
        frac = min(1.0, max(0.0, (t - self.start) / max(1.0, self.end - self.start)))
        now = time.monotonic()
        if self.tty:
            if now - self._shown < 0.1 and frac < 1.0:
                return
            self._shown = now
            bar = "#" * int(frac * 30)
            self.out.write(f"\r{self.label:<22} [{bar:<30}] {frac:4.0%} {note}")
            if frac >= 1.0:
                self.out.write("\n")
        elif int(frac * 4) > self._step:  # 0, 25, 50, 75, 100 %
            self._step = int(frac * 4)
            self.out.write(f"{self.label}: {frac:.0%} {note}\n")
        self.out.flush()


def _spool_bytes(api: str) -> float | None:
    """Bytes the server's ingest spool still holds (not yet in the store), from ``/metrics``."""
    try:
        with urllib.request.urlopen(api + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("tailsight_ingest_spool_bytes"):
            try:
                return float(line.split()[-1])
            except ValueError:
                return None
    return None


def _wait_stored(api: str, timeout_s: float = 90.0) -> None:
    """Until ingest has written everything acknowledged so far into the store."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        held = _spool_bytes(api)
        if held is None or held <= 0:
            return
        time.sleep(0.25)


def _analyze(api: str, start: float, end: float) -> int | None:
    body = json.dumps({"from": start, "to": end}).encode()
    req = urllib.request.Request(
        api + "/api/v1/analyze", body, {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            data = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    incidents = data.get("incidents") if isinstance(data, dict) else data
    return len(incidents) if isinstance(incidents, list) else None


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace) -> int:
    began = time.monotonic()
    try:
        history = parse_duration(args.history).total_seconds()
        fine = parse_duration(args.fine).total_seconds()
        every = parse_duration(args.fault_every).total_seconds()
        live_for = parse_duration(args.live_for).total_seconds() if args.live_for else None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    data_dir = (
        Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="tailsight-demo-"))
    )
    if data_dir.exists() and any(p.name != "up.log" for p in data_dir.iterdir()):
        raise CliError(f"{data_dir} is not empty: the demo needs a fresh store")
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "up.log"
    host = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    # The URL first: the dashboards fill as the simulated history arrives.
    print(
        f"dashboards: http://{host}:{args.api_port}/  (filling with a simulated fleet; "
        "incidents appear there within a minute)",
        file=sys.stderr,
    )
    print(f"starting tailsight up on a fresh store in {data_dir} (log {log})", file=sys.stderr)
    # SIGTERM (e.g. from a supervisor or `timeout`) unwinds like Ctrl-C, so the server is stopped.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    slo_dir = data_dir / "slos"  # an SLO per service, so burn rates and alerts show too
    slo_dir.mkdir(exist_ok=True)
    (slo_dir / "demo.yaml").write_text(yaml.safe_dump_all(demo_slos(), sort_keys=False))
    server = UpServer(
        data_dir / "store",
        env={"TAILSIGHT_SLO_DIR": str(slo_dir)},
        api_port=args.api_port,
        otlp_http_port=args.otlp_http_port,
        otlp_grpc_port=args.otlp_grpc_port,
        log=log,
        host=args.host,
        connect_host=host,
        die_with_parent=True,
    )
    try:
        server.wait_healthy(60.0)
        _run_demo(args, server.api, host, history, fine, every, live_for, began, data_dir)
    except UpFailed as exc:
        raise CliError(str(exc)) from None
    except SendError as exc:
        raise CliError(f"{exc} (server log: {log})") from None
    finally:
        server.stop(30.0)
    print("demo stopped; data kept in " + str(data_dir), file=sys.stderr)
    return 0


def _run_demo(
    args: argparse.Namespace,
    api: str,
    host: str,
    history: float,
    fine: float,
    every: float,
    live_for: float | None,
    began: float,
    data_dir: Path,
) -> None:
    now = float(int(time.time()) // 10 * 10)
    scenario = demo_scenario(now, history, fine, args.seed)
    fine_start = max(scenario.start, now - fine)
    # The recent part (every incident kind) goes first and is analysed at once, so the
    # dashboards show incidents within a minute; the older, coarse history follows. Two
    # simulations of the one scenario: the same fleet and faults, each from its own start.
    sim = Simulation(replace(scenario, start=fine_start, duration_s=now - fine_start))
    history_sim = Simulation(scenario)
    sender = OtlpHttpSender(f"http://{host}:{args.otlp_http_port}")
    (data_dir / "truth.json").write_text(json.dumps(scenario.truth(sim.fleet), indent=2) + "\n")

    def note() -> str:
        return f"{sender.stats.spans:,} spans, {sender.stats.points:,} points"

    stretches = [
        ("recent (full detail)", sim, fine_start, now, FINE, 12),
        ("history (coarse)", history_sim, scenario.start, fine_start, COARSE, 36),
    ]
    for label, source, begin, end, res, ticks in stretches:
        if end <= begin:
            continue
        bar = Progress(label, begin, end)
        source.set_sampling(res.spans_per_window)
        backfill(
            source,
            sender,
            end,
            ticks_per_batch=ticks,
            metric_every=res.metric_every,
            progress=lambda t, bar=bar: bar.update(t, note()),  # type: ignore[misc]
        )
        _wait_stored(api)
        found = _analyze(api, begin, end if end < now else time.time())
        took = time.monotonic() - began
        counted = "" if found is None else f": {found} incidents found"
        print(f"{label} stored and analysed after {took:.0f}s{counted}", file=sys.stderr)
        if label.startswith("recent"):
            print(f"  see them at {api}/?from={history / 3600:.0f}h", file=sys.stderr)
    print(f"\nlive after {time.monotonic() - began:.0f}s ({note()}). Open:", file=sys.stderr)
    print(f"  dashboards          {api}/", file=sys.stderr)
    print(f"  health              {api}/api/v1/health", file=sys.stderr)
    print(f"  incidents           {api}/api/v1/incidents?since=24h", file=sys.stderr)
    print(f"  SLOs                {api}/slos  (tailsight slo list --api {api})", file=sys.stderr)
    print(f"  alerts              tailsight alerts list --api {api}", file=sys.stderr)
    print(f"  ingest metrics      {api}/metrics", file=sys.stderr)
    print(
        f"  OTLP endpoints      http://{host}:{args.otlp_http_port} (HTTP), "
        f"{host}:{args.otlp_grpc_port} (gRPC)",
        file=sys.stderr,
    )
    print(f"  ground truth        {data_dir / 'truth.json'}", file=sys.stderr)
    print(
        f"streaming live telemetry; a new fault every {every:.0f}s. Ctrl-C to stop.",
        file=sys.stderr,
    )

    sim.set_sampling(LIVE.spans_per_window)
    faults = LiveFaults(sim.fleet, every, seed=args.seed)
    deadline = time.monotonic() + live_for if live_for is not None else None

    def on_tick(t: float) -> None:
        if time.time() - t > 2 * sim.engine.dt:
            return  # still catching up with the wall clock: no new fault in the past
        fault = faults.due(t)
        if fault is None:
            return
        sim.engine.add_fault(fault)
        info = truth(fault, sim.fleet)
        culprit = info["culprit"]["id"] if info["culprit"] else "nothing (a distractor)"
        hurt = ", ".join(info["affected_services"]) or "no service"
        print(
            f"{time.strftime('%H:%M:%S')} fault {fault.kind} for {fault.end - fault.start:.0f}s: "
            f"culprit {culprit}; hurts {hurt}",
            file=sys.stderr,
        )

    live(
        sim,
        sender,
        stop=lambda: deadline is not None and time.monotonic() > deadline,
        on_tick=on_tick,
    )
