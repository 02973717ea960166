"""Polling switches: one :class:`SwitchPoller` per switch, all of them concurrently.

Each poll reads sysUpTime, IF-MIB, the vendor's PFC/ECN columns and (less often) the
LLDP neighbor table, and turns raw counters into cumulative ``tailsight.switch.*``
points. A switch that does not answer fails alone: every switch polls in its own task
under its own deadline, so the others finish in their own time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tailsight.collectors.base import MonotonicCounter, Point
from tailsight.collectors.snmp.client import SnmpClient, SnmpError, SnmpTarget
from tailsight.collectors.snmp.ifmib import OPER_UP, SYS_UPTIME, PortReading, read_ports
from tailsight.collectors.snmp.lldp import Neighbor, read_neighbors
from tailsight.collectors.snmp.mappings import VendorMapping

log = logging.getLogger(__name__)

_VendorKey = tuple[str, str | None, str]  # (metric, direction, port)

_TICKS = 2**32  # sysUpTime is TimeTicks (1/100 s) and wraps after 497 days

# (metric, direction, IF-MIB counters summed into it)
_PORT_SUMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("tailsight.switch.port.io", "receive", ("in_octets",)),
    ("tailsight.switch.port.io", "transmit", ("out_octets",)),
    ("tailsight.switch.port.packet.count", "receive", ("in_ucast", "in_mcast", "in_bcast")),
    ("tailsight.switch.port.packet.count", "transmit", ("out_ucast", "out_mcast", "out_bcast")),
    ("tailsight.switch.port.discards", "receive", ("in_discards",)),
    ("tailsight.switch.port.discards", "transmit", ("out_discards",)),
    ("tailsight.switch.port.errors", "receive", ("in_errors",)),
    ("tailsight.switch.port.errors", "transmit", ("out_errors",)),
)


@dataclass(frozen=True)
class SwitchConfig:
    """One switch to poll: its name (the ``tailsight.switch.name`` resource) and how to reach it.

    ``ports`` is a regular expression on the port name selecting the ports to report
    (all when ``None``); ``lldp_every`` reads the neighbor table every that many polls.
    """

    name: str
    target: SnmpTarget
    vendor: VendorMapping | None = None
    ports: str | None = None
    lldp: bool = True
    lldp_every: int = 10


@dataclass(frozen=True)
class SwitchPoll:
    """The outcome of one poll of one switch."""

    switch: str
    points: tuple[Point, ...]
    start_time_ns: int
    duration_s: float
    error: str | None = None
    restarted: bool = False
    ports: int = 0


class _Counters:
    """Raw counters per series key → cumulative totals, across wraps and agent restarts."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[object, ...], MonotonicCounter] = {}

    def total(self, key: tuple[object, ...], raw: int, bits: int) -> float:
        counter = self.by_key.get((*key, bits))
        if counter is None:
            # The device counts since the agent started (the series' start time), so the
            # first sighting's raw value is already a cumulative count.
            counter = self.by_key[(*key, bits)] = MonotonicCounter(bits)
            counter.total = float(raw)
        return float(counter.update(raw))

    def restart(self) -> None:
        for counter in self.by_key.values():
            counter.restart()

    @property
    def wraps(self) -> int:
        return sum(c.wraps for c in self.by_key.values())

    @property
    def resets(self) -> int:
        return sum(c.resets for c in self.by_key.values())


def uptime_went_back(last_ticks: int, ticks: int, elapsed_s: float) -> bool:
    """Whether sysUpTime going from ``last_ticks`` to ``ticks`` over ``elapsed_s`` is a restart.

    A drop is a restart unless it matches the TimeTicks wrap: the last value plus the
    wall time elapsed, modulo 2^32, within a tolerance for clock skew and agent caching.
    """
    if ticks >= last_ticks:
        return False
    tolerance = 1000 + elapsed_s * 10
    if last_ticks + elapsed_s * 100 + tolerance < _TICKS:
        return True  # too early for a wrap
    expected = (last_ticks + elapsed_s * 100) % _TICKS
    return abs(expected - ticks) > tolerance


class SwitchPoller:
    """Polls one switch and keeps its counters cumulative between polls.

    Args:
        config: the switch.
        engine: a shared pysnmp ``SnmpEngine`` (one per process is enough).
    """

    def __init__(self, config: SwitchConfig, engine: Any | None = None) -> None:
        self.config = config
        self.client = SnmpClient(config.target, engine)
        self.counters = _Counters()
        self._include = re.compile(config.ports) if config.ports else None
        self._last_uptime: tuple[int, float] | None = None
        self.start_ns = time.time_ns()
        self._polls = 0
        self._neighbors: list[Neighbor] = []
        self._failing = False
        self.restarts = 0

    async def poll(self) -> SwitchPoll:
        """Read the switch once; never raises for an unreachable or broken agent."""
        started = time.monotonic()
        try:
            points, restarted, nports = await self._read()
        except (SnmpError, OSError) as exc:
            return self._failed(str(exc), started)
        except Exception as exc:  # a broken agent must not stop the other switches
            log.exception("switch %s: poll failed", self.config.name)
            return self._failed(f"{exc.__class__.__name__}: {exc}", started)
        if self._failing:
            log.warning("switch %s answers again", self.config.name)
            self._failing = False
        return SwitchPoll(
            self.config.name,
            tuple(points),
            self.start_ns,
            time.monotonic() - started,
            None,
            restarted,
            nports,
        )

    def _failed(self, error: str, started: float) -> SwitchPoll:
        if not self._failing:
            log.warning("switch %s: %s", self.config.name, error)
            self._failing = True
        return SwitchPoll(self.config.name, (), self.start_ns, time.monotonic() - started, error)

    async def _read(self) -> tuple[list[Point], bool, int]:
        scalars = await self.client.get([SYS_UPTIME])
        ticks = scalars.get(SYS_UPTIME)
        restarted = False
        now = time.monotonic()
        if isinstance(ticks, int):
            if self._last_uptime is not None:
                last_ticks, last_at = self._last_uptime
                if uptime_went_back(last_ticks, ticks, now - last_at):
                    log.warning(
                        "switch %s restarted (sysUpTime %d -> %d)",
                        self.config.name,
                        last_ticks,
                        ticks,
                    )
                    self.counters.restart()
                    self.restarts += 1
                    restarted = True
            else:
                self.start_ns = time.time_ns() - ticks * 10_000_000
            self._last_uptime = (ticks, now)
        ports = await read_ports(self.client, self._include)
        vendor_sums = await self._read_vendor(ports)
        if self.config.lldp and (self._polls % max(1, self.config.lldp_every) == 0 or restarted):
            self._neighbors = await read_neighbors(self.client, {p.index: p.name for p in ports})
        self._polls += 1
        now_ns = time.time_ns()
        points = [*self._port_points(ports, now_ns), *_vendor_points(vendor_sums, now_ns)]
        points.extend(
            Point(
                "tailsight.switch.lldp.neighbor",
                1.0,
                {
                    "network.interface.name": n.local_port,
                    "tailsight.neighbor.name": n.remote_name,
                    "tailsight.neighbor.port": n.remote_port,
                },
                now_ns,
            )
            for n in self._neighbors
        )
        return points, restarted, len(ports)

    def _port_points(self, ports: Iterable[PortReading], now_ns: int) -> Iterable[Point]:
        for port in ports:
            name = port.name
            for metric, direction, keys in _PORT_SUMS:
                present = [k for k in keys if k in port.counters]
                if not present:
                    continue
                total = 0.0
                for key in present:
                    raw, bits = port.counters[key]
                    total += self.counters.total(("if", name, key), raw, bits)
                attrs = {"network.interface.name": name, "network.io.direction": direction}
                yield Point(metric, total, attrs, now_ns)
            if port.speed_bps is not None:
                yield Point(
                    "tailsight.switch.port.speed",
                    port.speed_bps,
                    {"network.interface.name": name},
                    now_ns,
                )
            if port.oper_status is not None:
                yield Point(
                    "tailsight.switch.port.up",
                    1.0 if port.oper_status == OPER_UP else 0.0,
                    {"network.interface.name": name},
                    now_ns,
                )

    async def _read_vendor(self, ports: Sequence[PortReading]) -> dict[_VendorKey, float]:
        """Cumulative vendor counters per (metric, direction, port), rows of a port summed."""
        vendor = self.config.vendor
        if vendor is None or not ports:
            return {}
        table = await self.client.walk([c.oid for c in vendor.columns])
        names = {p.index: p.name for p in ports}
        sums: dict[_VendorKey, float] = {}
        for column in vendor.columns:
            for row, raw in sorted(table.get(column.oid, {}).items()):
                name = names.get(row[0]) if row else None
                if name is None or not isinstance(raw, int):
                    continue
                key = (column.metric, column.direction, name)
                total = self.counters.total(("vendor", column.oid, row), raw, column.bits)
                sums[key] = sums.get(key, 0.0) + total
        return sums


def _vendor_points(sums: dict[_VendorKey, float], now_ns: int) -> list[Point]:
    out = []
    for (metric, direction, name), value in sums.items():
        attrs = {"network.interface.name": name}
        if direction is not None:
            attrs["network.io.direction"] = direction
        out.append(Point(metric, value, attrs, now_ns))
    return out


def make_pollers(configs: Sequence[SwitchConfig]) -> list[SwitchPoller]:
    """One poller per switch, sharing pysnmp engines where credentials allow.

    An engine holds one set of keys per USM user name, so switches with the same v3 user
    but different keys get engines of their own; v2c switches all share one.
    """
    from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

    engines: dict[tuple[str, ...], Any] = {}
    pollers = []
    for config in configs:
        t = config.target
        key = (
            ("2c",)
            if t.version == "2c"
            else ("3", t.user, t.auth_key, t.priv_key, t.auth_protocol, t.priv_protocol)
        )
        engine = engines.get(key)
        if engine is None:
            engine = engines[key] = SnmpEngine()
        pollers.append(SwitchPoller(config, engine))
    return pollers


async def poll_all(
    pollers: Sequence[SwitchPoller], deadline_s: float | None = None, concurrency: int = 64
) -> list[SwitchPoll]:
    """Poll every switch concurrently; one switch's timeout or deadline delays only itself."""
    gate = asyncio.Semaphore(concurrency)

    async def one(poller: SwitchPoller) -> SwitchPoll:
        async with gate:
            started = time.monotonic()
            try:
                return await asyncio.wait_for(poller.poll(), deadline_s)
            except TimeoutError:
                return SwitchPoll(
                    poller.config.name,
                    (),
                    poller.start_ns,
                    time.monotonic() - started,
                    f"poll exceeded its deadline of {deadline_s:g}s",
                )

    return list(await asyncio.gather(*(one(p) for p in pollers)))
