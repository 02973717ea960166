"""Prometheus series → typed OTLP points: counters, gauges, classic histograms, summaries.

Prometheus keeps a histogram as separate series (``x_bucket{le=…}``, ``x_sum``,
``x_count``) and a summary as ``x{quantile=…}``, ``x_sum``, ``x_count``. A scrape
delivers a family whole; remote write does not: Prometheus shards series across
requests, so one histogram observation may arrive in two requests. The
:class:`Assembler` groups the pieces of one observation (family, labels, timestamp),
emits a group once it is complete, and holds an incomplete one (see
``tailsight.pipeline.prom_remote``) until its other pieces arrive or it is too old.

Type comes from the exposition's ``# TYPE`` (scrape), from remote-write metadata, or,
lacking both, from the series' shape: ``le`` on ``_bucket`` makes a histogram,
``quantile`` a summary, ``_total`` a counter, anything else a gauge (what the Collector
does with untyped metrics).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tailsight.pipeline.prom_otlp import Emitter, Labels, target_resource

STALE_NAN = 0x7FF0000000000002  # Prometheus' staleness marker, not a value
COMPOSITE = ("histogram", "summary", "gaugehistogram")
_MAX_TRACKED = 1_000_000


def is_stale(value: float) -> bool:
    return math.isnan(value) and struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN


def split_target(labels: dict[str, str]) -> tuple[str, str, Labels]:
    """(job, instance, the other labels as sorted attributes)."""
    job = labels.pop("job", "")
    instance = labels.pop("instance", "")
    return job, instance, tuple(sorted(labels.items()))


class StartTimes:
    """Start time of each cumulative series: first seen, or the sample after a reset.

    The Collector's Prometheus receiver does the same (its metrics adjuster); a drop in
    value starts the series anew, so a restarted exporter is a reset, not a negative rate.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[object, ...], tuple[int, float]] = {}

    def start(self, key: tuple[object, ...], ts_ns: int, value: float) -> int:
        prior = self._seen.get(key)
        if prior is None or value < prior[1]:
            start = ts_ns
        else:
            start = prior[0]
        if prior is None and len(self._seen) >= _MAX_TRACKED:
            self._seen.pop(next(iter(self._seen)))  # the oldest tracked series
        self._seen[key] = (start, value)
        return start


@dataclass
class Group:
    """The pieces of one histogram or summary observation."""

    kind: str  # histogram | summary
    base: str
    labels: Labels  # all labels but __name__, le and quantile (job and instance included)
    ts_ms: int
    buckets: dict[float, float] = field(default_factory=dict)
    quantiles: dict[float, float] = field(default_factory=dict)
    sum: float | None = None
    count: float | None = None
    arrived: float = 0.0  # monotonic time the first piece arrived

    def pieces(self) -> int:
        return (
            len(self.buckets) + len(self.quantiles)
            + (self.sum is not None) + (self.count is not None)
        )  # fmt: skip


KindOf = Callable[[str], str | None]
GroupKey = tuple[str, Labels, int]


class Assembler:
    """Turns raw samples into points on ``emitter``; histogram and summary pieces go into groups.

    Args:
        kind_of: the declared type of a metric family (``None`` when unknown).
        start_times: the cumulative series' start times, kept across calls.
        scheme: ``url.scheme`` of scraped targets (``None`` for remote write).
    """

    def __init__(self, kind_of: KindOf, start_times: StartTimes, scheme: str | None = None):
        self.kind_of = kind_of
        self.start_times = start_times
        self.scheme = scheme
        self.groups: dict[GroupKey, Group] = {}
        self.known_bounds: dict[tuple[str, Labels], frozenset[float]] = {}
        self.stale = 0
        self._resources: dict[tuple[str, str], Labels] = {}

    def resource(self, job: str, instance: str) -> Labels:
        """The target's resource, built once per target (every sample of it asks)."""
        key = (job, instance)
        found = self._resources.get(key)
        if found is None:
            if len(self._resources) >= _MAX_TRACKED:
                self._resources.clear()
            found = self._resources[key] = target_resource(job, instance, self.scheme)
        return found

    def _role(self, name: str, labels: dict[str, str]) -> tuple[str, str]:
        """(family, role): role is bucket, quantile, sum, count, created, counter or gauge."""
        kind_of = self.kind_of
        if name.endswith("_bucket") and "le" in labels:
            if kind_of(name[:-7]) in (None, "unknown", "histogram", "gaugehistogram"):
                return name[:-7], "bucket"
        if "quantile" in labels and kind_of(name) in (None, "unknown", "summary"):
            return name, "quantile"
        for suffix in ("_sum", "_count", "_created"):
            if name.endswith(suffix):
                base = name[: -len(suffix)]
                kind = kind_of(base)
                if kind in COMPOSITE or (kind == "counter" and suffix == "_created"):
                    return base, suffix[1:]
        own = kind_of(name)
        if own == "counter" or (
            own in (None, "unknown") and name.endswith("_total")
            and kind_of(name[:-6]) in (None, "unknown", "counter")
        ):
            return name, "counter"
        return name, "gauge"

    def add(
        self, name: str, labels: dict[str, str], ts_ms: int, value: float, emitter: Emitter,
        arrived: float = 0.0,
    ) -> None:
        """One sample; plain series are emitted at once, composite pieces grouped."""
        if is_stale(value):
            self.stale += 1
            return
        base, role = self._role(name, labels)
        if role in ("counter", "gauge"):
            job, instance, attrs = split_target(labels)
            resource = self.resource(job, instance)
            ts_ns = ts_ms * 1_000_000
            if role == "counter":
                start = self.start_times.start((resource, name, attrs), ts_ns, value)
                emitter.number(resource, name, "sum", "", attrs, ts_ns, value, start)
            else:
                emitter.number(resource, name, "gauge", "", attrs, ts_ns, value)
            return
        if role == "created":
            return  # a start time Prometheus keeps as a series of its own: not a sample
        le = labels.pop("le", None) if role == "bucket" else None
        q = labels.pop("quantile", None) if role == "quantile" else None
        key = (base, tuple(sorted(labels.items())), ts_ms)
        group = self.groups.get(key)
        if group is None:
            kind = self.kind_of(base)
            if kind not in ("histogram", "summary", "gaugehistogram"):
                kind = "histogram" if role == "bucket" else "summary"
            group = Group("summary" if kind == "summary" else "histogram", base, key[1], ts_ms)
            group.arrived = arrived
            self.groups[key] = group
        if le is not None:
            group.buckets[_float(le)] = value
        elif q is not None:
            group.quantiles[_float(q)] = value
        elif role == "sum":
            group.sum = value
        else:
            group.count = value

    def complete(self, group: Group) -> bool:
        """Whether every piece this observation is known to have has arrived."""
        if group.sum is None or group.count is None:
            return False
        if group.kind == "summary":
            return True
        seen = self.known_bounds.get((group.base, group.labels), frozenset((math.inf,)))
        return seen.issubset(group.buckets)

    def emit_groups(
        self, emitter: Emitter, keep: Callable[[Group], bool] = lambda g: False
    ) -> None:
        """Emit every group ``keep`` does not hold back; held ones stay in :attr:`groups`."""
        held: dict[GroupKey, Group] = {}
        for key, group in self.groups.items():
            if keep(group):
                held[key] = group
            else:
                self._emit(group, emitter)
        self.groups = held

    def _emit(self, group: Group, emitter: Emitter) -> None:
        job, instance, attrs = split_target(dict(group.labels))
        resource = self.resource(job, instance)
        ts_ns = group.ts_ms * 1_000_000
        total = group.sum if group.sum is not None else math.nan
        if group.kind == "summary":
            count = group.count or 0.0
            start = self.start_times.start((resource, group.base, attrs), ts_ns, count)
            emitter.summary(
                resource, group.base, "", attrs, ts_ns, start, int(count),
                total if group.sum is not None else 0.0, sorted(group.quantiles.items()),
            )  # fmt: skip
            return
        if len(self.known_bounds) >= _MAX_TRACKED:
            self.known_bounds.clear()  # forgetting only delays a later split group's completion
        self.known_bounds[(group.base, group.labels)] = frozenset(group.buckets)
        les = sorted(group.buckets)
        count = group.count if group.count is not None else group.buckets.get(math.inf, 0.0)
        bounds = [le for le in les if not math.isinf(le)]
        counts: list[int] = []
        below = 0.0
        for le in bounds:
            cum = group.buckets[le]
            counts.append(max(0, round(cum - below)))
            below = max(below, cum)
        counts.append(max(0, round(count - below)))
        start = self.start_times.start((resource, group.base, attrs), ts_ns, count)
        emitter.histogram(
            resource, group.base, "", attrs, ts_ns, start, round(count), total, bounds, counts
        )


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def feed(
    assembler: Assembler,
    samples: Iterable[tuple[str, dict[str, str], int, float]],
    emitter: Emitter,
    arrived: float = 0.0,
) -> int:
    """Add every ``(name, labels, ts_ms, value)``; returns how many were taken."""
    n = 0
    for name, labels, ts_ms, value in samples:
        assembler.add(name, labels, ts_ms, value, emitter, arrived)
        n += 1
    return n
