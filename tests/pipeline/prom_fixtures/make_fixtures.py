# ruff: noqa: E501  (help texts and headers are quoted whole, as the exporters write them)
"""Writes the dcgm-exporter, vLLM and Triton payloads beside this file (run once; outputs are kept).

None of the three runs here (no GPU). The payloads are written from each project's
published metric list and source, named in each file's header:

- dcgm-exporter 3.3.5-3.4.0, ``etc/dcp-metrics-included.csv`` (fields, types, help) and
  the label set its ``pkg/dcgmexporter`` writes (``gpu``, ``UUID``, ``pci_bus_id``,
  ``device``, ``modelName``, ``Hostname``, ``DCGM_FI_DRIVER_VERSION``; ``container``,
  ``namespace``, ``pod`` with the Kubernetes pod mapping), 8 GPUs, text 0.0.4.
- vLLM 0.4.x, ``vllm/engine/metrics.py`` (commit 00c33e81): its metric definitions are
  instantiated here with prometheus_client, the library vLLM itself exports with, so the
  text is that library's real output for those definitions.
- Triton Inference Server 24.05, ``docs/user_guide/metrics.md`` and ``src/metrics.cc``
  of triton-inference-server/core (prometheus-cpp text format).

Two snapshots of each, 15 s apart, so rate-derived mappings have a pair to work on.
"""

from __future__ import annotations

import random
from pathlib import Path

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

HERE = Path(__file__).parent

DCGM_FIELDS = [  # dcp-metrics-included.csv, in its order: field, type, help
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ)."),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %)."),
    ("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %)."),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB)."),
    ("DCGM_FI_DEV_RETIRED_SBE", "counter", "Total number of retired pages due to single-bit errors."),
    ("DCGM_FI_DEV_RETIRED_DBE", "counter", "Total number of retired pages due to double-bit errors."),
    ("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter", "Total number of NVLink bandwidth counters for all lanes."),
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status"),
    ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for uncorrectable errors"),
    ("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for correctable errors"),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor (HMMA) pipe is active."),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", "Ratio of cycles the device memory interface is active sending or receiving data."),
    ("DCGM_FI_PROF_PCIE_TX_BYTES", "gauge", "The rate of data transmitted over the PCIe bus - including both protocol headers and data payloads - in bytes per second."),
    ("DCGM_FI_PROF_PCIE_RX_BYTES", "gauge", "The rate of data received over the PCIe bus - including both protocol headers and data payloads - in bytes per second."),
]  # fmt: skip

FB_TOTAL_MIB = 81559  # H100 80GB HBM3


def dcgm_payload(host: str, snapshot: int, gpus: int = 8, seed: int = 7) -> str:
    """One dcgm-exporter /metrics page of ``gpus`` H100s on ``host``."""
    rng = random.Random(seed * 100 + snapshot)
    lines: list[str] = []
    for field, kind, help_text in DCGM_FIELDS:
        lines.append(f"# HELP {field} {help_text}")
        lines.append(f"# TYPE {field} {kind}")
        for g in range(gpus):
            uuid = f"GPU-{seed:02x}{g:02x}a1b2-c3d4-e5f6-0718-29{g:02x}3a4b5c6d"
            pod = f"vllm-llama-{g // 4}" if g < 6 else ""
            labels = (
                f'gpu="{g}",UUID="{uuid}",pci_bus_id="00000000:{0x18 + g * 0x10:02X}:00.0",'
                f'device="nvidia{g}",modelName="NVIDIA H100 80GB HBM3",Hostname="{host}",'
                f'DCGM_FI_DRIVER_VERSION="550.54.15",container="{"vllm" if pod else ""}",'
                f'namespace="{"inference" if pod else ""}",pod="{pod}"'
            )
            lines.append(f"{field}{{{labels}}} {_dcgm_value(field, g, snapshot, rng)}")
    return "\n".join(lines) + "\n"


def _dcgm_value(field: str, g: int, snapshot: int, rng: random.Random) -> str:
    used = 60000 + g * 1000 + snapshot * 128
    values = {
        "DCGM_FI_DEV_SM_CLOCK": 1980 if g != 3 else 1410,
        "DCGM_FI_DEV_MEM_CLOCK": 2619,
        "DCGM_FI_DEV_MEMORY_TEMP": 40 + g,
        "DCGM_FI_DEV_GPU_TEMP": 35 + g,
        "DCGM_FI_DEV_POWER_USAGE": round(420.5 + g * 11.25 + rng.random(), 3),
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": 912345678 + g * 1000 + snapshot * 6_300_000,
        "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": 0,
        "DCGM_FI_DEV_GPU_UTIL": 85 + g if g < 6 else 0,
        "DCGM_FI_DEV_MEM_COPY_UTIL": 40 + g,
        "DCGM_FI_DEV_ENC_UTIL": 0,
        "DCGM_FI_DEV_DEC_UTIL": 0,
        "DCGM_FI_DEV_XID_ERRORS": 79 if (g == 5 and snapshot == 2) else 0,
        "DCGM_FI_DEV_FB_FREE": FB_TOTAL_MIB - used - 512,
        "DCGM_FI_DEV_FB_USED": used,
        "DCGM_FI_DEV_FB_RESERVED": 512,
        "DCGM_FI_DEV_RETIRED_SBE": 0,
        "DCGM_FI_DEV_RETIRED_DBE": 0,
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL": 123456789 + snapshot * 1000,
        "DCGM_FI_DEV_VGPU_LICENSE_STATUS": 0,
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": 0,
        "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS": 0,
        "DCGM_FI_DEV_ROW_REMAP_FAILURE": 0,
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE": round(0.80 + g * 0.01, 6) if g < 6 else 0.0,
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": round(0.35 + rng.random() * 0.1, 6),
        "DCGM_FI_PROF_DRAM_ACTIVE": round(0.5 + rng.random() * 0.1, 6),
        "DCGM_FI_PROF_PCIE_TX_BYTES": 2_000_000_000 + g * 1_000_000,
        "DCGM_FI_PROF_PCIE_RX_BYTES": 1_000_000_000 + g * 1_000_000,
    }
    return str(values[field])


def vllm_payload(snapshot: int) -> bytes:
    """vLLM 0.4.x's /metrics for one model, from its Metrics definitions, after some requests."""
    prometheus_client.disable_created_metrics()  # as vllm/engine/metrics.py does
    reg = CollectorRegistry()
    lab = ["model_name"]
    model = {"model_name": "meta-llama/Meta-Llama-3-8B-Instruct"}

    def gauge(name: str, doc: str, value: float) -> None:
        Gauge(name, doc, lab, registry=reg).labels(**model).set(value)

    gauge("vllm:num_requests_running", "Number of requests currently running on GPU.", 24 + snapshot)
    gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", 3 * snapshot)
    gauge("vllm:num_requests_swapped", "Number of requests swapped to CPU.", 0)
    gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.", 0.62 + snapshot * 0.1)
    gauge("vllm:cpu_cache_usage_perc", "CPU KV-cache usage. 1 means 100 percent usage.", 0.0)
    counters = {
        "vllm:num_preemptions": ("Cumulative number of preemption from the engine.", 2),
        "vllm:prompt_tokens": ("Number of prefill tokens processed.", 412_000),
        "vllm:generation_tokens": ("Number of generation tokens processed.", 1_530_000),
    }
    for name, (doc, value) in counters.items():
        Counter(name, doc, lab, registry=reg).labels(**model).inc(value * (1 + snapshot / 10))
    rng = random.Random(snapshot)
    hists = {
        "vllm:time_to_first_token_seconds": ("Histogram of time to first token in seconds.",
            [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0],
            lambda: rng.lognormvariate(-2.5, 0.6)),
        "vllm:time_per_output_token_seconds": ("Histogram of time per output token in seconds.",
            [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5],
            lambda: rng.lognormvariate(-3.4, 0.3)),
        "vllm:e2e_request_latency_seconds": ("Histogram of end to end request latency in seconds.",
            [1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0],
            lambda: rng.lognormvariate(1.5, 0.5)),
        "vllm:request_prompt_tokens": ("Number of prefill tokens processed.",
            [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
            lambda: rng.randint(20, 3000)),
        "vllm:request_generation_tokens": ("Number of generation tokens processed.",
            [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
            lambda: rng.randint(50, 1500)),
    }  # fmt: skip
    for name, (doc, buckets, draw) in hists.items():
        h = Histogram(name, doc, lab, buckets=buckets, registry=reg).labels(**model)
        for _ in range(500 + 100 * snapshot):
            h.observe(draw())
    success = Counter("vllm:request_success", "Count of successfully processed requests.",
                      [*lab, "finished_reason"], registry=reg)  # fmt: skip
    success.labels(finished_reason="stop", **model).inc(480 + 90 * snapshot)
    success.labels(finished_reason="length", **model).inc(20 + 10 * snapshot)
    return generate_latest(reg)


def triton_payload(snapshot: int) -> str:
    """Triton 24.05's /metrics for one model on one GPU (counters, pending gauge, GPU and TTFT)."""
    model = 'model="ensemble_llama",version="1"'
    n = 5000 + 750 * snapshot
    uuid = "GPU-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
    buckets = [100, 500, 2000, 5000]
    first = [int(n * f) for f in (0.05, 0.6, 0.95, 0.99)]
    lines = [
        "# HELP nv_inference_request_success Number of successful inference requests, all batch sizes",
        "# TYPE nv_inference_request_success counter",
        f"nv_inference_request_success{{{model}}} {n}",
        "# HELP nv_inference_request_failure Number of failed inference requests, all batch sizes",
        "# TYPE nv_inference_request_failure counter",
        f'nv_inference_request_failure{{{model},reason="BACKEND"}} {snapshot}',
        "# HELP nv_inference_count Number of inferences performed (does not include cached requests)",
        "# TYPE nv_inference_count counter",
        f"nv_inference_count{{{model}}} {n}",
        "# HELP nv_inference_exec_count Number of model executions performed (does not include cached requests)",
        "# TYPE nv_inference_exec_count counter",
        f"nv_inference_exec_count{{{model}}} {n // 8}",
        "# HELP nv_inference_request_duration_us Cumulative inference request duration in microseconds (includes cached requests)",
        "# TYPE nv_inference_request_duration_us counter",
        f"nv_inference_request_duration_us{{{model}}} {n * 812_345}",
        "# HELP nv_inference_queue_duration_us Cumulative inference queuing duration in microseconds (includes cached requests)",
        "# TYPE nv_inference_queue_duration_us counter",
        f"nv_inference_queue_duration_us{{{model}}} {n * 1_234}",
        "# HELP nv_inference_compute_infer_duration_us Cumulative compute inference duration in microseconds (does not include cached requests)",
        "# TYPE nv_inference_compute_infer_duration_us counter",
        f"nv_inference_compute_infer_duration_us{{{model}}} {n * 790_000}",
        "# HELP nv_inference_pending_request_count Instantaneous number of pending requests awaiting execution per-model.",
        "# TYPE nv_inference_pending_request_count gauge",
        f"nv_inference_pending_request_count{{{model}}} {2 + 5 * snapshot}",
        "# HELP nv_inference_first_response_histogram_ms Duration from request to first response in milliseconds",
        "# TYPE nv_inference_first_response_histogram_ms histogram",
        *[f'nv_inference_first_response_histogram_ms_bucket{{{model},le="{b}"}} {c}'
          for b, c in zip(buckets, first, strict=True)],
        f'nv_inference_first_response_histogram_ms_bucket{{{model},le="+Inf"}} {n}',
        f"nv_inference_first_response_histogram_ms_sum{{{model}}} {n * 310}",
        f"nv_inference_first_response_histogram_ms_count{{{model}}} {n}",
        "# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)",
        "# TYPE nv_gpu_utilization gauge",
        f'nv_gpu_utilization{{gpu_uuid="{uuid}"}} 0.91',
        "# HELP nv_gpu_memory_total_bytes GPU total memory, in bytes",
        "# TYPE nv_gpu_memory_total_bytes gauge",
        f'nv_gpu_memory_total_bytes{{gpu_uuid="{uuid}"}} 85520809984',
        "# HELP nv_gpu_memory_used_bytes GPU used memory, in bytes",
        "# TYPE nv_gpu_memory_used_bytes gauge",
        f'nv_gpu_memory_used_bytes{{gpu_uuid="{uuid}"}} 73014444032',
        "# HELP nv_gpu_power_usage GPU power usage in watts",
        "# TYPE nv_gpu_power_usage gauge",
        f'nv_gpu_power_usage{{gpu_uuid="{uuid}"}} 512.3',
        "# HELP nv_cpu_utilization CPU utilization rate [0.0 - 1.0]",
        "# TYPE nv_cpu_utilization gauge",
        "nv_cpu_utilization 0.21",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


HEADERS = {
    "dcgm": "# dcgm-exporter 3.3.5-3.4.0: fields of etc/dcp-metrics-included.csv, labels as its pkg/dcgmexporter writes them; 8 x H100, written by tests/pipeline/prom_fixtures/make_fixtures.py (no GPU here)\n",
    "vllm": "# vLLM 0.4.x vllm/engine/metrics.py (commit 00c33e81) definitions, exported by prometheus_client (vLLM's own exporter library); written by make_fixtures.py\n",
    "triton": "# Triton Inference Server 24.05 metrics (docs/user_guide/metrics.md, core src/metrics.cc); written by make_fixtures.py (no Triton here)\n",
}  # fmt: skip


def main() -> None:
    for snap in (1, 2):
        (HERE / f"dcgm_{snap}.txt").write_text(HEADERS["dcgm"] + dcgm_payload("gpu-node-7", snap))
        (HERE / f"vllm_{snap}.txt").write_text(HEADERS["vllm"] + vllm_payload(snap).decode())
        (HERE / f"triton_{snap}.txt").write_text(HEADERS["triton"] + triton_payload(snap))


if __name__ == "__main__":
    main()
