"""Host CPU, PSI, TCP retransmits and per-process CPU with pod attribution, from recorded /proc."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tailsight.collectors.processes import (
    PodDirectory,
    ProcessCpuCollector,
    ProcessDirectory,
    pod_uid_of,
    read_stat,
)
from tailsight.collectors.procfs import HostCollector, read_pressure, read_snmp
from tests.collectors.conftest import (
    HOST_VIRTIO,
    advance_cpu,
    check_against_catalogue,
    one,
    series,
)


def test_recorded_host_pressure_and_retransmits() -> None:
    points = list(HostCollector(HOST_VIRTIO / "proc").collect())
    check_against_catalogue(points)
    # The first reading has no CPU utilization: there is no interval yet.
    assert not series(points, "system.cpu.utilization")
    text = (HOST_VIRTIO / "proc" / "pressure" / "cpu").read_text()
    avg10 = float(text.split()[1].split("=")[1])
    cpu = {"tailsight.pressure.resource": "cpu"}
    assert one(points, "tailsight.host.pressure", **cpu).value == pytest.approx(avg10 / 100)
    assert {p.attributes["tailsight.pressure.resource"] for p in points if p.attributes} == {
        "cpu",
        "memory",
        "io",
    }
    assert one(points, "tailsight.tcp.retransmits").value == 0


def test_cpu_utilization_between_readings(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(HOST_VIRTIO / "proc", proc)
    collector = HostCollector(proc)
    list(collector.collect())
    advance_cpu(proc, host_ticks=200, pid_ticks={})  # half user, half idle
    points = list(collector.collect())
    assert one(points, "system.cpu.utilization").value == pytest.approx(0.5)


def test_retransmits_survive_a_counter_reset(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(HOST_VIRTIO / "proc", proc)
    snmp = proc / "net" / "snmp"
    original = snmp.read_text()
    collector = HostCollector(proc)

    def set_retrans(n: int) -> None:
        lines = original.splitlines()
        header = next(i for i, line in enumerate(lines) if line.startswith("Tcp:"))
        names = lines[header].split()
        values = lines[header + 1].split()
        values[names.index("RetransSegs")] = str(n)
        lines[header + 1] = " ".join(values)
        snmp.write_text("\n".join(lines) + "\n")

    totals = []
    for raw in (100, 130, 5, 25):  # a namespace recreated between the 2nd and 3rd readings
        set_retrans(raw)
        totals.append(one(list(collector.collect()), "tailsight.tcp.retransmits").value)
    assert totals == [0, 30, 35, 55]
    assert read_snmp(proc, "Tcp", "NoSuchField") is None


def test_no_psi_kernel(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(HOST_VIRTIO / "proc", proc)
    shutil.rmtree(proc / "pressure")
    points = list(HostCollector(proc).collect())
    assert not series(points, "tailsight.host.pressure")
    assert series(points, "tailsight.tcp.retransmits")
    assert read_pressure(proc, "cpu") is None


def test_pod_uid_from_both_cgroup_drivers(gpu_node: Path) -> None:
    proc = gpu_node / "proc"
    systemd = pod_uid_of((proc / "4100" / "cgroup").read_text())
    cgroupfs = pod_uid_of((proc / "5200" / "cgroup").read_text())
    assert systemd == "3f2a9c4e-8b1d-4e6f-9a7c-2d5e8f1b3c4a"
    assert cgroupfs == "7c1e5b2a-4d3f-4a8b-b6c9-0e1f2a3b4c5d"
    assert pod_uid_of((proc / "6101" / "cgroup").read_text()) is None
    # A real cgroup of this (non-Kubernetes) machine.
    assert pod_uid_of((HOST_VIRTIO / "proc" / "1" / "cgroup").read_text()) is None


def test_process_names_and_pods(gpu_node: Path) -> None:
    directory = ProcessDirectory(gpu_node / "proc", PodDirectory(gpu_node / "var/log/pods"))
    info = directory.info(4100)
    assert (info.name, info.pod, info.namespace) == ("python3", "llm-70b-0", "inference")
    unlisted = directory.info(3000)  # pod UID in its cgroup, but no kubelet log dir for it
    assert (unlisted.name, unlisted.pod) == ("tokenizer-wrk", None)
    assert directory.info(99999).name == "unknown"
    recorded = ProcessDirectory(HOST_VIRTIO / "proc", PodDirectory(HOST_VIRTIO / "none"))
    assert recorded.info(1).name == "process_api"
    assert read_stat(HOST_VIRTIO / "proc", 1) is not None


def test_process_cpu_of_gpu_processes_and_top_consumers(gpu_node: Path) -> None:
    proc = gpu_node / "proc"
    directory = ProcessDirectory(proc, PodDirectory(gpu_node / "var/log/pods"))
    collector = ProcessCpuCollector(
        proc, gpu_pids=lambda: {4100, 5200}, processes=directory, top_n=1, scan_every=5
    )
    assert list(collector.collect()) == []  # baseline
    # 16 CPUs x 100 ticks: host capacity grew 1600 ticks; tokenizer used 800 of them.
    advance_cpu(proc, 1600, {4100: 400, 5200: 16, 3000: 800, 1: 80})
    points = list(collector.collect())
    check_against_catalogue(points)
    shares = {p.attributes["process.pid"]: p.value for p in points}
    assert shares == pytest.approx({4100: 0.25, 5200: 0.01, 3000: 0.5})  # top_n=1 -> not pid 1
    gpu_proc = one(points, "tailsight.process.cpu.utilization", **{"process.pid": 4100})
    assert gpu_proc.attributes["k8s.pod.name"] == "llm-70b-0"
    # Between scans only the GPU processes and the current top ones are read.
    advance_cpu(proc, 1600, {1: 1600, 3000: 160})
    points = list(collector.collect())
    shares = {p.attributes["process.pid"]: p.value for p in points}
    assert shares == pytest.approx({4100: 0.0, 5200: 0.0, 3000: 0.1})


def test_reused_pid_starts_a_new_baseline(gpu_node: Path) -> None:
    proc = gpu_node / "proc"
    collector = ProcessCpuCollector(proc, gpu_pids=lambda: {4100}, top_n=0)
    list(collector.collect())
    stat = proc / "4100" / "stat"
    head, _, tail = stat.read_text().rpartition(") ")
    rest = tail.split()
    rest[19] = str(int(rest[19]) + 1)  # another process now has this pid
    rest[11] = "5"
    stat.write_text(f"{head}) {' '.join(rest)}\n")
    advance_cpu(proc, 1600, {})
    assert list(collector.collect()) == []
