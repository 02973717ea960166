"""The table of Prometheus series that tailsight's analysis understands (docs/prometheus.md).

Each :class:`Rule` maps one exporter series onto a CONTRACT §3 name (or a documented
``tailsight.``/``gen_ai.`` extension); the mapped point is stored in addition to the
original. ``how`` says how its value is made:

- ``copy``: the value times ``scale`` (a unit change), same type as the target's.
- ``rate``: a counter's increase per second between consecutive samples (a gauge).
- ``integrate``: a rate gauge (bytes per second) summed over time into a cumulative sum.
- ``changes``: a "last value" gauge counted each time it changes to a non-zero value.
- ``cpu``: ``node_cpu_seconds_total`` of all CPUs and modes → host-wide busy fraction.
- ``memory_limit``: framebuffer used + free (+ reserved) in MiB → bytes.

``labels`` names the label translation (``dcgm``, ``node``, ``llm``).
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True)
class Rule:
    target: str
    kind: str  # gauge | sum | histogram
    unit: str
    how: str = "copy"
    scale: float = 1.0
    attrs: tuple[tuple[str, str], ...] = ()
    labels: str = "dcgm"


def _dir(d: str) -> tuple[tuple[str, str], ...]:
    return (("network.io.direction", d),)


RX, TX = _dir("receive"), _dir("transmit")

# dcgm-exporter (etc/default-counters.csv, dcp-metrics-included.csv)
DCGM = {
    "DCGM_FI_DEV_GPU_UTIL": Rule("hw.gpu.utilization", "gauge", "1", scale=0.01,
                                 attrs=(("hw.gpu.task", "general"),)),
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": Rule("tailsight.gpu.engine.active", "gauge", "1"),
    "DCGM_FI_PROF_SM_ACTIVE": Rule("tailsight.gpu.sm.active", "gauge", "1"),
    "DCGM_FI_PROF_SM_OCCUPANCY": Rule("tailsight.gpu.sm.occupancy", "gauge", "1"),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": Rule("tailsight.gpu.tensor.active", "gauge", "1"),
    "DCGM_FI_PROF_DRAM_ACTIVE": Rule("tailsight.gpu.dram.active", "gauge", "1"),
    "DCGM_FI_DEV_FB_USED": Rule("hw.gpu.memory.usage", "gauge", "By", scale=MIB),
    "DCGM_FI_DEV_FB_FREE": Rule("hw.gpu.memory.limit", "gauge", "By", how="memory_limit"),
    "DCGM_FI_DEV_FB_RESERVED": Rule("hw.gpu.memory.limit", "gauge", "By", how="memory_limit"),
    "DCGM_FI_PROF_PCIE_RX_BYTES": Rule("hw.gpu.io", "sum", "By", how="integrate", attrs=RX),
    "DCGM_FI_PROF_PCIE_TX_BYTES": Rule("hw.gpu.io", "sum", "By", how="integrate", attrs=TX),
    "DCGM_FI_DEV_XID_ERRORS": Rule("hw.errors", "sum", "{error}", how="changes",
                                   attrs=(("error.type", "xid"),)),
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": Rule("hw.errors", "sum", "{error}",
                                          attrs=(("error.type", "ecc_uncorrected"),)),
    "DCGM_FI_DEV_POWER_USAGE": Rule("hw.power", "gauge", "W"),
    "DCGM_FI_DEV_SM_CLOCK": Rule("tailsight.gpu.sm_clock", "gauge", "Hz", scale=1e6),
}  # fmt: skip

# node_exporter (collector/netdev_linux.go, pressure_linux.go, cpu_linux.go, netstat_linux.go)
NODE = {
    "node_network_receive_bytes_total": Rule("system.network.io", "sum", "By", attrs=RX),
    "node_network_transmit_bytes_total": Rule("system.network.io", "sum", "By", attrs=TX),
    "node_network_receive_packets_total": Rule("system.network.packet.count", "sum",
                                               "{packet}", attrs=RX),
    "node_network_transmit_packets_total": Rule("system.network.packet.count", "sum",
                                                "{packet}", attrs=TX),
    "node_network_receive_drop_total": Rule("system.network.packet.dropped", "sum",
                                            "{packet}", attrs=RX),
    "node_network_transmit_drop_total": Rule("system.network.packet.dropped", "sum",
                                             "{packet}", attrs=TX),
    "node_network_receive_errs_total": Rule("system.network.errors", "sum", "{error}", attrs=RX),
    "node_network_transmit_errs_total": Rule("system.network.errors", "sum", "{error}", attrs=TX),
    "node_network_speed_bytes": Rule("tailsight.nic.speed", "gauge", "bit/s", scale=8),
    "node_netstat_Tcp_RetransSegs": Rule("tailsight.tcp.retransmits", "sum", "{segment}"),
    "node_pressure_cpu_waiting_seconds_total": Rule(
        "tailsight.host.pressure", "gauge", "1", how="rate",
        attrs=(("tailsight.pressure.resource", "cpu"),)),
    "node_pressure_memory_waiting_seconds_total": Rule(
        "tailsight.host.pressure", "gauge", "1", how="rate",
        attrs=(("tailsight.pressure.resource", "memory"),)),
    "node_pressure_io_waiting_seconds_total": Rule(
        "tailsight.host.pressure", "gauge", "1", how="rate",
        attrs=(("tailsight.pressure.resource", "io"),)),
    "node_cpu_seconds_total": Rule("system.cpu.utilization", "gauge", "1", how="cpu"),
    # ethtool collector (--collector.ethtool), mlx5 per-priority PFC counters: RoCE's
    # lossless class is priority 3; pauses a NIC sends say its receive side is full.
    "node_ethtool_rx_prio3_pause": Rule("tailsight.nic.pfc.pause_frames", "sum", "{frame}",
                                        attrs=(*RX, ("tailsight.pfc.priority", "3"))),
    "node_ethtool_tx_prio3_pause": Rule("tailsight.nic.pfc.pause_frames", "sum", "{frame}",
                                        attrs=(*TX, ("tailsight.pfc.priority", "3"))),
}  # fmt: skip
NODE = {k: Rule(r.target, r.kind, r.unit, r.how, r.scale, r.attrs, "node") for k, r in NODE.items()}

_LLM_GAUGES = {
    # vLLM (vllm/engine/metrics.py, vllm/v1/metrics/loggers.py)
    "vllm:num_requests_running": ("tailsight.llm.requests.running", "{request}", 1.0),
    "vllm:num_requests_waiting": ("tailsight.llm.requests.waiting", "{request}", 1.0),
    "vllm:gpu_cache_usage_perc": ("tailsight.llm.kv_cache.usage", "1", 1.0),
    "vllm:kv_cache_usage_perc": ("tailsight.llm.kv_cache.usage", "1", 1.0),
    # SGLang (python/sglang/srt/metrics/collector.py)
    "sglang:num_running_reqs": ("tailsight.llm.requests.running", "{request}", 1.0),
    "sglang:num_queue_reqs": ("tailsight.llm.requests.waiting", "{request}", 1.0),
    "sglang:token_usage": ("tailsight.llm.kv_cache.usage", "1", 1.0),
    # TGI (router/src/server.rs)
    "tgi_queue_size": ("tailsight.llm.requests.waiting", "{request}", 1.0),
    "tgi_batch_current_size": ("tailsight.llm.batch.size", "{request}", 1.0),
    # Triton (src/metrics.cc in triton-inference-server/core)
    "nv_inference_pending_request_count": ("tailsight.llm.requests.waiting", "{request}", 1.0),
}
_LLM_HISTOGRAMS = {
    "vllm:time_to_first_token_seconds": ("gen_ai.server.time_to_first_token", 1.0),
    "vllm:time_per_output_token_seconds": ("gen_ai.server.time_per_output_token", 1.0),
    "vllm:inter_token_latency_seconds": ("gen_ai.server.time_per_output_token", 1.0),
    "vllm:e2e_request_latency_seconds": ("gen_ai.server.request.duration", 1.0),
    "vllm:request_queue_time_seconds": ("tailsight.llm.request.queue_time", 1.0),
    "vllm:request_prefill_time_seconds": ("tailsight.llm.request.prefill_time", 1.0),
    "vllm:request_decode_time_seconds": ("tailsight.llm.request.decode_time", 1.0),
    "sglang:time_to_first_token_seconds": ("gen_ai.server.time_to_first_token", 1.0),
    "sglang:inter_token_latency_seconds": ("gen_ai.server.time_per_output_token", 1.0),
    "sglang:time_per_output_token_seconds": ("gen_ai.server.time_per_output_token", 1.0),
    "sglang:e2e_request_latency_seconds": ("gen_ai.server.request.duration", 1.0),
    "tgi_request_queue_duration": ("tailsight.llm.request.queue_time", 1.0),
    "tgi_request_mean_time_per_token_duration": ("gen_ai.server.time_per_output_token", 1.0),
    "tgi_request_duration": ("gen_ai.server.request.duration", 1.0),
    "nv_inference_first_response_histogram_ms": ("gen_ai.server.time_to_first_token", 0.001),
}
LLM = {k: Rule(t, "gauge", u, scale=s, labels="llm") for k, (t, u, s) in _LLM_GAUGES.items()}
LLM.update({k: Rule(t, "histogram", "s", scale=s, labels="llm")
            for k, (t, s) in _LLM_HISTOGRAMS.items()})  # fmt: skip

RULES: dict[str, Rule] = {**DCGM, **NODE, **LLM}


def rule_for(name: str) -> Rule | None:
    """The rule for a series name; ``vllm_``/``sglang_`` spellings find the ``vllm:`` ones."""
    rule = RULES.get(name)
    if rule is None:
        for prefix in ("vllm", "sglang"):
            if name.startswith(prefix + "_"):
                return RULES.get(prefix + ":" + name[len(prefix) + 1 :])
    return rule
