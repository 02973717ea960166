"""From simulated state to OTLP protobuf requests: CONTRACT §2 resources, §3 metrics, server spans.

Metrics are built straight as ``ExportMetricsServiceRequest`` messages (no SDK: one
request carries many ticks, each series a data point per tick), which is what makes
backfill fast. Sums are cumulative from the simulation's start, integrated from the
state's per-second rates, so counters and gauges agree with the latency the spans show.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tailsight.collectors.catalogue import spec
from tailsight.sim.fleet import Fleet
from tailsight.sim.latency import Request
from tailsight.sim.llm import LLM_SPAN_NAME, span_attributes
from tailsight.sim.state import TickState

SCOPE = "tailsight.sim"
NAMESPACE = "inference"
Attrs = tuple[tuple[str, str | int | float], ...]
# NIC and port counter fields → (metric, direction, extra attributes)
_NIC_SUMS: tuple[tuple[str, str, str | None, Attrs], ...] = (
    ("rx_bytes", "system.network.io", "receive", ()),
    ("tx_bytes", "system.network.io", "transmit", ()),
    ("rx_pkts", "system.network.packet.count", "receive", ()),
    ("tx_pkts", "system.network.packet.count", "transmit", ()),
    ("rx_drop", "system.network.packet.dropped", "receive", ()),
    ("tx_drop", "system.network.packet.dropped", "transmit", ()),
    ("rx_err", "system.network.errors", "receive", ()),
    ("tx_err", "system.network.errors", "transmit", ()),
    ("pfc_rx", "tailsight.nic.pfc.pause_frames", "receive", (("tailsight.pfc.priority", 3),)),
    ("pfc_tx", "tailsight.nic.pfc.pause_frames", "transmit", (("tailsight.pfc.priority", 3),)),
    ("ecn", "tailsight.rdma.ecn_marked", None, ()),
    ("cnp_sent", "tailsight.rdma.cnp.sent", None, ()),
    ("cnp_handled", "tailsight.rdma.cnp.handled", None, ()),
    ("oos", "tailsight.rdma.out_of_sequence", None, ()),
)
_PORT_SUMS: tuple[tuple[str, str, str | None], ...] = (
    ("rx_bytes", "tailsight.switch.port.io", "receive"),
    ("tx_bytes", "tailsight.switch.port.io", "transmit"),
    ("rx_disc", "tailsight.switch.port.discards", "receive"),
    ("tx_disc", "tailsight.switch.port.discards", "transmit"),
    ("rx_err", "tailsight.switch.port.errors", "receive"),
    ("tx_err", "tailsight.switch.port.errors", "transmit"),
    ("pfc_rx", "tailsight.switch.port.pfc.pause_frames", "receive"),
    ("pfc_tx", "tailsight.switch.port.pfc.pause_frames", "transmit"),
    ("ecn", "tailsight.switch.port.ecn_marked", None),
)


def _kv(key: str, value: str | int | float | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


class MetricBuilder:
    """Turns ticks into metric requests; keeps the cumulative counters between batches."""

    def __init__(self, fleet: Fleet, start: float) -> None:
        self.fleet = fleet
        self.start_ns = int(start * 1e9)
        self.totals: dict[tuple[str, str, Attrs], float] = defaultdict(float)
        self._points: dict[tuple[str, str], dict[str, list[tuple[Attrs, int, float]]]] = {}
        self.points = 0  # data points built so far

    def _add(
        self, res: tuple[str, str], metric: str, attrs: Attrs, t_ns: int, value: float
    ) -> None:
        self._points.setdefault(res, {}).setdefault(metric, []).append((attrs, t_ns, value))

    def _sum(
        self, res: tuple[str, str], metric: str, attrs: Attrs, t_ns: int, rate: float, dt: float
    ) -> None:
        key = (res[1], metric, attrs)
        self.totals[key] += max(0.0, rate) * dt
        self._add(res, metric, attrs, t_ns, float(round(self.totals[key])))

    def add_tick(self, st: TickState) -> None:
        """Record every series of one tick (gauges as they are, sums integrated)."""
        fl, t_ns, dt = self.fleet, int(st.t * 1e9), st.dt
        for name, node in fl.nodes.items():
            res = ("host.name", name)
            for gpu in node.gpus:
                g = st.gpus[gpu.uuid]
                base: Attrs = (("hw.id", gpu.uuid), ("hw.name", gpu.name), ("hw.type", "gpu"))
                self._add(
                    res, "hw.gpu.utilization", (*base, ("hw.gpu.task", "general")), t_ns, g.util
                )
                self._add(res, "hw.gpu.memory.usage", base, t_ns, g.memory)
                self._add(res, "hw.gpu.memory.limit", base, t_ns, float(gpu.memory_bytes))
                self._sum(
                    res,
                    "hw.gpu.io",
                    (*base, ("network.io.direction", "receive")),
                    t_ns,
                    g.pcie_rx,
                    dt,
                )
                self._sum(
                    res,
                    "hw.gpu.io",
                    (*base, ("network.io.direction", "transmit")),
                    t_ns,
                    g.pcie_tx,
                    dt,
                )
                self._add(res, "hw.power", base, t_ns, g.power)
                self._sum(res, "hw.errors", (*base, ("error.type", "xid")), t_ns, 0.0, dt)
                self._add(res, "tailsight.gpu.sm_clock", base, t_ns, g.clock_hz)
                self._add(
                    res,
                    "tailsight.gpu.throttle",
                    (*base, ("tailsight.throttle.reason", "sw_power_cap")),
                    t_ns,
                    1.0 if g.throttled else 0.0,
                )
                for pid, exe, util, mem in g.procs:
                    pa: Attrs = (
                        ("hw.id", gpu.uuid),
                        ("process.pid", pid),
                        ("process.executable.name", exe),
                    )
                    self._add(res, "tailsight.gpu.process.utilization", pa, t_ns, util)
                    self._add(res, "tailsight.gpu.process.memory.usage", pa, t_ns, mem)
            h = st.hosts[name]
            self._add(res, "system.cpu.utilization", (), t_ns, h.cpu)
            for resource, value in h.pressure.items():
                self._add(
                    res,
                    "tailsight.host.pressure",
                    (("tailsight.pressure.resource", resource),),
                    t_ns,
                    value,
                )
            for pid, exe, cpu in h.procs:
                self._add(
                    res,
                    "tailsight.process.cpu.utilization",
                    (("process.pid", pid), ("process.executable.name", exe)),
                    t_ns,
                    cpu,
                )
            self._sum(res, "tailsight.tcp.retransmits", (), t_ns, h.retransmits, dt)
            for nic in node.nics:
                rates = dict(st.nics[nic.id])
                rates["rx_pkts"] = rates["rx_bytes"] / 4096.0
                rates["tx_pkts"] = rates["tx_bytes"] / 4096.0
                iface = ("network.interface.name", nic.name)
                for field_name, metric, direction, extra in _NIC_SUMS:
                    attrs: Attrs = (
                        (iface, ("network.io.direction", direction), *extra)
                        if direction
                        else (iface,)
                    )
                    self._sum(res, metric, attrs, t_ns, rates[field_name], dt)
                self._add(res, "tailsight.nic.speed", (iface,), t_ns, nic.speed_bps)
                switch, port_name = nic.port.split("/", 1)
                self._add(
                    res,
                    "tailsight.nic.link",
                    (
                        iface,
                        ("tailsight.switch.name", switch),
                        ("tailsight.switch.port", port_name),
                    ),
                    t_ns,
                    1.0,
                )
        for sw in fl.switches.values():
            res = ("tailsight.switch.name", sw.name)
            for port in sw.ports:
                rates = st.ports[port.id]
                iface = ("network.interface.name", port.name)
                for field_name, metric, direction in _PORT_SUMS:
                    attrs = (iface, ("network.io.direction", direction)) if direction else (iface,)
                    self._sum(res, metric, attrs, t_ns, rates[field_name], dt)
                self._add(res, "tailsight.switch.port.speed", (iface,), t_ns, port.speed_bps)
                self._add(res, "tailsight.switch.port.up", (iface,), t_ns, 1.0)
                for direction, field_name in (("receive", "rx_bytes"), ("transmit", "tx_bytes")):
                    self._sum(
                        res,
                        "tailsight.switch.port.packet.count",
                        (iface, ("network.io.direction", direction)),
                        t_ns,
                        rates[field_name] / 4096.0,
                        dt,
                    )
                if port.peer and "/" in port.peer:
                    # What the switch's LLDP table says is cabled to this port.
                    peer_name, peer_port = port.peer.split("/", 1)
                    self._add(
                        res,
                        "tailsight.switch.lldp.neighbor",
                        (
                            iface,
                            ("tailsight.neighbor.name", peer_name),
                            ("tailsight.neighbor.port", peer_port),
                        ),
                        t_ns,
                        1.0,
                    )

    def flush(self) -> ExportMetricsServiceRequest:
        """One request with every point recorded since the last flush."""
        req = ExportMetricsServiceRequest()
        for (rkey, rval), metrics in self._points.items():
            rm = req.resource_metrics.add()
            rm.resource.attributes.append(_kv(rkey, rval))
            sm = rm.scope_metrics.add()
            sm.scope.name = SCOPE
            for name, points in metrics.items():
                entry = spec(name)
                m = sm.metrics.add(name=name, unit=entry.unit, description=entry.description)
                if entry.kind == "sum":
                    m.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
                    m.sum.is_monotonic = True
                    dps = m.sum.data_points
                else:
                    dps = m.gauge.data_points
                for attrs, t_ns, value in points:
                    dp = dps.add(time_unix_nano=t_ns, as_double=value)
                    if entry.kind == "sum":
                        dp.start_time_unix_nano = self.start_ns
                    dp.attributes.extend(_kv(k, v) for k, v in attrs)
                    self.points += 1
        self._points = {}
        return req


def _threshold(p: float) -> str:
    """OTel tracestate ``th`` for sampling probability ``p`` (rejection threshold, hex)."""
    if p >= 1.0:
        return "0"
    value = round((1.0 - p) * (1 << 56))
    return f"{value:014x}".rstrip("0") or "0"


def spans_request(requests: Sequence[Request], fleet: Fleet) -> ExportTraceServiceRequest:
    """One trace request: a resource per serving process, a SERVER span per request.

    A call to another service is a CLIENT span of the caller, parent of the callee's
    SERVER span (with ``server.address``, the callee's service name, on the CLIENT span).
    """
    req = ExportTraceServiceRequest()
    by_proc: dict[tuple[str, str, int], list[Request]] = defaultdict(list)
    for r in requests:
        by_proc[(r.service, r.host, r.pid)].append(r)
    for (service, host, pid), reqs in by_proc.items():
        prof = fleet.profiles[service]
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(
            [
                _kv("service.name", service),
                _kv("host.name", host),
                _kv("process.pid", pid),
                _kv("k8s.namespace.name", NAMESPACE),
                _kv("k8s.pod.name", f"{service}-{pid:x}"),
            ]
        )
        ss = rs.scope_spans.add()
        ss.scope.name = SCOPE
        route = _ROUTES.get(service, "/v1/infer")
        for r in reqs:
            client = bool(r.client_of)
            name = f"POST {_ROUTES.get(r.client_of, route)}" if client else f"POST {route}"
            span = ss.spans.add(
                trace_id=r.trace_id,
                span_id=r.span_id,
                parent_span_id=r.parent_id,
                name=LLM_SPAN_NAME if r.llm else name,
                kind=trace_pb2.Span.SPAN_KIND_CLIENT if client else trace_pb2.Span.SPAN_KIND_SERVER,
                start_time_unix_nano=r.start_ns,
                end_time_unix_nano=r.start_ns + r.duration_ns,
                trace_state=f"ot=th:{_threshold(r.sample_p)}",
            )
            span.attributes.extend(
                [
                    _kv("gen_ai.request.model", prof.model),
                    _kv("http.request.method", "POST"),
                    _kv("http.route", route),
                    _kv("http.response.status_code", r.status),
                ]
            )
            if client:
                span.attributes.append(_kv("server.address", r.client_of))
            if r.llm:
                span.attributes.extend(_kv(k, v) for k, v in span_attributes(r.llm))
            if r.status >= 500:
                span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
    return req


_ROUTES = {
    "llm-gateway": "/v1/chat/completions",
    "embedder": "/v1/embeddings",
    "reranker": "/v1/rerank",
    "asr": "/v1/audio/transcriptions",
}


def count_spans(reqs: Iterable[ExportTraceServiceRequest]) -> int:
    return sum(len(ss.spans) for r in reqs for rs in r.resource_spans for ss in rs.scope_spans)
