"""``tailsight slo check|list`` and ``GET /api/v1/slos``, with and without a running `tailsight up`."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tailsight.cli import main
from tailsight.storage import open_store
from tailsight.storage.migrations import migrate
from tests.alerts.test_openslo import GOOD
from tests.conftest import REPO, UpProcess

AVAILABILITY = GOOD.replace("llm-gateway-latency", "gw-ok").replace(
    "spans: {service: llm-gateway, max_duration_ms: 2000}",
    "spans: {service: llm-gateway, ok: true}",
)
CONTRACT_FIELDS = {
    "name", "service", "target", "window", "sli", "error_budget_remaining", "burn_rates",
    "alerts_firing",
}  # fmt: skip


def slo_dir(tmp_path: Path) -> Path:
    path = tmp_path / "slos"
    path.mkdir()
    (path / "gateway.yaml").write_text(GOOD + "---\n" + AVAILABILITY)
    return path


def test_check_valid_file_prints_one_line_per_slo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = slo_dir(tmp_path) / "gateway.yaml"
    assert main(["slo", "check", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"llm-gateway-latency ({path}): llm-gateway 99% over 28d rolling")
    assert "good spans llm-gateway <= 2000 ms / total spans llm-gateway" in lines[0]
    assert "page 14.4x 1h/5m" in lines[0] and "min 20 requests" in lines[0]


def test_check_bad_file_exits_non_zero_naming_each_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD + "---\n" + GOOD.replace("target: 0.99", "target: 99").replace("28d", "28x")
    )
    missing = tmp_path / "missing.yaml"
    assert main(["slo", "check", str(bad), str(missing)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert (
        f"{bad}: document 2: spec.objectives[0].target: must lie strictly between 0 and 1 (0 and 100 for targetPercent)"
        in out
    )
    assert any(line.startswith(f"{bad}: document 2: spec.timeWindow[0].duration:") for line in out)
    assert any(line.startswith(f"{missing}: document 0: (file): cannot read") for line in out)
    assert out[-1] == "3 errors; 1 SLO(s) valid"


def spans(service: str, n: int, failed: int, ago_s: float = 30.0) -> list[tuple[Any, ...]]:
    ts = datetime.now(UTC) - timedelta(seconds=ago_s)
    return [
        (ts, secrets.token_hex(16), secrets.token_hex(8), "generate", "Server", service, {},
         100_000_000, "Error" if i < failed else "Ok", "")
        for i in range(n)
    ]  # fmt: skip


def test_list_without_server_opens_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    store = open_store(f"chdb://{data}")
    migrate(store, 30)
    store.insert(
        "otel_traces",
        spans("llm-gateway", 200, 4),
        ("Timestamp", "TraceId", "SpanId", "SpanName", "SpanKind", "ServiceName",
         "SpanAttributes", "Duration", "StatusCode", "TraceState"),
    )  # fmt: skip
    store.close()
    slos = slo_dir(tmp_path)
    args = ["slo", "list", "--data-dir", str(data), "--slo-dir", str(slos)]
    assert main([*args, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in found] == ["gw-ok", "llm-gateway-latency"]
    ok, fast = found
    assert CONTRACT_FIELDS <= set(ok)
    assert list(ok["burn_rates"]) == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    assert ok["requests"]["5m"] == 200 and ok["sli"] == pytest.approx(0.98)
    assert ok["burn_rates"]["5m"] == pytest.approx(2.0)
    assert ok["error_budget_remaining"] == pytest.approx(-1.0)
    assert fast["sli"] == 1.0 and fast["alerts_firing"] == 0 and fast["window"] == "28d"
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "gw-ok" in table and "98.000%" in table and "-100.0%" in table


def _otlp_spans(service: str, n: int, failed: int) -> bytes:
    now_ns = time.time_ns()
    spans = [
        {
            "traceId": secrets.token_hex(16),
            "spanId": secrets.token_hex(8),
            "name": "generate",
            "kind": 2,
            "traceState": "ot=th:8",  # sampled with probability 1/2: each counts twice
            "startTimeUnixNano": str(now_ns - 50_000_000),
            "endTimeUnixNano": str(now_ns),
            "status": {"code": 2 if i < failed else 1},
        }
        for i in range(n)
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    return json.dumps(body).encode()


@pytest.mark.integration
def test_list_through_running_up_and_api(tmp_path: Path) -> None:
    slos = slo_dir(tmp_path)
    up = UpProcess(tmp_path / "data", env={"TAILSIGHT_SLO_DIR": str(slos)})
    try:
        up.wait_healthy()
        request = urllib.request.Request(
            f"http://127.0.0.1:{up.otlp_http_port}/v1/traces",
            data=_otlp_spans("llm-gateway", 50, 5),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(up.api + "/api/v1/slos", timeout=10) as resp:
                found = json.loads(resp.read())
            if found and found[0]["requests"]["5m"] > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert [s["name"] for s in found] == ["gw-ok", "llm-gateway-latency"]
        assert found[0]["requests"]["5m"] == 100  # 50 spans, each standing for 2 requests
        assert found[0]["sli"] == pytest.approx(0.9)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tailsight",
                "slo",
                "list",
                "--json",
                "--data-dir",
                str(up.data_dir),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        assert out.returncode == 0, out.stderr
        via_cli = json.loads(out.stdout)
        assert [(s["name"], s["requests"]["5m"], s["sli"]) for s in via_cli] == [
            (s["name"], s["requests"]["5m"], s["sli"]) for s in found
        ]
    finally:
        up.stop()
