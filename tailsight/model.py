"""The domain types that cross package seams: incidents, their causes and evidence.

Frozen dataclasses with a ``to_json`` that is exactly CONTRACT §4's shape. ``analysis``
produces them, ``storage`` persists them, the API and CLI render them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

CAUSE_KINDS = (
    "network_congestion",
    "noisy_neighbor",
    "gpu_underutilized",
    "cpu_saturation",
    "load_surge",
    "unknown",
)
SLIS = ("", "ttft", "tpot")  # what an incident's p99 is of; "" = request duration
SLI_NAMES = {"ttft": "time to first token", "tpot": "time per output token"}
ENTITY_TYPES = ("switch_port", "nic", "process", "pod", "gpu", "host", "service")


def iso(ts: datetime | None) -> str | None:
    """``2026-11-22T10:04:00Z`` (milliseconds kept when present), or ``None``."""
    if ts is None:
        return None
    ts = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    text = ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return text.replace(".000Z", "Z")


@dataclass(frozen=True)
class Entity:
    """A culprit: ``type`` is one of ENTITY_TYPES, ``id`` as CONTRACT §4 spells it."""

    type: str
    id: str

    def __post_init__(self) -> None:
        if self.type not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {self.type!r}")


@dataclass(frozen=True)
class Evidence:
    """One metric's value before (baseline) and during a spike, for one entity."""

    metric: str
    entity: str
    baseline: float
    during: float
    unit: str

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "entity": self.entity,
            "baseline": self.baseline,
            "during": self.during,
            "unit": self.unit,
        }


@dataclass(frozen=True)
class Cause:
    """One ranked explanation of an incident."""

    kind: str
    score: float
    service: str
    entity: Entity | None
    summary: str
    evidence: tuple[Evidence, ...] = ()
    # The score before calibration (``analysis.calibration``), as analysis computed it;
    # in memory only (not in the JSON of CONTRACT §4, not stored): the benches read it.
    raw_score: float | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in CAUSE_KINDS:
            raise ValueError(f"unknown cause kind {self.kind!r}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"cause score {self.score} is outside 0..1")

    @classmethod
    def unknown(cls, service: str, summary: str) -> Cause:
        """No candidate explains the spike (yet): score 0, no culprit, ``summary`` says why."""
        return cls(kind="unknown", score=0.0, service=service, entity=None, summary=summary)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "score": round(self.score, 4),
            "service": self.service,
            "entity": {"type": self.entity.type, "id": self.entity.id} if self.entity else None,
            "summary": self.summary,
            "evidence": [e.to_json() for e in self.evidence],
        }


@dataclass(frozen=True)
class Incident:
    """A tail-latency spike of one service (and operation), with its causes ranked by score."""

    service: str
    start: datetime
    end: datetime | None
    p99_ms: float
    baseline_p99_ms: float
    operation: str = ""
    request_count: int = 0
    causes: tuple[Cause, ...] = field(default=())
    # What ``p99_ms`` is of: "" request duration, "ttft" time to first token, "tpot" time
    # per output token (CONTRACT §3, LLM latency); ``model`` for the LLM SLIs.
    sli: str = ""
    model: str = ""
    # What spiked (CONTRACT §4): "" or "service" the whole service, "replica" one replica
    # of it, named by ``replica`` (``<host>/<pid>``); attribution looks there first.
    scope: str = ""
    replica: str = ""

    def __post_init__(self) -> None:
        if self.sli not in SLIS:
            raise ValueError(f"unknown incident SLI {self.sli!r}; known: {SLIS}")

    @property
    def measure(self) -> str:
        """What ``p99_ms`` is of, in words: ``latency``, or ``time to first token of <model>``."""
        if not self.sli:
            return "latency"
        name = SLI_NAMES[self.sli]
        return f"{name} of {self.model}" if self.model else name

    @property
    def id(self) -> str:
        """Stable across re-analysis: the same service, operation and onset give the same id."""
        key = f"{self.service}\x00{self.operation}\x00{int(self.start.timestamp())}"
        if self.sli:
            key += f"\x00{self.sli}\x00{self.model}"
        if self.replica:
            key += f"\x00replica\x00{self.replica}"
        return hashlib.sha1(key.encode()).hexdigest()[:16]

    def ranked(self) -> Incident:
        return replace(self, causes=tuple(sorted(self.causes, key=lambda c: c.score, reverse=True)))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "service": self.service,
            "start": iso(self.start),
            "end": iso(self.end),
            "p99_ms": round(self.p99_ms, 3),
            "baseline_p99_ms": round(self.baseline_p99_ms, 3),
            "causes": [c.to_json() for c in sorted(self.causes, key=lambda c: -c.score)],
        }
        if self.operation:
            out["operation"] = self.operation
        if self.request_count:
            out["request_count"] = self.request_count
        if self.sli:
            out["sli"] = self.sli
        if self.model:
            out["model"] = self.model
        if self.scope:
            out["scope"] = self.scope
        if self.replica:
            out["replica"] = self.replica
        return out
