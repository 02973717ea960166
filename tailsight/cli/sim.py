"""``tailsight sim``: the fleet simulator: write a labelled corpus, or send a scenario over OTLP."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from tailsight.cli import CliError
from tailsight.sim.corpus import parse_seeds, write_corpus
from tailsight.sim.prometheus import PromSimulation, RemoteWriteSender, send_prometheus
from tailsight.sim.scenario import Scenario, ScenarioError, Simulation, load_scenario
from tailsight.sim.sender import OtlpHttpSender, SendError, backfill, live
from tailsight.timeutil import parse_duration


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sim",
        help="simulate a GPU inference fleet with injected faults",
        description="The fleet simulator: a labelled corpus of scenarios with ground truth "
        "(`sim corpus`), or a scenario's telemetry sent over OTLP/HTTP (`sim run`).",
    )
    simsub = parser.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)
    corpus = simsub.add_parser(
        "corpus",
        help="write scenarios and their ground truth, one per seed",
        description="Write DIR/seed-NNNN/scenario.yaml and truth.json per seed, and "
        "DIR/index.json. The truth format is described in tailsight/sim/__init__.py.",
    )
    corpus.add_argument("--seeds", default="1-50", help="seeds: 1-50, 7 or 1,4,9-12 (default 1-50)")
    corpus.add_argument("--out", required=True, metavar="DIR", help="output directory")
    corpus.add_argument("--duration", default="2h", help="length of each scenario (default 2h)")
    corpus.set_defaults(handler=run_corpus)

    run = simsub.add_parser(
        "run",
        help="send a scenario's spans and metrics to an OTLP/HTTP endpoint",
        description="Send a scenario's telemetry as OTLP protobuf. By default its own time "
        "range is sent as fast as the receiver accepts; --backfill D moves the scenario to "
        "end now and last D; --live then keeps sending in real time.",
    )
    run.add_argument("--scenario", required=True, metavar="FILE", help="scenario YAML")
    run.add_argument("--endpoint", default="http://127.0.0.1:4318", help="OTLP/HTTP base URL")
    run.add_argument("--token", help="bearer token of the receiver")
    run.add_argument("--backfill", metavar="DURATION", help="re-anchor the scenario to end now")
    run.add_argument(
        "--live", action="store_true", help="after the backfill, continue in real time"
    )
    run.add_argument("--live-for", metavar="DURATION", help="stop the live phase after this long")
    run.add_argument(
        "--retry-for",
        default="2m",
        metavar="DURATION",
        help="keep retrying an overloaded receiver this long (default 2m; 15s at most when unreachable)",
    )
    run.add_argument("--truth", metavar="FILE", help="write the (re-anchored) truth JSON here")
    run.add_argument(
        "--telemetry",
        choices=("otlp", "prometheus"),
        default="otlp",
        help="otlp: the agent's metrics over OTLP (default); prometheus: no agent, the "
        "fleet's dcgm-exporter, node_exporter and vLLM/Triton series as remote write "
        "(spans still over OTLP); see docs/prometheus.md",
    )
    run.add_argument(
        "--remote-write",
        default="http://127.0.0.1:8050/api/v1/write",
        metavar="URL",
        help="remote-write URL for --telemetry prometheus (default: the API port's)",
    )
    run.set_defaults(handler=run_scenario)


def run_corpus(args: argparse.Namespace) -> int:
    try:
        seeds = parse_seeds(args.seeds)
        duration = parse_duration(args.duration).total_seconds()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if duration < 3600:
        raise CliError("--duration must be at least 1h (40 min of baseline come first)")
    index = write_corpus(seeds, Path(args.out), duration)
    faults = sum(len(e["kinds"]) for e in index)
    print(f"wrote {len(index)} scenarios with {faults} faults to {args.out}")
    return 0


def reanchor(scenario: Scenario, end: float, duration_s: float) -> Scenario:
    """The scenario moved to ``[end - duration_s, end)``, faults shifted with it."""
    shift = end - duration_s - scenario.start
    faults = tuple(replace(f, start=f.start + shift, end=f.end + shift) for f in scenario.faults)
    return replace(scenario, start=scenario.start + shift, duration_s=duration_s, faults=faults)


def run_scenario(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(Path(args.scenario))
        if args.backfill:
            now = float(int(time.time()) // 10 * 10)
            scenario = reanchor(scenario, now, parse_duration(args.backfill).total_seconds())
        live_for = parse_duration(args.live_for).total_seconds() if args.live_for else None
        retry_for = parse_duration(args.retry_for).total_seconds()
    except (ScenarioError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if args.truth:
        Path(args.truth).write_text(json.dumps(scenario.truth(), indent=2) + "\n")
    if args.telemetry == "prometheus":
        if args.live:
            raise CliError("--live is not available with --telemetry prometheus")
        return _run_prometheus(scenario, args, retry_for)
    sim = Simulation(scenario)
    try:
        sender = OtlpHttpSender(args.endpoint, token=args.token, give_up_s=retry_for)
        started = time.monotonic()
        backfill(sim, sender, scenario.end)
        took = time.monotonic() - started
        print(
            f"sent {sender.stats.spans} spans and {sender.stats.points} metric points "
            f"({sender.stats.requests} requests, {sender.stats.retries} retries) in {took:.1f}s",
            file=sys.stderr,
        )
        if args.live:
            deadline = time.monotonic() + live_for if live_for else None
            live(sim, sender, stop=lambda: deadline is not None and time.monotonic() > deadline)
    except SendError as exc:
        raise CliError(str(exc)) from None
    return 0


def _run_prometheus(scenario: Scenario, args: argparse.Namespace, retry_for: float) -> int:
    """The scenario as its exporters publish it: remote write, spans over OTLP."""
    sim = PromSimulation(scenario)
    try:
        otlp = OtlpHttpSender(args.endpoint, token=args.token, give_up_s=retry_for)
        remote = RemoteWriteSender(args.remote_write, token=args.token, give_up_s=retry_for)
    except (SendError, ValueError) as exc:
        raise CliError(str(exc)) from None
    started = time.monotonic()
    try:
        samples = send_prometheus(sim, otlp, remote, scenario.end)
    except (SendError, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    finally:
        otlp.close()
        remote.close()
    print(
        f"sent {sim.spans_sent} spans over OTLP and {samples} exporter samples as remote "
        f"write ({remote.requests} requests) in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    return 0
