"""Adds CONTRACT §3 metrics to Prometheus data, so the analysis works without tailsight's agent.

A :class:`SemanticMapping` holds what the stateful rules need across scrapes and
requests (prior samples for rates, integrals and change counts); ``mapping.wrap(builder)``
is the :class:`~tailsight.pipeline.prom_otlp.Emitter` the receivers write to: it passes
every point on unchanged and, for a series in ``prom_semantic_table``, emits the mapped
one beside it. Mapped points get the target's resource plus ``host.name`` (from the
exporter's ``Hostname``/``hostname``/``nodename``/``node`` label, else the target's
address), which is how the analysis joins GPU, NIC and host series to the services.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tailsight.pipeline.prom_convert import StartTimes
from tailsight.pipeline.prom_otlp import Emitter, Labels
from tailsight.pipeline.prom_semantic_table import MIB, Rule, rule_for

_HOST_LABELS = ("Hostname", "hostname", "nodename", "node")
_DCGM_ATTRS = {"UUID": "hw.id", "gpu": "hw.name", "pod": "k8s.pod.name",
               "namespace": "k8s.namespace.name", "container": "k8s.container.name"}  # fmt: skip
_NODE_ATTRS = {"device": "network.interface.name"}
_LLM_ATTRS = {"model_name": "gen_ai.request.model", "model": "gen_ai.request.model"}
_IDLE = ("idle", "iowait")
_MAX_STATE = 1_000_000


def _translate(rule: Rule, attrs: Labels) -> tuple[str | None, Labels]:
    """(host name from the labels, the mapped point's attributes)."""
    names = {"dcgm": _DCGM_ATTRS, "node": _NODE_ATTRS, "llm": _LLM_ATTRS}[rule.labels]
    host = None
    out: dict[str, str] = {}
    for key, value in attrs:
        if key in _HOST_LABELS:
            host = value
        elif key in names and value:
            out[names[key]] = f"gpu{value}" if key == "gpu" and value.isdigit() else value
    if rule.labels == "dcgm":
        out["hw.type"] = "gpu"
    out.update(rule.attrs)
    return host, tuple(sorted(out.items()))


def _resource(resource: Labels, host: str | None) -> Labels:
    attrs = dict(resource)
    attrs["host.name"] = host or attrs.get("server.address", "")
    return tuple(sorted(attrs.items()))


class SemanticMapping:
    """State shared by every request's mapper: priors of stateful rules, start times."""

    def __init__(self) -> None:
        self.start_times = StartTimes()
        self.prior: dict[tuple[Any, ...], tuple[int, float, float]] = {}

    def wrap(self, inner: Emitter) -> Emitter:
        return _Mapper(self, inner)

    def remember(self, key: tuple[Any, ...], ts_ns: int, value: float, acc: float) -> None:
        if key not in self.prior and len(self.prior) >= _MAX_STATE:
            self.prior.pop(next(iter(self.prior)))
        self.prior[key] = (ts_ns, value, acc)


class _Mapper:
    """One request's mapping emitter (see :class:`SemanticMapping`)."""

    def __init__(self, state: SemanticMapping, inner: Emitter) -> None:
        self.state = state
        self.inner = inner
        # (resource, attrs, ts) -> {source: value}, combined on flush
        self._memory: dict[tuple[Labels, Labels, int], dict[str, float]] = {}
        self._cpu: dict[tuple[Labels, int], list[float]] = {}

    def number(
        self, resource: Labels, name: str, kind: str, unit: str, attrs: Labels,
        ts_ns: int, value: float, start_ns: int = 0,
    ) -> None:
        self.inner.number(resource, name, kind, unit, attrs, ts_ns, value, start_ns)
        rule = rule_for(name)
        if rule is None or rule.kind == "histogram":
            return
        host, mapped = _translate(rule, attrs)
        res = _resource(resource, host)
        out = self.inner
        how = rule.how
        if how == "copy":
            if rule.kind == "sum":
                start = start_ns or self.state.start_times.start((res, rule.target, mapped),
                                                                 ts_ns, value)  # fmt: skip
                out.number(res, rule.target, "sum", rule.unit, mapped, ts_ns,
                           value * rule.scale, start)  # fmt: skip
            else:
                out.number(res, rule.target, "gauge", rule.unit, mapped, ts_ns, value * rule.scale)
        elif how == "memory_limit":
            self._memory.setdefault((res, mapped, ts_ns), {})[name] = value
        elif how == "cpu":
            busy = self._cpu.setdefault((res, ts_ns), [0.0, 0.0])
            busy[0] += value
            if dict(attrs).get("mode") in _IDLE:
                busy[1] += value
        else:
            self._stateful(rule, res, mapped, name, ts_ns, value)
        if rule.target == "hw.gpu.memory.usage":  # used is also a part of the limit
            self._memory.setdefault((res, mapped, ts_ns), {})[name] = value

    def _stateful(
        self, rule: Rule, res: Labels, attrs: Labels, name: str, ts_ns: int, value: float
    ) -> None:
        key = (res, name, attrs)
        prior = self.state.prior.get(key)
        if rule.how == "rate":
            self.state.remember(key, ts_ns, value, 0.0)
            if prior is not None and ts_ns > prior[0] and value >= prior[1]:
                rate = (value - prior[1]) / ((ts_ns - prior[0]) / 1e9)
                self.inner.number(res, rule.target, "gauge", rule.unit, attrs, ts_ns, rate)
            return
        if prior is None:
            total = 0.0
        elif rule.how == "integrate":
            total = prior[2] + max(0.0, (prior[1] + value) / 2) * max(0, ts_ns - prior[0]) / 1e9
        else:  # changes: a new non-zero "last XID" is one more error
            total = prior[2] + (1.0 if value != prior[1] and value != 0 else 0.0)
        self.state.remember(key, ts_ns, value, total)
        start = self.state.start_times.start((res, rule.target, attrs), ts_ns, total)
        self.inner.number(res, rule.target, "sum", rule.unit, attrs, ts_ns, total, start)

    def histogram(
        self, resource: Labels, name: str, unit: str, attrs: Labels, ts_ns: int, start_ns: int,
        count: int, total: float, bounds: Sequence[float], counts: Sequence[int],
    ) -> None:
        self.inner.histogram(resource, name, unit, attrs, ts_ns, start_ns, count, total,
                             bounds, counts)  # fmt: skip
        rule = rule_for(name)
        if rule is None or rule.kind != "histogram":
            return
        host, mapped = _translate(rule, attrs)
        s = rule.scale
        self.inner.histogram(_resource(resource, host), rule.target, rule.unit, mapped, ts_ns,
                             start_ns, count, total * s, [b * s for b in bounds], counts)  # fmt: skip

    def summary(
        self, resource: Labels, name: str, unit: str, attrs: Labels, ts_ns: int, start_ns: int,
        count: int, total: float, quantiles: Sequence[tuple[float, float]],
    ) -> None:
        self.inner.summary(resource, name, unit, attrs, ts_ns, start_ns, count, total, quantiles)

    def flush(self) -> None:
        for (res, attrs, ts_ns), parts in self._memory.items():
            if "DCGM_FI_DEV_FB_FREE" in parts and "DCGM_FI_DEV_FB_USED" in parts:
                limit = sum(parts.values()) * MIB
                self.inner.number(res, "hw.gpu.memory.limit", "gauge", "By", attrs, ts_ns, limit)
        for (res, ts_ns), (total, idle) in self._cpu.items():
            key = (res, "node_cpu_seconds_total", ())
            prior = self.state.prior.get(key)
            self.state.remember(key, ts_ns, total, idle)
            if prior is not None and total > prior[1]:
                busy = 1.0 - (idle - prior[2]) / (total - prior[1])
                self.inner.number(res, "system.cpu.utilization", "gauge", "1", (), ts_ns,
                                  min(1.0, max(0.0, busy)))  # fmt: skip
        self._memory.clear()
        self._cpu.clear()
        self.inner.flush()

