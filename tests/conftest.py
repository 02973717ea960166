"""Shared fixtures: a fresh embedded store per test, free ports, and a running `tailsight up`."""

from __future__ import annotations

import itertools
import os
import random
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tailsight.app.launch import UpFailed, UpServer
from tailsight.storage import Store, open_store
from tailsight.storage.migrations import migrate

REPO = Path(__file__).resolve().parent.parent


_TEMPLATE: list[Path] = []  # this process's migrated, empty, closed store (one per worker)


def _clone_store(factory: pytest.TempPathFactory, dst: Path) -> None:
    """Copy a migrated, empty store into ``dst``: about 0.3 s against 0.8 s to migrate one
    (measured; ~117 tests take a store). chDB's Atomic database links each table's data
    folder and the database's metadata by absolute path into ``store/``; those links are
    pointed at the copy's own ``store/``, so the copy shares nothing with the template."""
    if not _TEMPLATE:
        template = factory.mktemp("store-template") / "store"
        s = open_store(f"chdb://{template}")
        try:
            migrate(s, ttl_days=30)
        finally:
            s.close()
        _TEMPLATE.append(template)
    template = _TEMPLATE[0]
    shutil.copytree(template, dst, symlinks=True, ignore=shutil.ignore_patterns("tailsight.lock"))
    for link in [p for p in dst.rglob("*") if p.is_symlink()]:
        target = Path(os.readlink(link))
        if target.is_absolute() and target.is_relative_to(template):
            link.unlink()
            link.symlink_to(dst / target.relative_to(template))


@pytest.fixture
def store(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A fresh, migrated, empty embedded store in its own data directory (a copy of this
    process's migrated template; ``migrate`` on it must find nothing left to do)."""
    _clone_store(tmp_path_factory, tmp_path / "store")
    s = open_store(f"chdb://{tmp_path / 'store'}")
    try:
        report = migrate(s, ttl_days=30)
        assert not report.applied and not report.ttl_changed, report
        yield s
    finally:
        s.close()


def _port_range() -> range:
    """The ports this test process hands out: below the kernel's ephemeral range, split
    between xdist workers. A port the kernel picks (``bind(0)``) lies in the ephemeral
    range, where another process's outgoing connection can take it between the pick and
    the server's bind; under two workers that happened (``Address already in use``)."""
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:]
    index = int(worker) if worker.isdigit() else 0
    span = (ephemeral - _LOWEST_PORT) // max(workers, 1)
    return range(_LOWEST_PORT + index * span, _LOWEST_PORT + (index + 1) * span)


_LOWEST_PORT = 10000
_PORTS = _port_range()
# From a random point of this process's range, each port once in turn (wrapping around).
_NEXT_PORT = itertools.count(random.randrange(len(_PORTS))) if len(_PORTS) > 100 else None


def free_port() -> int:
    """A loopback port free now, not handed out before by this process (until it wraps)."""
    if _NEXT_PORT is None:  # no room below the ephemeral range: let the kernel pick
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    for _ in range(len(_PORTS)):
        port = _PORTS[next(_NEXT_PORT) % len(_PORTS)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken (another program, or a server of this run still up)
            return port
    raise RuntimeError(f"no free loopback port in {_PORTS}")


class UpProcess(UpServer):
    """A `tailsight up` subprocess on free loopback ports, its log beside its data directory."""

    def __init__(self, data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        api_port = free_port()
        super().__init__(
            data_dir,
            *extra,
            api_port=api_port,
            otlp_http_port=free_port(),
            otlp_grpc_port=free_port(),
            log=data_dir.parent / f"up-{api_port}.log",
            env=env,
            cwd=REPO,
        )

    def wait_healthy(self, timeout: float = 60.0) -> float:
        try:
            return super().wait_healthy(timeout)
        except UpFailed as exc:
            raise AssertionError(f"{exc}:\n{self.output()}") from None


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    """A healthy `tailsight up` on a fresh data directory, stopped after the test."""
    proc = UpProcess(tmp_path / "data")
    try:
        proc.wait_healthy()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def every_kind_up(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[UpProcess, dict[str, Any]]]:
    """A `tailsight up` filled with the every-kind scenario over OTLP/HTTP and analysed
    through its API (tests/dashboards/filled.py), with the demo's SLOs: one fill for the
    session, shared by tests/analysis/test_e2e_sim.py (the incidents found) and the browser
    tests (the pages). Tests only read from it."""
    import yaml

    from tailsight.sim.demo import demo_slos
    from tests.dashboards.filled import fill_up

    root = tmp_path_factory.mktemp("every-kind")
    (root / "slos").mkdir()
    (root / "slos" / "demo.yaml").write_text(yaml.safe_dump_all(demo_slos()))
    proc = UpProcess(root / "data", env={"TAILSIGHT_SLO_DIR": str(root / "slos")})
    try:
        proc.wait_healthy(60)
        yield proc, fill_up(proc)
    finally:
        proc.stop()
