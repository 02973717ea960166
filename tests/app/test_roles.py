"""`tailsight up --role …` processes: what each serves and what it refuses (docs/deployment.md).

The embedded store admits one process, so each role runs on its own data directory here;
a cluster runs them side by side on one ClickHouse server.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import UpProcess

pytestmark = pytest.mark.integration

LEASE = "/api/v1/leases/analyzer"


def _status(url: str, body: bytes | None = None, content_type: str = "application/json") -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as r:
        data = json.loads(r.read())
    assert isinstance(data, dict)
    return data


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except ConnectionRefusedError:
        return False


def _serves(proc: UpProcess) -> dict[str, int | bool]:
    """What a process answers on each port and route the roles divide between them."""
    api = proc.api
    return {
        "health": _status(api + "/api/v1/health"),
        "metrics": _status(api + "/metrics"),
        "incidents": _status(api + "/api/v1/incidents?since=1h"),
        "analyze": _status(api + "/api/v1/analyze", b'{"from": "1h"}'),
        "lease": _status(api + LEASE),
        "otlp_http": _listening(proc.otlp_http_port),
        "otlp_grpc": _listening(proc.otlp_grpc_port),
    }


def _wait_running(proc: UpProcess, timeout: float) -> dict[str, object]:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        status = _json(proc.api + LEASE)
        if status["running"]:
            return status
        time.sleep(0.2)
    raise AssertionError(f"the analyzer did not start its jobs in {timeout}s:\n{proc.output()}")


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            "receiver",
            dict(health=200, metrics=200, incidents=404, analyze=404, lease=404,
                 otlp_http=True, otlp_grpc=True),
        ),
        (
            "analyzer",
            dict(health=200, metrics=404, incidents=404, analyze=404, lease=200,
                 otlp_http=False, otlp_grpc=False),
        ),
        (
            "ui",
            dict(health=200, metrics=404, incidents=200, analyze=200, lease=404,
                 otlp_http=False, otlp_grpc=False),
        ),
        (
            "all",
            dict(health=200, metrics=200, incidents=200, analyze=200, lease=200,
                 otlp_http=True, otlp_grpc=True),
        ),
    ],
)  # fmt: skip
def test_role_serves_and_refuses(tmp_path: Path, role: str, expected: dict[str, object]) -> None:
    proc = UpProcess(tmp_path / "data", "--role", role)
    try:
        proc.wait_healthy(timeout=60)
        assert _serves(proc) == expected
        if expected["otlp_http"]:
            empty_export = b""  # an ExportTraceServiceRequest without spans
            url = f"http://127.0.0.1:{proc.otlp_http_port}/v1/traces"
            assert _status(url, empty_export, "application/x-protobuf") == 200
        if expected["lease"] == 200:
            status = _wait_running(proc, timeout=30)
            assert status["held"] and status["holder"] == status["me"]
    finally:
        assert proc.stop() == 0, proc.output()
    assert "Traceback" not in proc.output()
    # Only a receiver keeps an ingest spool.
    assert (tmp_path / "data" / "spool").exists() == expected["otlp_http"]


def test_killed_analyzer_is_replaced_within_a_minute(tmp_path: Path) -> None:
    """SIGKILL the lease holder; the next analyzer waits out its claim, then runs the jobs."""
    data = tmp_path / "data"
    env = {"TAILSIGHT_LEASE_TTL_S": "6"}
    first = UpProcess(data, "--role", "analyzer", env=env)
    try:
        first.wait_healthy(timeout=60)
        dead = _wait_running(first, timeout=30)
    finally:
        first.proc.kill()
        first.proc.wait(30)
        first.stop()
    killed = time.monotonic()
    second = UpProcess(data, "--role", "analyzer", env=env)
    try:
        second.wait_healthy(timeout=60)
        status = _wait_running(second, timeout=60)
        took = time.monotonic() - killed
        assert took < 60
        assert status["holder"] == status["me"] != dead["me"]
        assert int(str(status["term"])) > int(str(dead["term"]))
    finally:
        assert second.stop() == 0, second.output()
    log = second.output()
    assert "lease analyzer won" in log, log
