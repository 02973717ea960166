from __future__ import annotations

from tailsight.collectors.base import CounterSet, MonotonicCounter


def test_counter_accumulates_deltas_from_first_sight() -> None:
    c = MonotonicCounter()
    assert [c.update(v) for v in (100, 150, 150, 400)] == [0, 50, 50, 300]


def test_counter_reset_counts_from_zero_not_negative() -> None:
    c = MonotonicCounter(bits=64)
    c.update(1_000)
    c.update(5_000)
    assert c.update(30) == 4_030  # device counter reset: 30 since the reset
    assert c.resets == 1 and c.wraps == 0


def test_counter_32bit_wrap() -> None:
    c = MonotonicCounter(bits=32)
    c.update(2**32 - 100)
    assert c.update(50) == 150
    assert c.wraps == 1


def test_restart_counts_next_value_from_zero() -> None:
    c = MonotonicCounter(bits=32)
    c.update(10)
    c.update(20)
    c.restart()
    assert c.update(5) == 15


def test_counter_set_keys() -> None:
    s = CounterSet()
    s.update(("eth0", "rx"), 10)
    s.update(("eth1", "rx"), 99)
    assert s.update(("eth0", "rx"), 15) == 5
    assert s.update(("eth1", "rx"), 100) == 1
