"""The semantic table against recorded exposition payloads of dcgm-exporter, node_exporter, vLLM, Triton."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from tailsight.pipeline.prom_semantic_table import MIB, RULES, rule_for
from tests.pipeline.promdata import fixture, named, scrape_payloads

DOCS = Path(__file__).parents[2] / "docs" / "prometheus.md"


def test_dcgm_fields_map_onto_contract_gpu_metrics() -> None:
    first, second = scrape_payloads([fixture("dcgm_1.txt"), fixture("dcgm_2.txt")])
    util = {p.attrs["hw.id"]: p for p in named(second, "hw.gpu.utilization")}
    assert len(util) == 8
    gpu0 = next(p for p in util.values() if p.attrs["hw.name"] == "gpu0")
    assert gpu0.value == pytest.approx(0.85)
    assert gpu0.attrs["hw.type"] == "gpu" and gpu0.attrs["hw.gpu.task"] == "general"
    assert gpu0.attrs["hw.id"].startswith("GPU-")
    assert gpu0.attrs["k8s.pod.name"] == "vllm-llama-0"
    assert gpu0.attrs["k8s.namespace.name"] == "inference"
    assert gpu0.resource["host.name"] == "gpu-node-7"  # from dcgm's Hostname label
    assert gpu0.resource["service.name"] == "dcgm"
    assert gpu0.resource["service.instance.id"] == "10.0.0.7:9400"
    # the original series is stored too, as the Collector stores it
    raw = named(second, "DCGM_FI_DEV_GPU_UTIL")
    assert len(raw) == 8 and raw[0].kind == "gauge" and "UUID" in raw[0].attrs

    usage = {p.attrs["hw.name"]: p.value for p in named(second, "hw.gpu.memory.usage")}
    limit = {p.attrs["hw.name"]: p.value for p in named(second, "hw.gpu.memory.limit")}
    assert usage["gpu0"] == (60000 + 2 * 128) * MIB
    assert set(limit.values()) == {81559 * MIB}  # used + free + reserved
    assert {p.value for p in named(second, "tailsight.gpu.sm_clock")} == {1980e6, 1410e6}
    power = named(second, "hw.power")
    assert len(power) == 8 and all(400 < p.value < 520 for p in power)
    assert {p.value for p in named(second, "tailsight.gpu.engine.active")} >= {0.0}

    # PCIe rate gauges integrated into a cumulative sum: 0 at first sight, rate x 15 s after
    io1 = named(first, "hw.gpu.io")
    assert io1 and all(p.value == 0 and p.kind == "sum" for p in io1)
    tx = {p.attrs["hw.name"]: p for p in named(second, "hw.gpu.io")
          if p.attrs["network.io.direction"] == "transmit"}  # fmt: skip
    assert tx["gpu0"].value == pytest.approx(2e9 * 15)
    assert tx["gpu0"].dp.start_time_unix_nano < tx["gpu0"].dp.time_unix_nano

    # XID: the "last XID" gauge turning 79 on gpu5 counts one error there, none elsewhere
    xid = {p.attrs["hw.name"]: p.value for p in named(second, "hw.errors")}
    assert xid["gpu5"] == 1 and sum(xid.values()) == 1
    assert all(p.attrs["error.type"] == "xid" for p in named(second, "hw.errors"))


def test_node_exporter_real_output_maps_network_cpu_and_psi() -> None:
    first, second = scrape_payloads(
        [fixture("node_exporter_1.txt"), fixture("node_exporter_2.txt")],
        job="node", instance="gpu-node-7:9100", step_ms=2000,
    )  # fmt: skip
    rx = [p for p in named(second, "system.network.io")
          if p.attrs == {"network.interface.name": "eth0", "network.io.direction": "receive"}]
    assert len(rx) == 1 and rx[0].kind == "sum" and rx[0].value > 0
    assert rx[0].dp.start_time_unix_nano <= rx[0].dp.time_unix_nano
    assert rx[0].resource["host.name"] == "gpu-node-7"  # the target's address
    assert named(second, "system.network.packet.count") and named(second, "system.network.errors")
    assert len(named(second, "tailsight.tcp.retransmits")) == 1
    cpu = named(second, "system.cpu.utilization")
    assert len(cpu) == 1 and 0.0 <= cpu[0].value <= 1.0
    assert not named(first, "system.cpu.utilization")  # a rate needs two scrapes

    psi_first, psi = scrape_payloads(
        [fixture("node_exporter_psi_1.txt"), fixture("node_exporter_psi_2.txt")],
        job="node", instance="gpu-node-7:9100",
    )  # fmt: skip
    pressure = {p.attrs["tailsight.pressure.resource"]: p.value
                for p in named(psi, "tailsight.host.pressure")}  # fmt: skip
    assert pressure["cpu"] == pytest.approx((93.7 - 91.2) / 15)
    assert pressure["memory"] == pytest.approx(0.04 / 15)
    assert pressure["io"] == pytest.approx(0.2 / 15)
    assert not named(psi_first, "tailsight.host.pressure")


@pytest.mark.parametrize("spelling", ["vllm:", "vllm_"])
def test_vllm_queue_kv_cache_and_latency_histograms(spelling: str) -> None:
    texts = [fixture(f"vllm_{i}.txt").replace("vllm:", spelling) for i in (1, 2)]
    _, second = scrape_payloads(texts, job="vllm", instance="10.0.0.9:8000")
    model = "meta-llama/Meta-Llama-3-8B-Instruct"
    waiting = named(second, "tailsight.llm.requests.waiting")
    assert [(p.value, p.attrs) for p in waiting] == [(6.0, {"gen_ai.request.model": model})]
    assert named(second, "tailsight.llm.requests.running")[0].value == 26
    assert named(second, "tailsight.llm.kv_cache.usage")[0].value == pytest.approx(0.82)

    ttft = named(second, "gen_ai.server.time_to_first_token")
    assert len(ttft) == 1 and ttft[0].kind == "histogram"
    dp = ttft[0].dp
    assert dp.count == 700 and sum(dp.bucket_counts) == 700
    assert list(dp.explicit_bounds)[:3] == [0.001, 0.005, 0.01]
    assert ttft[0].attrs == {"gen_ai.request.model": model}
    original = named(second, f"{spelling}time_to_first_token_seconds")
    assert original and list(original[0].dp.bucket_counts) == list(dp.bucket_counts)
    assert named(second, "gen_ai.server.time_per_output_token")
    assert named(second, "gen_ai.server.request.duration")
    tokens = named(second, f"{spelling}generation_tokens_total")
    assert tokens[0].kind == "sum" and tokens[0].dp.start_time_unix_nano > 0


def test_triton_pending_requests_and_first_response_histogram_in_seconds() -> None:
    _, second = scrape_payloads([fixture("triton_1.txt"), fixture("triton_2.txt")],
                                job="triton", instance="10.0.0.5:8002")  # fmt: skip
    waiting = named(second, "tailsight.llm.requests.waiting")
    assert [(p.value, p.attrs) for p in waiting] == [(12.0, {"gen_ai.request.model": "ensemble_llama"})]
    ttft = named(second, "gen_ai.server.time_to_first_token")[0].dp
    assert list(ttft.explicit_bounds) == pytest.approx([0.1, 0.5, 2.0, 5.0])
    assert ttft.sum == pytest.approx(6500 * 0.310)
    counter = named(second, "nv_inference_request_success")
    assert counter[0].kind == "sum" and counter[0].value == 6500


def test_every_mapped_name_is_documented() -> None:
    """docs/prometheus.md lists each source series and what it becomes; code and table agree."""
    text = DOCS.read_text()
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", text, re.M)
    documented = {src: dst for src, dst in rows}
    for source, rule in RULES.items():
        assert documented.get(source) == rule.target, source
    assert all(rule_for(src) is not None for src in documented)
    assert not math.isnan(MIB)


def test_mapped_contract_names_keep_the_catalogue_type_and_unit() -> None:
    """A rule that produces a CONTRACT §3 name produces it with that metric's type and unit."""
    from tailsight.collectors.catalogue import BY_NAME

    checked = 0
    for source, rule in RULES.items():
        spec = BY_NAME.get(rule.target)
        if spec is None:
            continue
        assert (rule.kind, rule.unit) == (spec.kind, spec.unit), source
        checked += 1
    assert checked >= 15


def test_types_from_declarations_before_names() -> None:
    """``# TYPE`` wins over the ``_total`` shape; untyped ``_total`` is a counter, others gauges."""
    text = (
        "# TYPE queue_total gauge\nqueue_total 3\n"
        "# TYPE jobs counter\njobs 7\n"
        "events_total 9\nplain 1\n"
        "# TYPE lat histogram\nlat_bucket{le=\"1\"} 1\nlat_bucket{le=\"+Inf\"} 2\nlat_sum 1.5\nlat_count 2\n"
    )
    [pts] = scrape_payloads([text], job="j", instance="h:1")
    kinds = {p.name: p.kind for p in pts}
    assert kinds == {"queue_total": "gauge", "jobs": "sum", "events_total": "sum", "plain": "gauge",
                     "lat": "histogram"}  # fmt: skip
    lat = named(pts, "lat")[0].dp
    assert (lat.count, lat.sum, list(lat.bucket_counts), list(lat.explicit_bounds)) == (2, 1.5, [1, 1], [1.0])
