"""`tailsight up` as a user runs it: a subprocess on loopback ports and a fresh data directory."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import clickhouse_connect
import pytest

from tests.conftest import REPO, UpProcess

pytestmark = pytest.mark.integration


def _get(url: str, token: str | None = None) -> tuple[int, object]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_up_health_lock_and_tables(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = UpProcess(data)
    try:
        took = first.wait_healthy(timeout=20)
        assert took < 20
        assert _get(first.api + "/api/v1/health") == (200, {"status": "ok"})
        second = subprocess.run(
            [sys.executable, "-m", "tailsight", "up", "--data-dir", str(data), "--api-port", "1"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        assert second.returncode != 0
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert "tailsight.lock" in lines[0] and "in use by process" in lines[0]
    finally:
        assert first.stop() == 0, first.output()
    assert "Traceback" not in first.output()
    client = clickhouse_connect.get_client(dsn=f"chdb://{data}", database="otel")
    try:
        tables = {r[0] for r in client.query("SHOW TABLES").result_rows}
        assert {
            "otel_traces",
            "otel_metrics_gauge",
            "otel_metrics_sum",
            "otel_metrics_histogram",
            "otel_metrics_exponential_histogram",
            "otel_metrics_summary",
            "otel_logs",
            "otel_traces_trace_id_ts",
            "tailsight_incidents",
        } <= tables
        cols = {r[0] for r in client.query("DESCRIBE TABLE otel_traces").result_rows}
        assert {
            "Timestamp",
            "TraceId",
            "SpanId",
            "ServiceName",
            "Duration",
            "SpanAttributes",
        } <= cols
    finally:
        client.close()


def test_api_incidents_and_analyze(up: UpProcess) -> None:
    status, body = _get(up.api + "/api/v1/incidents?since=2h")
    assert (status, body) == (200, [])
    status, body = _get(up.api + "/api/v1/incidents?since=yesterday")
    assert status == 400 and "ISO 8601" in body["error"]  # type: ignore[index]
    request = urllib.request.Request(
        up.api + "/api/v1/analyze", data=b'{"from": "1h", "to": "now"}', method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        result = json.loads(r.read())
    assert result["incidents"] == [] and result["from"].endswith("Z")


def test_cli_reads_through_running_api(up: UpProcess) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tailsight", "incidents", "--data-dir", str(up.data_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tailsight",
            "analyze",
            "--data-dir",
            str(up.data_dir),
            "--from",
            "30m",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    assert "0 incident(s)" in out.stdout


def test_token_protects_api(tmp_path: Path) -> None:
    proc = UpProcess(tmp_path / "data", env={"TAILSIGHT_TOKEN": "s3cret"})
    try:
        proc.wait_healthy()
        assert _get(proc.api + "/api/v1/incidents")[0] == 401
        assert _get(proc.api + "/api/v1/incidents", token="wrong")[0] == 401
        assert _get(proc.api + "/api/v1/incidents", token="s3cret") == (200, [])
    finally:
        proc.stop()


def test_busy_port_is_one_line_error(up: UpProcess, tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tailsight",
            "up",
            "--data-dir",
            str(tmp_path / "other"),
            "--api-port",
            str(up.api_port),
            "--otlp-http-port",
            "0",
            "--otlp-grpc-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 2
    assert (
        out.stderr.strip().splitlines()[-1].startswith("tailsight up: cannot listen on 127.0.0.1:")
    )
