"""``tailsight up`` as a child process: started on given ports, waited for, stopped.

``tailsight demo`` runs the product this way; tests and benchmarks do too (``UpProcess``
in ``tests/conftest.py``), so all of them start, watch and stop it alike.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path


class UpFailed(RuntimeError):
    """``tailsight up`` exited, or was not healthy in time; the message points at its log."""


def _die_with_parent() -> None:
    """In the child: SIGTERM it when the parent dies, even by SIGKILL (Linux ``PR_SET_PDEATHSIG``)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class UpServer:
    """One ``tailsight up`` process, its output (stdout and stderr) in ``log``.

    Args:
        data_dir: its ``--data-dir``.
        extra: more command-line arguments.
        api_port, otlp_http_port, otlp_grpc_port: its ports.
        log: where its output goes.
        host: its ``--host`` (default: tailsight's own default, loopback).
        connect_host: where to reach its API (loopback when it listens everywhere).
        env: environment variables on top of this process's.
        cwd: its working directory.
        die_with_parent: its own session, and SIGTERM when this process dies, so a
            supervisor's signal to this process stops it too.
    """

    def __init__(
        self,
        data_dir: Path,
        *extra: str,
        api_port: int,
        otlp_http_port: int,
        otlp_grpc_port: int,
        log: Path,
        host: str | None = None,
        connect_host: str = "127.0.0.1",
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        die_with_parent: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.api_port = api_port
        self.otlp_http_port = otlp_http_port
        self.otlp_grpc_port = otlp_grpc_port
        self.log = log
        self.connect_host = connect_host
        cmd = [sys.executable, "-m", "tailsight", "up", "--data-dir", str(data_dir)]
        if host is not None:
            cmd += ["--host", host]
        cmd += [
            "--api-port",
            str(api_port),
            "--otlp-http-port",
            str(otlp_http_port),
            "--otlp-grpc-port",
            str(otlp_grpc_port),
            *extra,
        ]
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=die_with_parent,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )

    @property
    def api(self) -> str:
        return f"http://{self.connect_host}:{self.api_port}"

    def wait_healthy(self, timeout: float = 60.0) -> float:
        """Seconds until ``/api/v1/health`` answered 200; :class:`UpFailed` if it exits or times out."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                lines = [x for x in self.output().splitlines() if x.strip()]
                last = lines[-1] if lines else "no output"
                raise UpFailed(
                    f"tailsight up exited with status {self.proc.returncode}: {last} (log {self.log})"
                )
            try:
                with urllib.request.urlopen(self.api + "/api/v1/health", timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.1)
        raise UpFailed(f"tailsight up was not healthy within {timeout:.0f}s; see {self.log}")

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (it drains and stops), SIGKILL past ``timeout``; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode
