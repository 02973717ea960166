"""Without the agent: a GPU neighbor known only as a pod (dcgm-exporter), a NIC with no switch port."""

from __future__ import annotations

import pandas as pd

from tailsight.analysis.attribution import IncidentFrames, rank_causes
from tailsight.analysis.evidence import Phases
from tailsight.analysis.topology import build_topology
from tailsight.model import Cause, Incident
from tests.analysis.test_link_ends import COLUMNS
from tests.analysis.test_series_evidence import _replicas, _ts

GPU = "GPU-a"
PROCS = ["host", "hw_id", "pid", "pod", "namespace", "executable"]
LINKS = ["host", "interface", "switch", "port"]


def _util(pod: str, namespace: str, values: dict[int, float]) -> list[tuple[object, ...]]:
    """``hw.gpu.utilization`` of GPU-a on n2 as published for ``pod`` (window index → value)."""
    return [
        ("hw.gpu.utilization", "gauge", "1", "n2", "", "", "", GPU, "", pod, namespace, "",
         _ts(10 * i), v)
        for i, v in values.items()
    ]  # fmt: skip


def _rank(
    tenants: list[tuple[str, str, str]],
    rows: list[tuple[object, ...]],
    links: tuple[tuple[str, str, str, str], ...] = (),
) -> tuple[Cause, ...]:
    replicas = _replicas("n2")
    procs = pd.DataFrame([("n2", GPU, pid, pod, ns, "") for pid, pod, ns in tenants], columns=PROCS)
    topo = build_topology("svc", replicas, procs, pd.DataFrame(list(links), columns=LINKS))
    values = pd.DataFrame(rows, columns=COLUMNS)
    requests = pd.Series([100.0] * 40, index=[_ts(10 * i) for i in range(40)])
    phases = Phases(onset=_ts(300).to_pydatetime(), until=_ts(400).to_pydatetime())
    inc = Incident("svc", phases.onset, None, 500.0, 100.0)
    return rank_causes(inc, IncidentFrames(topo, replicas, values, requests), phases)


def test_a_pod_that_arrives_with_the_spike_is_the_neighbor() -> None:
    before = dict.fromkeys(range(30), 0.45)
    during = dict.fromkeys(range(30, 40), 1.0)
    rows = _util("svc-1", "inference", before | during) + _util("trainer-9", "batch", during)
    causes = _rank([("1", "svc-1", "inference"), ("", "trainer-9", "batch")], rows)
    top = causes[0]
    assert top.kind == "noisy_neighbor" and top.entity is not None
    assert (top.entity.type, top.entity.id) == ("pod", "batch/trainer-9")
    # The GPU's value once per window, not summed over the two pods it is published for.
    assert top.evidence[0].baseline == 0.45 and top.evidence[0].during == 1.0


def test_a_pod_there_all_along_is_not_blamed() -> None:
    both = dict.fromkeys(range(30), 0.45) | dict.fromkeys(range(30, 40), 1.0)
    rows = _util("svc-1", "inference", both) + _util("nightly-3", "training", both)
    causes = _rank([("1", "svc-1", "inference"), ("", "nightly-3", "training")], rows)
    assert not [c for c in causes if c.kind == "noisy_neighbor"]


def test_a_nic_without_a_known_switch_port_is_still_a_culprit() -> None:
    drops = [
        ("system.network.packet.dropped", "sum", "{packet}", "n2", "", "eth0", "receive", "", "",
         "", "", "", _ts(10 * i), 0.0 if i < 30 else 400.0)
        for i in range(40)
    ]  # fmt: skip
    causes = _rank([], drops, (("n2", "eth0", "", ""),))
    top = causes[0]
    assert top.kind == "network_congestion" and top.entity is not None
    assert (top.entity.type, top.entity.id) == ("nic", "n2/eth0")
