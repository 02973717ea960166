"""The GPU collector against the 8x H100 NVML replay, and against this machine's (absent) driver."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pynvml
import pytest

from tailsight.cli import main
from tailsight.collectors.base import Point
from tailsight.collectors.nvml import THROTTLE_REASONS, NvmlCollector
from tailsight.collectors.nvml_replay import NvmlReplay
from tailsight.collectors.processes import PodDirectory, ProcessDirectory
from tests.collectors.conftest import check_against_catalogue, one, series

UUIDS = [f"GPU-{0x4B9B9E10 + i:08x}-2c53-8d1a-6f0e-1c2d3e4f5a{60 + i}" for i in range(8)]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(root: Path, recording: dict | None = None) -> tuple[NvmlCollector, Clock]:
    clock = Clock()
    replay = NvmlReplay(recording or json.loads((root / "nvml.json").read_text()))
    procs = ProcessDirectory(root / "proc", PodDirectory(root / "var" / "log" / "pods"))
    return NvmlCollector(replay, procs, clock=clock), clock


def cycles(collector: NvmlCollector, clock: Clock, n: int) -> list[list[Point]]:
    out = []
    for _ in range(n):
        clock.now += 1.0
        out.append(list(collector.collect()))
    return out


def gpu(i: int) -> dict[str, str]:
    return {"hw.id": UUIDS[i]}


def test_every_gpu_metric_per_gpu_with_contract_attributes(gpu_node: Path) -> None:
    collector, clock = make(gpu_node)
    first, second = cycles(collector, clock, 2)
    check_against_catalogue(first + second)
    for i in range(8):
        attrs = {"hw.id": UUIDS[i], "hw.name": f"gpu{i}", "hw.type": "gpu"}
        mem = one(second, "hw.gpu.memory.limit", **attrs)
        assert mem.value == 81559 * 1024 * 1024
        assert one(second, "hw.gpu.memory.usage", **attrs).value > 0
        assert 70 <= one(second, "hw.power", **attrs).value <= 700
        assert one(second, "tailsight.gpu.sm_clock", **attrs).value >= 345e6
        assert len(series(second, "hw.gpu.io", **attrs)) == 2
        kinds = {p.attributes["error.type"] for p in series(second, "hw.errors", **attrs)}
        assert kinds == {"xid", "ecc_uncorrected", "ecc_corrected"}
    # Throttle reasons are reported from their first activation: the idle GPU's only.
    throttled = {
        (p.attributes["hw.name"], p.attributes["tailsight.throttle.reason"], p.value)
        for p in series(second, "tailsight.gpu.throttle")
    }
    assert throttled == {("gpu6", "gpu_idle", 1.0)}
    util = one(second, "hw.gpu.utilization", **gpu(0))
    assert util.attributes["hw.gpu.task"] == "general"
    assert util.value == pytest.approx(0.91)
    # Power is reported in W from NVML's mW; SM clock in Hz from MHz.
    assert one(second, "hw.power", **gpu(6)).value == 71.0
    assert one(second, "tailsight.gpu.sm_clock", **gpu(0)).value == 1980e6


def test_second_process_on_a_gpu_is_its_own_series_with_pod(gpu_node: Path) -> None:
    collector, clock = make(gpu_node)
    (points,) = cycles(collector, clock, 1)
    on_gpu2 = series(points, "tailsight.gpu.process.utilization", **gpu(2))
    by_pid = {p.attributes["process.pid"]: p for p in on_gpu2}
    assert set(by_pid) == {4102, 5200}
    assert by_pid[4102].value == pytest.approx(0.72)  # mean of its samples (70, 74) / 100
    assert by_pid[5200].value == pytest.approx(0.25)
    assert by_pid[5200].attributes["process.executable.name"] == "pt_main_thread"
    assert by_pid[5200].attributes["k8s.pod.name"] == "batch-embed-5f7d9-qx2lm"  # cgroupfs
    assert by_pid[5200].attributes["k8s.namespace.name"] == "batch"
    assert by_pid[4102].attributes["k8s.pod.name"] == "llm-70b-0"  # systemd cgroup driver
    mem = {
        p.attributes["process.pid"]: p.value
        for p in series(points, "tailsight.gpu.process.memory.usage", **gpu(2))
    }
    assert mem == {4102: 74_000 * 2**20, 5200: 2_300 * 2**20}
    assert collector.gpu_pids() == {4100, 4101, 4102, 4103, 4104, 4107, 5200, 6100, 6101}


def test_process_samples_cover_one_interval_each(gpu_node: Path) -> None:
    recording = json.loads((gpu_node / "nvml.json").read_text())
    samples = recording["devices"][0]["per_call"]["process_samples"]
    # The pid's SM share steps 10% → 90%: a collector re-reading old samples would blur it.
    for c, cycle in enumerate(samples):
        for s in cycle:
            s[2] = 10 if c < 3 else 90
    collector, clock = make(gpu_node, recording)
    shares = [
        one(points, "tailsight.gpu.process.utilization", **gpu(0)).value
        for points in cycles(collector, clock, 6)
    ]
    assert shares == pytest.approx([0.1, 0.1, 0.1, 0.9, 0.9, 0.9])
    assert collector.gpus[0].last_sample_us == samples[-1][-1][1]


def test_process_without_new_samples_reads_zero(gpu_node: Path) -> None:
    recording = json.loads((gpu_node / "nvml.json").read_text())
    per_call = recording["devices"][0]["per_call"]
    per_call["process_samples"] = [per_call["process_samples"][0], []]
    collector, clock = make(gpu_node, recording)
    first, second = cycles(collector, clock, 2)
    assert one(first, "tailsight.gpu.process.utilization", **gpu(0)).value > 0
    # NVML answers NOT_FOUND (no sample newer than the last one): the process ran nothing.
    assert one(second, "tailsight.gpu.process.utilization", **gpu(0)).value == 0.0


def test_mig_gpu_reports_memory_once_and_no_sm_utilization(gpu_node: Path) -> None:
    collector, clock = make(gpu_node)
    (points,) = cycles(collector, clock, 1)
    assert not series(points, "hw.gpu.utilization", **gpu(5))
    assert not series(points, "tailsight.gpu.process.utilization", **gpu(5))
    mem = series(points, "tailsight.gpu.process.memory.usage", **gpu(5))
    assert sorted(p.attributes["process.pid"] for p in mem) == [6100, 6101]
    by_pid = {p.attributes["process.pid"]: p for p in mem}
    assert "k8s.pod.name" not in by_pid[6101].attributes  # a host process, not in a pod
    assert by_pid[6101].attributes["process.executable.name"] == "tritonserver"
    # The parent's memory covers its instances; the processes' add up to no more than it.
    used = one(points, "hw.gpu.memory.usage", **gpu(5)).value
    assert sum(p.value for p in mem) <= used
    # Each metric appears once per GPU: MIG instances are not reported as GPUs of their own.
    assert len({p.attributes["hw.id"] for p in series(points, "hw.power")}) == 8


def test_error_counters_survive_driver_reload_and_count_xids(gpu_node: Path) -> None:
    collector, clock = make(gpu_node)
    runs = cycles(collector, clock, 6)
    ecc = [
        one(points, "hw.errors", **gpu(3), **{"error.type": "ecc_uncorrected"}).value
        for points in runs
    ]
    # Raw volatile ECC 2,2,3,3,0(reload),1: cumulative from the agent's start, never lower.
    assert ecc == [0, 0, 1, 1, 1, 2]
    rx = [
        one(points, "hw.gpu.io", **gpu(3), **{"network.io.direction": "receive"}).value
        for points in runs
    ]
    assert rx == [0, 310e6, 620e6, 930e6, 930e6 + 90e6, 930e6 + 400e6]
    xid = [one(points, "hw.errors", **gpu(1), **{"error.type": "xid"}).value for points in runs]
    assert xid == [0, 0, 1, 1, 3, 3]


def test_throttle_reasons_and_pcie_throughput_fallback(gpu_node: Path) -> None:
    collector, clock = make(gpu_node)
    runs = cycles(collector, clock, 4)
    runs += cycles(collector, clock, 2)
    cap = {"tailsight.throttle.reason": "sw_power_cap"}
    power_cap = [
        [p.value for p in series(points, "tailsight.gpu.throttle", **gpu(4), **cap)]
        for points in runs
    ]
    # Raw reasons 0, 0, cap, cap, cap, 0: no series until the first cap, then 1s and a 0.
    assert power_cap == [[], [], [1], [1], [1], [0]]
    assert len(THROTTLE_REASONS) == 9
    runs = runs[:4]
    idle = one(
        runs[0], "tailsight.gpu.throttle", **gpu(6), **{"tailsight.throttle.reason": "gpu_idle"}
    )
    assert idle.value == 1
    # GPU 7 has no PCIe byte counters: its throughput (KiB/s) is integrated over the interval.
    rx7 = [
        one(points, "hw.gpu.io", **gpu(7), **{"network.io.direction": "receive"}).value
        for points in runs
    ]
    assert rx7 == [0, 302_734 * 1024, 2 * 302_734 * 1024, 3 * 302_734 * 1024]


def test_unsupported_call_is_logged_once_and_the_rest_is_read(
    gpu_node: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recording = json.loads((gpu_node / "nvml.json").read_text())
    recording["devices"][0]["unsupported"] = [
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetTotalEccErrors",
    ]
    collector, clock = make(gpu_node, recording)
    with caplog.at_level(logging.INFO, logger="tailsight.collectors.nvml"):
        runs = cycles(collector, clock, 3)
    assert not series(runs[-1], "hw.power", **gpu(0))
    assert series(runs[-1], "hw.power", **gpu(1))
    assert one(runs[-1], "hw.gpu.memory.usage", **gpu(0))
    lines = [r.getMessage() for r in caplog.records if "nvmlDeviceGetPowerUsage" in r.getMessage()]
    assert len(lines) == 1 and "Not Supported" in lines[0]


def test_unsupported_process_utilization_is_not_reported_as_zero(gpu_node: Path) -> None:
    recording = json.loads((gpu_node / "nvml.json").read_text())
    recording["devices"][2]["unsupported"] = ["nvmlDeviceGetProcessUtilization"]
    collector, clock = make(gpu_node, recording)
    (points,) = cycles(collector, clock, 1)
    assert not series(points, "tailsight.gpu.process.utilization", **gpu(2))
    assert len(series(points, "tailsight.gpu.process.memory.usage", **gpu(2))) == 2
    assert collector.gpu_pids() >= {4102, 5200}


def test_replay_raises_pynvml_errors() -> None:
    replay = NvmlReplay({"devices": [{"uuid": "GPU-x", "memory_total": 1, "per_call": {}}]})
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        replay.nvmlDeviceGetCount()
    replay.nvmlInit()
    h = replay.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        replay.nvmlDeviceGetPowerUsage(h)
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        replay.nvmlDeviceGetHandleByIndex(1)


def test_no_driver_says_so_once_and_yields_nothing(caplog: pytest.LogCaptureFixture) -> None:
    # The real pynvml on this machine: no libnvidia-ml, so nvmlInit raises LibraryNotFound.
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA driver")
    except pynvml.NVMLError:
        pass
    collector = NvmlCollector(pynvml)
    with caplog.at_level(logging.WARNING, logger="tailsight.collectors.nvml"):
        assert list(collector.collect()) == []
        assert list(collector.collect()) == []
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith("no NVIDIA GPU found (")
    assert collector.gpu_pids() == set()


@pytest.mark.gpu
def test_real_driver_reads_every_gpu() -> None:
    try:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
    except pynvml.NVMLError as exc:
        pytest.skip(f"no NVIDIA driver here ({exc})")
    collector = NvmlCollector(pynvml)
    points = list(collector.collect())
    collector.close()
    check_against_catalogue(points)
    assert len({p.attributes["hw.id"] for p in series(points, "hw.gpu.memory.limit")}) == count


def test_recording_replays_to_the_same_points(gpu_node: Path, tmp_path: Path) -> None:
    out = tmp_path / "recorded.json"
    rc = main(
        [
            "agent",
            "--nvml-replay",
            str(gpu_node / "nvml.json"),
            "--record-nvml",
            str(out),
            "--cycles",
            "6",
            "--interval",
            "1ms",
        ]
    )
    assert rc == 0
    original, clock_a = make(gpu_node)
    recorded, clock_b = make(gpu_node, json.loads(out.read_text()))

    def view(points: list[Point]) -> list[tuple[str, str, float]]:
        return sorted(
            (p.metric, json.dumps(dict(p.attributes), sort_keys=True), p.value) for p in points
        )

    for a, b in zip(cycles(original, clock_a, 6), cycles(recorded, clock_b, 6), strict=True):
        assert view(a) == view(b)
