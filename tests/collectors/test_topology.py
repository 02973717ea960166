"""``tailsight.nic.link`` from lldpctl output and from a static topology file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailsight.collectors.topology import (
    Link,
    TopologyCollector,
    TopologyError,
    load_topology,
    parse_lldpctl,
)
from tests.collectors.conftest import FIXTURES, check_against_catalogue

LLDP = FIXTURES / "lldp"


def test_parse_lldpctl_json() -> None:
    links = parse_lldpctl((LLDP / "lldpctl.json").read_text())
    assert links == [
        Link("ens1np0", "leaf3", "Ethernet12"),  # port id is an interface name
        Link("ens2np0", "leaf3", "Ethernet16"),  # port id is local: its description names it
        Link("eno1", "50:87:89:a1:b2:c3", "ge-0/0/7"),  # no system name: chassis id
    ]


def test_parse_lldpctl_json0_and_single_interface() -> None:
    assert parse_lldpctl((LLDP / "lldpctl-json0.json").read_text()) == [
        Link("ens1np0", "leaf3", "Ethernet12")
    ]
    single = (
        '{"lldp": {"interface": {"eth0": {"chassis": {"sw1": {"id": {"type": "mac", '
        '"value": "aa"}}}, "port": {"id": {"type": "ifname", "value": "swp1"}}}}}}'
    )
    assert parse_lldpctl(single) == [Link("eth0", "sw1", "swp1")]
    assert parse_lldpctl('{"lldp": {}}') == []


def test_static_file_for_this_host() -> None:
    links = load_topology(LLDP / "topology.yaml", "gpu-node-7")
    assert [(lk.interface, lk.switch, lk.port) for lk in links] == [
        ("ens1np0", "leaf3", "Ethernet12"),
        ("ens2np0", "leaf3", "Ethernet16"),
        ("ens3np0", "leaf4", "Ethernet12"),
        ("eno1", "mgmt-sw1", "ge-0/0/7"),
    ]
    assert len(load_topology(LLDP / "topology.yaml", "other")) == 1


def test_bad_topology_file_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("links:\n  - {interface: eth0, switch: leaf1}\n")
    with pytest.raises(TopologyError, match=r"link 1 lacks port"):
        load_topology(bad, "h")
    bad.write_text("just: text\n")
    with pytest.raises(TopologyError, match="expected a 'links:' list"):
        load_topology(bad, "h")
    with pytest.raises(TopologyError, match="No such file"):
        load_topology(tmp_path / "missing.yaml", "h")


def test_collector_merges_lldp_and_file_and_runs_lldpctl_rarely() -> None:
    calls = []
    now = [0.0]

    def lldpctl() -> str:
        calls.append(now[0])
        return (LLDP / "lldpctl.json").read_text()

    static = [Link("ens2np0", "leaf9", "Ethernet1")]  # the file wins over LLDP
    collector = TopologyCollector(static, lldpctl, refresh_s=60, clock=lambda: now[0])
    points = list(collector.collect())
    check_against_catalogue(points)
    got = {p.attributes["network.interface.name"]: p.attributes for p in points}
    assert got["ens1np0"]["tailsight.switch.name"] == "leaf3"
    assert got["ens2np0"]["tailsight.switch.name"] == "leaf9"
    assert all(p.value == 1 for p in points)
    for t in (1.0, 30.0, 61.0):
        now[0] = t
        list(collector.collect())
    assert calls == [0.0, 61.0]


def test_lldpd_not_running_keeps_the_file_links() -> None:
    def lldpctl() -> str:
        raise OSError("unable to connect to socket /run/lldpd.socket")

    collector = TopologyCollector([Link("eth0", "leaf1", "Ethernet1")], lldpctl)
    assert [p.attributes["tailsight.switch.port"] for p in collector.collect()] == ["Ethernet1"]
