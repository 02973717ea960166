"""End to end: ``tailsight switch-poller`` (the CLI) → OTLP → ``tailsight up`` → the store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tailsight.collectors.catalogue import BY_NAME
from tailsight.storage import open_store
from tests.collectors.snmp.conftest import Snmpd
from tests.conftest import REPO, UpProcess

pytestmark = pytest.mark.integration


def run_poller(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tailsight", "switch-poller", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_switch_port_metrics_land_with_contract_names(snmpd: Snmpd, tmp_path: Path) -> None:
    up = UpProcess(tmp_path / "data")
    try:
        up.wait_healthy()
        target = ["--target", f"127.0.0.1:{snmpd.port}", "--community", "public", "--once"]
        http = run_poller(
            *target, "--name", "leaf-http", "--endpoint", f"http://127.0.0.1:{up.otlp_http_port}"
        )
        grpc = run_poller(
            *target, "--name", "leaf-grpc", "--endpoint", f"grpc://127.0.0.1:{up.otlp_grpc_port}"
        )
        assert http.returncode == 0, http.stderr
        assert grpc.returncode == 0, grpc.stderr
    finally:
        assert up.stop() == 0, up.output()
    store = open_store(f"chdb://{tmp_path / 'data'}")
    try:
        sums = store.query(
            "SELECT ResourceAttributes['tailsight.switch.name'] AS switch, MetricName,"
            " MetricUnit, Attributes, Value, IsMonotonic, AggregationTemporality"
            " FROM otel_metrics_sum WHERE ResourceAttributes['tailsight.switch.name'] != ''"
        ).named_results()
        gauges = store.query(
            "SELECT ResourceAttributes['tailsight.switch.name'] AS switch, MetricName,"
            " MetricUnit, Attributes, Value"
            " FROM otel_metrics_gauge WHERE ResourceAttributes['tailsight.switch.name'] != ''"
        ).named_results()
        sums, gauges = list(sums), list(gauges)
    finally:
        store.close()
    assert {r["switch"] for r in sums} == {"leaf-http", "leaf-grpc"}
    for row in sums:
        entry = BY_NAME[row["MetricName"]]
        assert entry.kind == "sum" and row["MetricUnit"] == entry.unit
        assert set(entry.attributes) <= set(row["Attributes"]), row
        assert row["IsMonotonic"] and row["AggregationTemporality"] == 2  # cumulative
    for row in gauges:
        entry = BY_NAME[row["MetricName"]]
        assert entry.kind == "gauge" and row["MetricUnit"] == entry.unit
        assert set(entry.attributes) <= set(row["Attributes"]), row
    names = {r["MetricName"] for r in sums} | {r["MetricName"] for r in gauges}
    assert {
        "tailsight.switch.port.io",
        "tailsight.switch.port.discards",
        "tailsight.switch.port.errors",
        "tailsight.switch.port.speed",
    } <= names
    lo_rx = [
        r
        for r in sums
        if r["switch"] == "leaf-http"
        and r["MetricName"] == "tailsight.switch.port.io"
        and r["Attributes"] == {"network.interface.name": "lo", "network.io.direction": "receive"}
    ]
    assert len(lo_rx) == 1 and lo_rx[0]["Value"] > 0
