"""Every metric a tailsight collector emits: name, type, unit, attributes and source.

CONTRACT §3 is the external promise; this catalogue is its copy in code, and tests fail
when the collectors, this catalogue and the contract disagree. A new metric is added
here first (and to the contract, as an extension) before a collector emits it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["gauge", "sum"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric: OTLP ``kind`` (gauge, or a monotonic cumulative sum), UCUM unit, attributes.

    ``steady``: a gauge that changes rarely (capacity, link speed, wiring); the agent
    reports it, like a counter, when it moves and once per rollup window.
    """

    name: str
    kind: Kind
    unit: str
    attributes: tuple[str, ...]
    source: str
    description: str
    optional_attributes: tuple[str, ...] = ()
    steady: bool = False


_GPU = ("hw.id", "hw.name", "hw.type")
_PROC = ("hw.id", "process.pid", "process.executable.name")
_DIR = ("network.interface.name", "network.io.direction")
_SW = ("network.interface.name", "network.io.direction")
# Where the process runs in a pod; the namespace makes `<namespace>/<pod>` entities (CONTRACT §4).
_POD = ("k8s.pod.name", "k8s.namespace.name")

METRICS: tuple[MetricSpec, ...] = (
    # GPU (NVML), per GPU
    MetricSpec(
        "hw.gpu.utilization",
        "gauge",
        "1",
        (*_GPU, "hw.gpu.task"),
        "nvml",
        "SM busy fraction over the last sample period, 0..1",
    ),
    MetricSpec("hw.gpu.memory.usage", "gauge", "By", _GPU, "nvml", "GPU memory in use"),
    MetricSpec(
        "hw.gpu.memory.limit", "gauge", "By", _GPU, "nvml", "GPU memory in total", steady=True
    ),
    MetricSpec(
        "hw.gpu.io", "sum", "By", (*_GPU, "network.io.direction"), "nvml", "PCIe bytes moved"
    ),
    MetricSpec("hw.power", "gauge", "W", _GPU, "nvml", "board power draw"),
    MetricSpec(
        "hw.errors", "sum", "{error}", (*_GPU, "error.type"), "nvml", "XID events and ECC errors"
    ),
    MetricSpec("tailsight.gpu.sm_clock", "gauge", "Hz", _GPU, "nvml", "SM clock"),
    MetricSpec(
        "tailsight.gpu.throttle",
        "gauge",
        "1",
        (*_GPU, "tailsight.throttle.reason"),
        "nvml",
        "1 while throttled for the reason",
    ),
    MetricSpec(
        "tailsight.gpu.process.utilization",
        "gauge",
        "1",
        _PROC,
        "nvml",
        "SM share of one process over the last interval",
        _POD,
    ),
    MetricSpec(
        "tailsight.gpu.process.memory.usage",
        "gauge",
        "By",
        _PROC,
        "nvml",
        "GPU memory used by one process",
        _POD,
    ),
    # NIC (sysfs, ethtool, procfs), per interface
    MetricSpec("system.network.io", "sum", "By", _DIR, "sysfs", "bytes through the interface"),
    MetricSpec("system.network.packet.count", "sum", "{packet}", _DIR, "sysfs", "packets"),
    MetricSpec(
        "system.network.packet.dropped", "sum", "{packet}", _DIR, "sysfs", "packets dropped"
    ),
    MetricSpec("system.network.errors", "sum", "{error}", _DIR, "sysfs", "interface errors"),
    MetricSpec(
        "tailsight.nic.speed",
        "gauge",
        "bit/s",
        ("network.interface.name",),
        "sysfs",
        "link speed",
        steady=True,
    ),
    MetricSpec(
        "tailsight.nic.pfc.pause_frames",
        "sum",
        "{frame}",
        (*_DIR, "tailsight.pfc.priority"),
        "ethtool",
        "PFC pause frames per priority",
    ),
    MetricSpec(
        "tailsight.rdma.ecn_marked",
        "sum",
        "{packet}",
        ("network.interface.name",),
        "sysfs",
        "RoCE packets received with ECN CE (np_ecn_marked_roce_packets)",
    ),
    MetricSpec(
        "tailsight.rdma.cnp.sent",
        "sum",
        "{packet}",
        ("network.interface.name",),
        "sysfs",
        "congestion notification packets sent",
    ),
    MetricSpec(
        "tailsight.rdma.cnp.handled",
        "sum",
        "{packet}",
        ("network.interface.name",),
        "sysfs",
        "congestion notification packets handled",
    ),
    MetricSpec(
        "tailsight.rdma.out_of_sequence",
        "sum",
        "{packet}",
        ("network.interface.name",),
        "sysfs",
        "out-of-sequence RoCE packets",
    ),
    MetricSpec(
        "tailsight.tcp.retransmits",
        "sum",
        "{segment}",
        (),
        "procfs",
        "TCP segments retransmitted, host-wide",
    ),
    MetricSpec(
        "tailsight.nic.link",
        "gauge",
        "1",
        ("network.interface.name", "tailsight.switch.name", "tailsight.switch.port"),
        "lldp",
        "topology: this interface is cabled to that switch port",
        steady=True,
    ),
    # Host
    MetricSpec("system.cpu.utilization", "gauge", "1", (), "procfs", "host CPU busy, 0..1"),
    MetricSpec(
        "tailsight.host.pressure",
        "gauge",
        "1",
        ("tailsight.pressure.resource",),
        "procfs",
        "PSI some avg10 as 0..1",
    ),
    MetricSpec(
        "tailsight.process.cpu.utilization",
        "gauge",
        "1",
        ("process.pid", "process.executable.name"),
        "procfs",
        "CPU of one process as a share of the host's CPU capacity, 0..1",
        _POD,
    ),
    # Switch (SNMP), per port; resource tailsight.switch.name
    MetricSpec("tailsight.switch.port.io", "sum", "By", _SW, "snmp", "octets through the port"),
    MetricSpec(
        "tailsight.switch.port.discards", "sum", "{packet}", _SW, "snmp", "packets discarded"
    ),
    MetricSpec(
        "tailsight.switch.port.errors", "sum", "{packet}", _SW, "snmp", "packets with errors"
    ),
    MetricSpec(
        "tailsight.switch.port.speed",
        "gauge",
        "bit/s",
        ("network.interface.name",),
        "snmp",
        "port speed",
    ),
    MetricSpec(
        "tailsight.switch.port.pfc.pause_frames",
        "sum",
        "{frame}",
        _SW,
        "snmp",
        "PFC pause frames (vendor MIB)",
    ),
    MetricSpec(
        "tailsight.switch.port.ecn_marked",
        "sum",
        "{packet}",
        ("network.interface.name",),
        "snmp",
        "ECN-marked packets (vendor MIB), where the switch exposes it",
        ("network.io.direction",),
    ),
    # Switch extensions (not in CONTRACT §3 yet; additive, names under tailsight.)
    MetricSpec(
        "tailsight.switch.port.packet.count",
        "sum",
        "{packet}",
        _SW,
        "snmp",
        "packets through the port: unicast + multicast + broadcast",
    ),
    MetricSpec(
        "tailsight.switch.port.up",
        "gauge",
        "1",
        ("network.interface.name",),
        "snmp",
        "1 while ifOperStatus is up, else 0",
    ),
    MetricSpec(
        "tailsight.switch.lldp.neighbor",
        "gauge",
        "1",
        ("network.interface.name", "tailsight.neighbor.name", "tailsight.neighbor.port"),
        "lldp",
        "topology from the switch: value 1 per LLDP neighbor (lldpRemSysName, lldpRemPortId) of a port",
    ),
)

BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}


def spec(name: str) -> MetricSpec:
    """The catalogue entry of ``name``; ``KeyError`` names the unknown metric."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"metric {name!r} is not in the catalogue") from None
