"""NIC, PFC and RDMA counters from recorded sysfs trees and ethtool output, and the live ioctl."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tailsight.collectors.ethtool import (
    IoctlEthtool,
    RecordedEthtool,
    parse_ethtool_stats,
    pfc_pause_frames,
)
from tailsight.collectors.net import NetCollector
from tailsight.collectors.rdma import RdmaCollector
from tests.collectors.conftest import (
    HOST_VIRTIO,
    check_against_catalogue,
    one,
    series,
    set_counter,
)

MLX5 = [f"ens{k}np0" for k in range(1, 9)]


def test_recorded_virtio_host_interfaces() -> None:
    collector = NetCollector(HOST_VIRTIO / "sys", RecordedEthtool(HOST_VIRTIO / "ethtool"))
    points = list(collector.collect())
    check_against_catalogue(points)
    assert {p.attributes["network.interface.name"] for p in points} == {"eth0"}  # lo skipped
    assert len(points) == 8  # 4 metrics x 2 directions
    # virtio reports speed -1 (unknown): no speed point rather than a wrong one.
    assert not series(points, "tailsight.nic.speed")
    # virtio's driver stats have no PFC counters.
    assert not series(points, "tailsight.nic.pfc.pause_frames")


def test_mlx5_counters_cumulative_through_a_driver_reload(gpu_node: Path) -> None:
    sysfs = gpu_node / "sys"
    collector = NetCollector(sysfs, RecordedEthtool(gpu_node / "ethtool"))
    first = list(collector.collect())
    check_against_catalogue(first)
    names = {p.attributes["network.interface.name"] for p in first}
    assert names == {"eno1", *MLX5}
    assert one(first, "tailsight.nic.speed", **{"network.interface.name": "ens1np0"}).value == 400e9
    assert one(first, "tailsight.nic.speed", **{"network.interface.name": "eno1"}).value == 1e9
    rx = sysfs / "class/net/ens2np0/statistics/rx_bytes"
    raw = int(rx.read_text())
    set_counter(rx, raw + 5_000)
    second = list(collector.collect())
    io = {"network.interface.name": "ens2np0", "network.io.direction": "receive"}
    assert one(second, "system.network.io", **io).value == 5_000
    set_counter(rx, 1_200)  # driver reload: the counter starts again from zero
    third = list(collector.collect())
    assert one(third, "system.network.io", **io).value == 6_200
    tx = {"network.interface.name": "ens2np0", "network.io.direction": "transmit"}
    assert one(third, "system.network.io", **tx).value == 0


def test_pfc_pause_frames_per_priority_and_direction(gpu_node: Path) -> None:
    ethtool = gpu_node / "ethtool" / "ens3np0.txt"
    collector = NetCollector(gpu_node / "sys", RecordedEthtool(gpu_node / "ethtool"))
    first = list(collector.collect())
    pfc = series(first, "tailsight.nic.pfc.pause_frames", **{"network.interface.name": "ens3np0"})
    # Only priority 3 (the RoCE class) ever paused: the other 7 classes stay unreported.
    assert sorted(
        (p.attributes["network.io.direction"], p.attributes["tailsight.pfc.priority"]) for p in pfc
    ) == [("receive", 3), ("transmit", 3)]
    assert not series(first, "tailsight.nic.pfc.pause_frames", **{"network.interface.name": "eno1"})
    text = ethtool.read_text()
    before = parse_ethtool_stats(text)["rx_prio3_pause"]
    ethtool.write_text(
        text.replace(f"rx_prio3_pause: {before}\n", f"rx_prio3_pause: {before + 77}\n")
    )
    second = list(collector.collect())
    prio3 = {
        "network.interface.name": "ens3np0",
        "network.io.direction": "receive",
        "tailsight.pfc.priority": 3,
    }
    assert one(second, "tailsight.nic.pfc.pause_frames", **prio3).value == 77
    # A class that starts pausing appears, counting from the agent's start.
    text = ethtool.read_text()
    ethtool.write_text(text.replace("tx_prio5_pause: 0\n", "tx_prio5_pause: 12\n"))
    third = list(collector.collect())
    prio5 = {"network.interface.name": "ens3np0", "tailsight.pfc.priority": 5}
    assert [p.value for p in series(third, "tailsight.nic.pfc.pause_frames", **prio5)] == [12]
    # The *_pause_duration and *_pause_transition counters are not pause frames.
    assert pfc_pause_frames({"rx_prio3_pause_duration": 9, "rx_prio3_pause_transition": 4}) == {}


def test_pfc_names_of_other_drivers() -> None:
    stats = {"rx_priority_3_xoff.nic": 5, "tx_pfc_ena_frames_pri4": 6, "rx_pause_ctrl_phy": 1}
    assert pfc_pause_frames(stats) == {("receive", 3): 5, ("transmit", 4): 6}


def test_parse_recorded_ethtool_output() -> None:
    stats = parse_ethtool_stats((HOST_VIRTIO / "ethtool" / "eth0.txt").read_text())
    assert "rx_kicks" in stats and all(isinstance(v, int) for v in stats.values())
    assert "NIC statistics" not in stats


def test_rdma_hw_counters_under_the_netdev_name(gpu_node: Path) -> None:
    sysfs = gpu_node / "sys"
    collector = RdmaCollector(sysfs)
    first = list(collector.collect())
    check_against_catalogue(first)
    assert {p.attributes["network.interface.name"] for p in first} == set(MLX5)
    assert len(first) == 8 * 4
    hw = sysfs / "class/infiniband/mlx5_4/ports/1/hw_counters"
    ecn = int((hw / "np_ecn_marked_roce_packets").read_text())
    set_counter(hw / "np_ecn_marked_roce_packets", ecn + 4_810)
    set_counter(hw / "np_cnp_sent", int((hw / "np_cnp_sent").read_text()) + 2_400)
    set_counter(hw / "rp_cnp_handled", 10)  # reset: 10 since the reset
    second = list(collector.collect())
    nic = {"network.interface.name": "ens5np0"}
    assert one(second, "tailsight.rdma.ecn_marked", **nic).value == 4_810
    assert one(second, "tailsight.rdma.cnp.sent", **nic).value == 2_400
    assert one(second, "tailsight.rdma.cnp.handled", **nic).value == 10
    assert one(second, "tailsight.rdma.out_of_sequence", **nic).value == 0


def test_no_rdma_devices_no_points() -> None:
    assert list(RdmaCollector(HOST_VIRTIO / "sys").collect()) == []


def test_ioctl_reads_what_ethtool_prints_on_this_machine() -> None:
    if shutil.which("ethtool") is None:
        pytest.fail("ethtool is not installed: scripts/system-deps.sh installs it")
    ifaces = sorted(p.name for p in Path("/sys/class/net").iterdir() if (p / "device").exists())
    if not ifaces:
        pytest.skip("no interface with a device driver on this machine")
    iface = ifaces[0]
    reader = IoctlEthtool()
    try:
        before = reader.stats(iface)
        out = subprocess.run(["ethtool", "-S", iface], capture_output=True, text=True, check=False)
        after = reader.stats(iface)
    finally:
        reader.close()
    if out.returncode != 0:
        assert before is None
        return
    printed = parse_ethtool_stats(out.stdout)
    assert before is not None and after is not None
    assert list(before) == list(printed)
    for name, value in printed.items():
        assert before[name] <= value <= after[name], name


def test_ioctl_on_missing_interface_is_none() -> None:
    reader = IoctlEthtool()
    try:
        assert reader.stats("nosuchif0") is None
        assert reader.stats("lo") is None  # no driver statistics
    finally:
        reader.close()


def test_container_networking_devices_are_skipped(tmp_path: Path) -> None:
    sysfs = tmp_path / "sys"
    shutil.copytree(HOST_VIRTIO / "sys", sysfs)
    for name in ("veth3a9f0c1", "cali12ab34cd56e", "flannel.1", "bond0"):
        shutil.copytree(sysfs / "class/net/eth0", sysfs / "class/net" / name)
    points = list(NetCollector(sysfs, RecordedEthtool(tmp_path)).collect())
    assert {p.attributes["network.interface.name"] for p in points} == {"bond0", "eth0"}


def test_an_interface_that_goes_and_comes_back_is_read_afresh(gpu_node: Path) -> None:
    collector = NetCollector(gpu_node / "sys", RecordedEthtool(gpu_node / "ethtool"))
    iface = gpu_node / "sys/class/net/ens8np0"

    def rx_bytes() -> float | None:
        found = series(
            collector.collect(),
            "system.network.io",
            **{"network.interface.name": "ens8np0", "network.io.direction": "receive"},
        )
        return found[0].value if found else None

    first = rx_bytes()
    assert first is not None
    saved = gpu_node / "saved"
    shutil.move(iface, saved)
    assert rx_bytes() is None
    shutil.copytree(saved, iface)
    raw = int((iface / "statistics/rx_bytes").read_text())
    (iface / "statistics/rx_bytes").write_text(f"{raw + 1000}\n")
    assert rx_bytes() == first + 1000
    collector.close()


def test_an_rdma_port_that_goes_and_comes_back_is_read_afresh(gpu_node: Path) -> None:
    collector = RdmaCollector(gpu_node / "sys")
    device = gpu_node / "sys/class/infiniband/mlx5_7"

    def ecn() -> float | None:
        found = series(
            collector.collect(),
            "tailsight.rdma.ecn_marked",
            **{"network.interface.name": "ens8np0"},
        )
        return found[0].value if found else None

    first = ecn()
    assert first is not None
    shutil.move(device, gpu_node / "saved")
    assert ecn() is None
    shutil.copytree(gpu_node / "saved", device)
    counter = device / "ports/1/hw_counters/np_ecn_marked_roce_packets"
    counter.write_text(f"{int(counter.read_text()) + 250}\n")
    assert ecn() == first + 250
    collector.close()


def test_ethtool_text_lines_that_are_not_a_name_and_an_integer_are_skipped() -> None:
    text = "NIC statistics:\n a: 1\n b c : 2\nfoo:bar: 3\n:4\nnoval:\n x: 5 6\n  y:\t-7 \nz: +8\nw: 1.5\n"
    assert parse_ethtool_stats(text) == {"a": 1, "b c": 2, "foo:bar": 3, "y": -7, "z": 8}
