"""The assembled node agent: this plain machine (acceptance 1) and a replayed GPU node (acceptance 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tailsight.cli import main
from tailsight.collectors.agent import AgentSources, NodeAgent, detect_resource
from tailsight.collectors.ethtool import RecordedEthtool
from tailsight.collectors.net import VIRTUAL_PREFIXES
from tailsight.collectors.nvml_replay import NvmlReplay
from tests.collectors.conftest import FIXTURES, advance_cpu, check_against_catalogue, one, series
from tests.collectors.test_catalogue import VENDORED, contract_metrics

REPO = Path(__file__).resolve().parents[2]


def node_metrics() -> set[str]:
    """CONTRACT §3's GPU, NIC and host metrics (the switch ones are the switch poller's)."""
    return {
        m for m in contract_metrics(VENDORED.read_text()) if not m.startswith("tailsight.switch.")
    }


@pytest.mark.integration
def test_once_json_on_this_plain_machine() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tailsight", "agent", "--once", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    metrics = {r["metric"] for r in rows}
    ifaces = sorted(
        p.name
        for p in Path("/sys/class/net").iterdir()
        if p.name != "lo" and not p.name.startswith(VIRTUAL_PREFIXES)
    )
    assert ifaces, "this machine has an interface besides lo"
    io = [r for r in rows if r["metric"] == "system.network.io"]
    assert sorted({r["attributes"]["network.interface.name"] for r in io}) == ifaces
    assert {r["attributes"]["network.io.direction"] for r in io} == {"receive", "transmit"}
    assert {"system.network.packet.count", "system.network.errors"} <= metrics
    assert "tailsight.tcp.retransmits" in metrics
    cpu = [r for r in rows if r["metric"] == "system.cpu.utilization"]
    assert len(cpu) == 1 and 0 <= cpu[0]["value"] <= 1
    if Path("/proc/pressure/cpu").exists():
        psi = {
            r["attributes"]["tailsight.pressure.resource"]
            for r in rows
            if r["metric"] == "tailsight.host.pressure"
        }
        assert psi == {"cpu", "memory", "io"}
    assert not any(m.startswith("hw.") for m in metrics)
    no_gpu = [line for line in done.stderr.splitlines() if "no NVIDIA GPU found" in line]
    assert len(no_gpu) == 1, done.stderr
    assert all(r["resource"]["host.name"] for r in rows)
    assert all(r["type"] in ("gauge", "sum") and r["unit"] for r in rows)


def agent_on(node: Path, host: str = "gpu-node-7") -> NodeAgent:
    return NodeAgent(
        AgentSources(
            sysfs_root=node / "sys",
            procfs_root=node / "proc",
            pods_dir=node / "var" / "log" / "pods",
            topology_file=FIXTURES / "lldp" / "topology.yaml",
            host_name=host,
            nvml=NvmlReplay.load(node / "nvml.json"),
            ethtool=RecordedEthtool(node / "ethtool"),
            lldp=False,
        )
    )


def test_replayed_gpu_node_emits_every_node_metric_of_the_contract(gpu_node: Path) -> None:
    agent = agent_on(gpu_node)
    first = agent.collect()
    advance_cpu(gpu_node / "proc", 1600, {4100: 300, 5200: 40, 3000: 900})
    rx = gpu_node / "sys/class/net/ens1np0/statistics/rx_bytes"
    rx.write_text(str(int(rx.read_text()) + 10**9))
    second = agent.collect()
    rx.write_text("4096\n")  # driver reload
    third = agent.collect()
    agent.close()
    for points in (first, second, third):
        check_against_catalogue(points)
    emitted = {p.metric for p in second}
    assert node_metrics() - emitted == set()
    assert emitted <= node_metrics()
    # Counters stay cumulative: the reset adds what was counted since it.
    nic = {"network.interface.name": "ens1np0", "network.io.direction": "receive"}
    values = [one(p, "system.network.io", **nic).value for p in (first, second, third)]
    assert values == [0, 1e9, 1e9 + 4096]
    # Two processes on GPU 2, two series; process CPU of the GPU processes and the top one.
    on_gpu2 = series(
        second,
        "tailsight.gpu.process.utilization",
        **{"hw.id": "GPU-4b9b9e12-2c53-8d1a-6f0e-1c2d3e4f5a62"},
    )
    assert sorted(p.attributes["process.pid"] for p in on_gpu2) == [4102, 5200]
    cpu = {
        p.attributes["process.pid"]: p.value
        for p in series(second, "tailsight.process.cpu.utilization")
    }
    assert cpu[4100] == pytest.approx(300 / 1600)
    assert cpu[3000] == pytest.approx(900 / 1600)
    links = series(second, "tailsight.nic.link")
    assert {p.attributes["network.interface.name"] for p in links} == {
        "ens1np0",
        "ens2np0",
        "ens3np0",
        "eno1",
    }


def test_cli_once_with_replayed_hardware(
    gpu_node: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "agent",
            "--once",
            "--output",
            "json",
            "--interval",
            "100ms",
            "--host-name",
            "gpu-node-7",
            "--sysfs-root",
            str(gpu_node / "sys"),
            "--procfs-root",
            str(gpu_node / "proc"),
            "--pods-dir",
            str(gpu_node / "var/log/pods"),
            "--nvml-replay",
            str(gpu_node / "nvml.json"),
            "--ethtool-replay",
            str(gpu_node / "ethtool"),
            "--topology",
            str(FIXTURES / "lldp" / "topology.yaml"),
            "--no-lldp",
        ]
    )
    assert rc == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["resource"]["host.name"] for r in rows} == {"gpu-node-7"}
    gpus = {r["attributes"]["hw.id"] for r in rows if r["metric"] == "hw.gpu.memory.limit"}
    assert len(gpus) == 8
    assert any(r["metric"] == "tailsight.rdma.ecn_marked" for r in rows)


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "topo.yaml"
    bad.write_text("links: [{interface: eth0}]\n")
    assert main(["agent", "--once", "--output", "json", "--topology", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tailsight agent: topology file") and "\n" not in err
    assert main(["agent"]) == 2
    assert "--endpoint" in capsys.readouterr().err
    assert main(["agent", "--once", "--interval", "soon"]) == 2
    assert "--interval" in capsys.readouterr().err
    assert main(["agent", "--once", "--nvml-replay", str(tmp_path / "none.json")]) == 2
    assert "--nvml-replay" in capsys.readouterr().err


def test_resource_detection() -> None:
    assert detect_resource("n1", env={})["host.name"] == "n1"
    k8s = detect_resource(None, env={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "NODE_NAME": "node-3"})
    assert k8s["host.name"] == "node-3" and k8s["k8s.node.name"] == "node-3"
    assert "k8s.node.name" not in detect_resource(None, env={"NODE_NAME": "node-3"})
