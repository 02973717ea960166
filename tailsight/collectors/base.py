"""The collector seam: a ``Collector`` yields ``Point``s; counters stay cumulative across resets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import NamedTuple, Protocol

AttrValue = str | int | float | bool

_NO_ATTRIBUTES: Mapping[str, AttrValue] = MappingProxyType({})


class Point(NamedTuple):
    """One reading of a catalogue metric for one series.

    ``value`` of a ``sum`` metric is the cumulative count since ``start_time_ns`` (the
    collector's start, or the series' first sighting), never a raw device counter that
    may wrap or reset: see :class:`MonotonicCounter`. A node makes hundreds a second, so
    this is a tuple (a third of a frozen dataclass's cost to build); collectors may hand
    the same ``attributes`` mapping to every point of a series, and nobody mutates it.
    """

    metric: str
    value: float
    attributes: Mapping[str, AttrValue] = _NO_ATTRIBUTES
    time_ns: int = 0


class CounterFile(NamedTuple):
    """A kernel counter file read every interval, and the series it feeds."""

    metric: str
    path: str
    counter: MonotonicCounter
    attributes: Mapping[str, AttrValue]


class Collector(Protocol):
    """Reads one source (NVML, a sysfs tree, a switch …) and yields its points.

    ``collect`` is called once per interval; it must not raise for a missing or broken
    device, but log once and yield what it can.
    """

    name: str

    def collect(self) -> Iterable[Point]: ...


class MonotonicCounter:
    """Turns a raw device counter into a cumulative count that never decreases.

    A raw value lower than the previous one is a wrap when ``bits`` is set and the
    wrapped delta is plausible (less than half the range), else a reset of the device
    counter (driver reload, agent restart): the count since the reset is added.
    """

    def __init__(self, bits: int | None = None) -> None:
        self.bits = bits
        self.total = 0.0
        self._last: float | None = None
        self.resets = 0
        self.wraps = 0

    def update(self, raw: float) -> float:
        """Feed the device's current value; returns the cumulative total."""
        last = self._last
        self._last = raw
        if last is None:
            return self.total
        if raw >= last:
            self.total += raw - last
        elif self.bits is not None and (last - raw) > 2 ** (self.bits - 1):
            self.total += 2**self.bits - last + raw
            self.wraps += 1
        else:
            self.total += raw
            self.resets += 1
        return self.total

    def restart(self) -> None:
        """The source restarted (e.g. sysUpTime went back): the next value counts from zero."""
        if self._last is not None:
            self._last = 0.0


class CounterSet:
    """One :class:`MonotonicCounter` per series key, created on first sight."""

    def __init__(self, bits: int | None = None) -> None:
        self.bits = bits
        self._counters: dict[tuple[object, ...], MonotonicCounter] = {}

    def counter(self, key: tuple[object, ...]) -> MonotonicCounter:
        """The series' counter, for a collector that keeps it at hand between intervals."""
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = MonotonicCounter(self.bits)
        return counter

    def update(self, key: tuple[object, ...], raw: float) -> float:
        return self.counter(key).update(raw)

    def restart_all(self) -> None:
        for counter in self._counters.values():
            counter.restart()
