"""Helpers for the Prometheus tests: recorded payloads, conversion to OTLP, flattened points."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from tailsight.pipeline.prom_convert import StartTimes
from tailsight.pipeline.prom_otlp import RequestBuilder
from tailsight.pipeline.prom_scrape import convert_scrape, exposition_samples
from tailsight.pipeline.prom_semantic import SemanticMapping

FIXTURES = Path(__file__).parent / "prom_fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


@dataclass(frozen=True)
class Point:
    resource: dict[str, str]
    name: str
    kind: str
    attrs: dict[str, str]
    dp: Any

    @property
    def value(self) -> float:
        return float(self.dp.as_double)


def points(req: ExportMetricsServiceRequest) -> list[Point]:
    out = []
    for rm in req.resource_metrics:
        resource = {kv.key: kv.value.string_value for kv in rm.resource.attributes}
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                for dp in getattr(m, kind).data_points:
                    attrs = {kv.key: kv.value.string_value for kv in dp.attributes}
                    out.append(Point(resource, m.name, kind, attrs, dp))
    return out


def scrape_payloads(
    payloads: list[str], job: str = "dcgm", instance: str = "10.0.0.7:9400",
    step_ms: int = 15_000, t0_ms: int = 1_790_000_000_000, mapping: SemanticMapping | None = None,
) -> list[list[Point]]:
    """Each payload converted as one scrape of one target, ``step_ms`` apart; points per scrape."""
    mapping = mapping or SemanticMapping()
    starts = StartTimes()
    out = []
    for i, text in enumerate(payloads):
        builder = RequestBuilder()
        emitter = mapping.wrap(builder)
        kinds, samples = exposition_samples(
            text, "text/plain; version=0.0.4", {"job": job, "instance": instance}, t0_ms + i * step_ms
        )
        convert_scrape(kinds, samples, emitter, starts, "http")
        emitter.flush()
        out.append(points(builder.request()))
    return out


def named(pts: list[Point], name: str) -> list[Point]:
    return [p for p in pts if p.name == name]
