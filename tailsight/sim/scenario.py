"""Scenarios: a fleet, its faults and a seed, as YAML; and the OTLP requests they produce.

A scenario file::

    seed: 7
    start: 2026-11-20T08:00:00Z      # ISO time; "now" and durations ("24h" = 24 h ago) too
    duration: 2h
    tick_s: 10                        # metric interval and state step
    spans_per_window: 40              # sampled external requests per service per 10 s, on average
    fleet: {leaves: 2, serving_nodes_per_leaf: 3, services: {llm-gateway: 4, embedder: 3}}
    faults:
      - {id: f1, kind: port_congestion, start: 40m, end: 52m, target: leaf1/Ethernet4,
         intensity: 0.9, ramp_s: 60, sources: [gpu-node-04]}

Fault ``start``/``end`` are ISO times or offsets from the scenario's start. The same file
and seed give the same telemetry, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tailsight.model import iso
from tailsight.sim.faults import LLM_KINDS, Fault, truth
from tailsight.sim.fleet import Fleet, FleetSpec, build_fleet
from tailsight.sim.latency import sample_probability, sample_requests
from tailsight.sim.llm import generative_services
from tailsight.sim.state import Engine, TickState
from tailsight.sim.telemetry import MetricBuilder, spans_request
from tailsight.timeutil import parse_duration, parse_time


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says what and where."""


@dataclass(frozen=True)
class Scenario:
    """A reproducible simulation: fleet shape, faults, time range, sampling, seed."""

    seed: int
    start: float
    duration_s: float
    fleet: FleetSpec = field(default_factory=FleetSpec)
    faults: tuple[Fault, ...] = ()
    tick_s: float = 10.0
    spans_per_window: float = 40.0
    name: str = ""

    @property
    def end(self) -> float:
        return self.start + self.duration_s

    def build_fleet(self) -> Fleet:
        return build_fleet(self.fleet, self.seed)

    def to_yaml(self) -> str:
        spec = asdict(self.fleet)
        spec["gpus_per_node"] = list(self.fleet.gpus_per_node)
        doc = {
            "name": self.name or f"seed-{self.seed}",
            "seed": self.seed,
            "start": iso(datetime.fromtimestamp(self.start, UTC)),
            "duration": f"{int(self.duration_s)}s",
            "tick_s": self.tick_s,
            "spans_per_window": self.spans_per_window,
            "fleet": spec,
            "faults": [f.to_dict() for f in self.faults],
        }
        return yaml.safe_dump(doc, sort_keys=False, width=100)

    def truth(self, fleet: Fleet | None = None) -> dict[str, Any]:
        """The ground truth of this scenario (format in the package docstring)."""
        fleet = fleet or self.build_fleet()
        return {
            "scenario": self.name or f"seed-{self.seed}",
            "seed": self.seed,
            "start": iso(datetime.fromtimestamp(self.start, UTC)),
            "end": iso(datetime.fromtimestamp(self.end, UTC)),
            "faults": [truth(f, fleet) for f in self.faults],
            "fleet": fleet_summary(fleet),
        }


def fleet_summary(fleet: Fleet) -> dict[str, Any]:
    """Where everything is, with CONTRACT §4 ids, for readers of the truth file."""
    port_of = {n.host: n.port for n in fleet.nics.values()}
    return {
        "replicas": [
            {
                "service": r.service,
                "host": r.host,
                "pid": r.pid,
                "process": r.id,
                "gpu": f"{r.host}/{r.gpu}",
                "switch_port": port_of[r.host],
            }
            for r in fleet.replicas
        ],
        "jobs": [
            {
                "job": j.job,
                "host": j.host,
                "pid": j.pid,
                "process": j.id,
                "gpu": f"{j.host}/{j.gpu}" if j.gpu else None,
            }
            for j in fleet.jobs
        ],
        "nics": {n.id: n.port for n in fleet.nics.values()},
        "idle_gpus": [g.id for g in fleet.idle_gpus()],
    }


def _time(value: Any, base: float | None, what: str) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    text = str(value)
    if base is not None:
        try:
            return base + parse_duration(text).total_seconds()
        except ValueError:
            pass
    try:
        return parse_time(text).timestamp()
    except ValueError as exc:
        raise ScenarioError(f"{what}: {exc}") from None


def load_scenario(path: Path) -> Scenario:
    """Read a scenario YAML file; ``ScenarioError`` names what is wrong."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ScenarioError(f"{path}: expected a mapping at the top level")
    return scenario_from_dict(doc, str(path))


def scenario_from_dict(doc: dict[str, Any], where: str = "scenario") -> Scenario:
    try:
        start = _time(doc.get("start", "2h"), None, f"{where}: start")
        duration = parse_duration(str(doc.get("duration", "2h"))).total_seconds()
        spec_doc = dict(doc.get("fleet") or {})
        known = {f.name for f in fields(FleetSpec)}
        unknown = set(spec_doc) - known
        if unknown:
            raise ScenarioError(f"{where}: unknown fleet keys {sorted(unknown)}")
        if "gpus_per_node" in spec_doc:
            spec_doc["gpus_per_node"] = tuple(int(g) for g in spec_doc["gpus_per_node"])
        faults = []
        for i, f in enumerate(doc.get("faults") or []):
            faults.append(
                Fault(
                    id=str(f.get("id", f"f{i + 1}")),
                    kind=str(f["kind"]),
                    start=_time(f["start"], start, f"{where}: fault {i + 1} start"),
                    end=_time(f["end"], start, f"{where}: fault {i + 1} end"),
                    target=str(f["target"]),
                    intensity=float(f.get("intensity", 1.0)),
                    ramp_s=float(f.get("ramp_s", 30.0)),
                    pid=int(f["pid"]) if f.get("pid") is not None else None,
                    executable=f.get("executable"),
                    sources=tuple(f.get("sources") or ()),
                )
            )
        scenario = Scenario(
            seed=int(doc.get("seed", 0)),
            start=start,
            duration_s=duration,
            fleet=FleetSpec(**spec_doc),
            faults=tuple(faults),
            tick_s=float(doc.get("tick_s", 10.0)),
            spans_per_window=float(doc.get("spans_per_window", 40.0)),
            name=str(doc.get("name", "")),
        )
    except ScenarioError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: {type(exc).__name__}: {exc}") from None
    fleet = scenario.build_fleet()
    for f in scenario.faults:
        try:
            truth(f, fleet)  # validates targets against the fleet
        except ValueError as exc:
            raise ScenarioError(f"{where}: fault {f.id}: {exc}") from None
        if f.kind.endswith("port_congestion") and f.target not in fleet.ports:
            raise ScenarioError(f"{where}: fault {f.id}: unknown switch port {f.target!r}")
        if f.kind.startswith("gpu_") and f.target not in fleet.gpus:
            raise ScenarioError(f"{where}: fault {f.id}: unknown GPU {f.target!r}")
        if f.kind in LLM_KINDS and f.target not in generative_services(fleet):
            raise ScenarioError(
                f"{where}: fault {f.id}: {f.kind} needs a generative service as target, "
                f"not {f.target!r} (these are: {', '.join(generative_services(fleet))})"
            )
    return scenario


@dataclass(frozen=True)
class Batch:
    """The OTLP requests of ``ticks`` consecutive ticks ending at ``t``."""

    t: float
    ticks: int
    spans: ExportTraceServiceRequest | None
    metrics: ExportMetricsServiceRequest | None
    n_spans: int
    n_points: int


class Simulation:
    """Runs a scenario tick by tick and packs its telemetry into OTLP requests.

    ``metric_every`` emits metrics every that many ticks (counters stay exact, gauges are
    the latest tick's); ``spans_per_window`` overrides the scenario's sampling, e.g. lower
    for old backfilled history. Both can change between calls to :meth:`batches`.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.fleet = scenario.build_fleet()
        self.engine = Engine(
            self.fleet, list(scenario.faults), scenario.seed, scenario.start, scenario.tick_s
        )
        self.metrics = MetricBuilder(self.fleet, scenario.start)
        self.rng = np.random.default_rng([scenario.seed, 2])
        self.spans_sent = 0
        self.ticks = 0  # steps taken, for metric_every across batches
        self.points_sent = 0
        self.set_sampling(scenario.spans_per_window)

    def set_sampling(self, spans_per_window: float) -> None:
        services = {r.service for r in self.fleet.replicas}
        self.probabilities = {
            s: sample_probability(self.fleet, s, spans_per_window) for s in services
        }

    def step(self) -> TickState:
        self.ticks += 1
        return self.engine.step()

    def batches(
        self, until: float, ticks_per_batch: int = 6, metric_every: int = 1
    ) -> Iterator[Batch]:
        """Batches of telemetry from the current time up to ``until`` (unix seconds)."""
        n = 0
        pending = []
        while self.engine.t + self.engine.dt <= until + 1e-6:
            state = self.step()
            n += 1
            pending.extend(sample_requests(state, self.fleet, self.probabilities, self.rng))
            if self.ticks % metric_every == 0:
                self.metrics.add_tick(state)
            if n % ticks_per_batch == 0 or self.engine.t + self.engine.dt > until + 1e-6:
                yield self._pack(state.t, pending, n)
                pending = []
                n = 0

    def _pack(self, t: float, requests: list[Any], ticks: int) -> Batch:
        before = self.metrics.points
        metrics = self.metrics.flush()
        n_points = self.metrics.points - before
        spans = spans_request(requests, self.fleet) if requests else None
        self.spans_sent += len(requests)
        self.points_sent += n_points
        return Batch(t, ticks, spans, metrics if n_points else None, len(requests), n_points)
