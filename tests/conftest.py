"""Shared fixtures: a fresh embedded store per test, free ports, and a running `tailsight up`."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tailsight.app.launch import UpFailed, UpServer
from tailsight.storage import Store, open_store
from tailsight.storage.migrations import migrate

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh, migrated embedded store in its own data directory."""
    s = open_store(f"chdb://{tmp_path / 'store'}")
    migrate(s, ttl_days=30)
    try:
        yield s
    finally:
        s.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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

    def wait_healthy(self, timeout: float = 20.0) -> float:
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
