"""Shared fixtures: a fresh embedded store per test, free ports, and a running `tailsight up`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

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


class UpProcess:
    """A `tailsight up` subprocess on free loopback ports."""

    def __init__(self, data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.api_port = free_port()
        self.otlp_http_port = free_port()
        self.otlp_grpc_port = free_port()
        self.log = data_dir.parent / f"up-{self.api_port}.log"
        cmd = [
            sys.executable,
            "-m",
            "tailsight",
            "up",
            "--data-dir",
            str(data_dir),
            "--api-port",
            str(self.api_port),
            "--otlp-http-port",
            str(self.otlp_http_port),
            "--otlp-grpc-port",
            str(self.otlp_grpc_port),
            *extra,
        ]
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def wait_healthy(self, timeout: float = 20.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"tailsight up exited {self.proc.returncode}:\n{self.output()}"
                )
            try:
                with urllib.request.urlopen(self.api + "/api/v1/health", timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not healthy in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    """A healthy `tailsight up` on a fresh data directory, stopped after the test."""
    proc = UpProcess(tmp_path / "data")
    try:
        proc.wait_healthy()
        yield proc
    finally:
        proc.stop()
