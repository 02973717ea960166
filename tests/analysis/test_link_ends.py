"""NIC or switch port: which end of a link is congested, from the direction of PFC pauses."""

from __future__ import annotations

import pandas as pd

from tailsight.analysis.attribution import IncidentFrames, rank_causes
from tailsight.analysis.evidence import Phases
from tailsight.analysis.topology import build_topology
from tailsight.model import Incident
from tests.analysis.test_series_evidence import T0, _replicas, _ts

COLUMNS = [
    "metric", "kind", "unit", "host", "switch", "interface", "direction", "hw_id", "pid",
    "pod", "namespace", "resource", "window", "value",
]  # fmt: skip
QUIET, LOUD = [1.0] * 30, [20000.0] * 10


def _row(
    metric: str, host: str, switch: str, iface: str, direction: str, values: list[float]
) -> list[tuple[object, ...]]:
    return [
        (metric, "sum", "{frame}", host, switch, iface, direction, "", "", "", "", "", _ts(10 * i), v)
        for i, v in enumerate(values)
    ]  # fmt: skip


def _link_frames(series: list[list[tuple[object, ...]]]) -> tuple[Incident, IncidentFrames, Phases]:
    replicas = _replicas("n2")
    procs = pd.DataFrame(columns=["host", "hw_id", "pid", "pod", "namespace", "executable"])
    links = pd.DataFrame(
        [("n1", "eth0", "leaf1", "Ethernet1"), ("n2", "eth0", "leaf1", "Ethernet2")],
        columns=["host", "interface", "switch", "port"],
    )
    topo = build_topology("svc", replicas, procs, links)
    values = pd.DataFrame([r for rows in series for r in rows], columns=COLUMNS)
    requests = pd.Series([100.0] * 40, index=[_ts(10 * i) for i in range(40)])
    phases = Phases(onset=_ts(300).to_pydatetime(), until=_ts(400).to_pydatetime())
    inc = Incident("svc", phases.onset, None, 500.0, 100.0)
    assert inc.start > T0
    return inc, IncidentFrames(topo, replicas, values, requests), phases


NIC_PAUSES = "tailsight.nic.pfc.pause_frames"
PORT_PAUSES = "tailsight.switch.port.pfc.pause_frames"


def test_a_port_that_receives_pauses_is_throttled_by_the_nic() -> None:
    # The NIC sends pauses and drops; its switch port only receives them: the NIC is congested.
    inc, frames, phases = _link_frames(
        [
            _row(NIC_PAUSES, "n2", "", "eth0", "transmit", QUIET + LOUD),
            _row(
                "system.network.packet.dropped",
                "n2",
                "",
                "eth0",
                "receive",
                [0.0] * 30 + [300.0] * 10,
            ),
            _row(PORT_PAUSES, "", "leaf1", "Ethernet2", "receive", QUIET + LOUD),
            _row(PORT_PAUSES, "", "leaf1", "Ethernet2", "transmit", [1.0] * 40),
        ]
    )
    top = rank_causes(inc, frames, phases)[0]
    assert top.kind == "network_congestion" and top.entity is not None
    assert (top.entity.type, top.entity.id) == ("nic", "n2/eth0")


def test_a_port_that_marks_and_sends_pauses_is_itself_congested() -> None:
    inc, frames, phases = _link_frames(
        [
            _row("tailsight.switch.port.ecn_marked", "", "leaf1", "Ethernet2", "", QUIET + LOUD),
            _row(PORT_PAUSES, "", "leaf1", "Ethernet2", "transmit", QUIET + LOUD),
            _row(NIC_PAUSES, "n2", "", "eth0", "receive", QUIET + LOUD),
        ]
    )
    top = rank_causes(inc, frames, phases)[0]
    assert top.entity is not None and (top.entity.type, top.entity.id) == (
        "switch_port",
        "leaf1/Ethernet2",
    )
