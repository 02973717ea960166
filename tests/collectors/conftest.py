"""Recorded trees for the node collectors, copied per test so a test may move counters."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

from tailsight.collectors.base import Point
from tailsight.collectors.catalogue import spec

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GPU_NODE = FIXTURES / "gpu-node"
HOST_VIRTIO = FIXTURES / "host-virtio"


@pytest.fixture
def gpu_node(tmp_path: Path) -> Path:
    """A writable copy of the written 8x H100 + mlx5 node (see fixtures/make_gpu_node.py)."""
    dest = tmp_path / "gpu-node"
    shutil.copytree(GPU_NODE, dest)
    return dest


def set_counter(path: Path, value: int) -> None:
    path.write_text(f"{value}\n")


def advance_cpu(procfs: Path, host_ticks: int, pid_ticks: dict[int, int]) -> None:
    """Let time pass in a recorded /proc: the host's idle+busy and some processes' utime grow."""
    stat = procfs / "stat"
    lines = stat.read_text().splitlines()
    fields = lines[0].split()
    fields[1] = str(int(fields[1]) + host_ticks // 2)  # user
    fields[4] = str(int(fields[4]) + host_ticks - host_ticks // 2)  # idle
    lines[0] = " ".join(fields)
    stat.write_text("\n".join(lines) + "\n")
    for pid, ticks in pid_ticks.items():
        path = procfs / str(pid) / "stat"
        text = path.read_text()
        head, _, tail = text.rpartition(") ")
        rest = tail.split()
        rest[11] = str(int(rest[11]) + ticks)
        path.write_text(f"{head}) {' '.join(rest)}\n")


def check_against_catalogue(points: Iterable[Point]) -> None:
    """Every point names a catalogue metric and carries exactly its attributes."""
    for p in points:
        entry = spec(p.metric)
        keys = set(p.attributes)
        missing = set(entry.attributes) - keys
        extra = keys - set(entry.attributes) - set(entry.optional_attributes)
        assert not missing, f"{p.metric} lacks {missing}: {p.attributes}"
        assert not extra, f"{p.metric} has undeclared {extra}: {p.attributes}"
        if entry.kind == "sum" or entry.unit == "1":
            assert p.value >= 0, p
        if entry.unit == "1" and p.metric != "tailsight.nic.link":
            assert p.value <= 1.0, p


def series(points: Iterable[Point], metric: str, **attrs: object) -> list[Point]:
    return [
        p
        for p in points
        if p.metric == metric and all(p.attributes.get(k) == v for k, v in attrs.items())
    ]


def one(points: Iterable[Point], metric: str, **attrs: object) -> Point:
    found = series(points, metric, **attrs)
    assert len(found) == 1, f"{metric} {attrs}: {len(found)} series"
    return found[0]
