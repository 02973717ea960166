"""Kept-open kernel files: current values on every read, afresh once a file is gone and back."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tailsight.collectors.files import KeptFiles
from tailsight.collectors.procfs import HostCollector


def test_kept_open_files_read_current_values(tmp_path: Path) -> None:
    files = KeptFiles(max_open=2)
    a, b, c = (str(tmp_path / n) for n in "abc")
    assert files.read_int(a) is None  # missing: nothing kept open
    assert len(files) == 0
    for path, value in ((a, 1), (b, 2), (c, 3)):
        Path(path).write_text(f"{value}\n")
    assert [files.read_int(a), files.read_int(b), files.read_int(c)] == [1, 2, 3]
    assert len(files) == 2  # c: past max_open, opened per read
    for path, value in ((a, 41), (b, 42), (c, 43)):
        Path(path).write_text(f"{value}\n")  # rewritten in place, as counters move
    assert [files.read_int(a), files.read_int(b), files.read_int(c)] == [41, 42, 43]
    # A file replaced by a new one (an interface gone and back) is read anew once forgotten.
    Path(a).unlink()
    Path(a).write_text("7\n")
    files.forget(str(tmp_path) + os.sep)
    assert len(files) == 0
    assert files.read_int(a) == 7
    Path(b).write_text("oops\n")
    assert files.read_int(b) is None  # not an integer
    files.close()
    assert len(files) == 0


def test_whole_files_of_any_length(tmp_path: Path) -> None:
    files = KeptFiles()
    path = tmp_path / "stat"
    for size in (0, 10, 4095, 4096, 4097, 3 * 4096, 20_000):
        text = ("x" * (size - 1) + "\n") if size else ""
        path.write_text(text)
        assert files.read(str(path)) == text.encode(), size
    path.unlink()
    files.forget(str(tmp_path))  # what a collector does for a device that went away
    assert files.read(str(path)) is None  # gone: nothing kept open for it
    assert len(files) == 0


def test_procfs_files_read_again_through_one_descriptor() -> None:
    # The real kernel: a procfs file renders afresh at offset 0 on every read.
    files = KeptFiles()
    first = files.read(f"/proc/{os.getpid()}/stat")
    assert first is not None and first.startswith(f"{os.getpid()} (".encode())
    sum(range(3_000_000))  # burn some CPU time: utime moves
    again = files.read(f"/proc/{os.getpid()}/stat")
    assert again is not None and again.split(b")")[0] == first.split(b")")[0]
    assert len(files) == 1
    uptime = [files.read("/proc/uptime") for _ in range(2)]
    assert all(u and float(u.split()[0]) > 0 for u in uptime)
    files.close()


def test_the_host_collector_reads_the_real_procfs_again_through_kept_descriptors() -> None:
    # /proc/stat, /proc/net/snmp and /proc/pressure/* are seq files: each read from offset
    # 0 renders them afresh, so the second collection sees moved counters, not a stale copy.
    collector = HostCollector("/proc")
    first = {p.metric for p in collector.collect()}
    sum(range(3_000_000))  # some CPU time passes
    time.sleep(0.05)
    second = list(collector.collect())
    assert "tailsight.tcp.retransmits" in first
    assert "system.cpu.utilization" in {p.metric for p in second}
    assert len(collector.files) >= 2  # stat and snmp at least, kept open
    assert collector.cpu_now is not None and collector.cpu_now[1] > 0
    collector.close()
    assert len(collector.files) == 0
