"""Acceptance 3: `tailsight agent` against a running `tailsight up` lands its metrics in the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tailsight.storage import open_store
from tests.collectors.conftest import FIXTURES
from tests.conftest import UpProcess

REPO = Path(__file__).resolve().parents[2]
NODE = FIXTURES / "gpu-node"


def agent_cmd(endpoint: str, host: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tailsight",
        "agent",
        "--endpoint",
        endpoint,
        "--host-name",
        host,
        "--sysfs-root",
        str(NODE / "sys"),
        "--procfs-root",
        str(NODE / "proc"),
        "--pods-dir",
        str(NODE / "var/log/pods"),
        "--nvml-replay",
        str(NODE / "nvml.json"),
        "--ethtool-replay",
        str(NODE / "ethtool"),
        "--no-lldp",
        *extra,
    ]


@pytest.mark.integration
def test_agent_metrics_land_in_gauge_and_sum_tables(tmp_path: Path) -> None:
    up = UpProcess(tmp_path / "data", "--token", "s3cret")
    try:
        up.wait_healthy()
        env = {**os.environ, "TAILSIGHT_TOKEN": "s3cret"}
        http = subprocess.Popen(
            agent_cmd(f"http://127.0.0.1:{up.otlp_http_port}", "node-http", "--interval", "500ms"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        try:
            time.sleep(3.0)  # about five export intervals
        finally:
            http.send_signal(signal.SIGTERM)
            _out, err = http.communicate(timeout=30)
        assert http.returncode == 0, err
        # gRPC, one reading (plain host trees: this machine's /sys and /proc).
        once = subprocess.run(
            [
                sys.executable,
                "-m",
                "tailsight",
                "agent",
                "--once",
                "--endpoint",
                f"grpc://127.0.0.1:{up.otlp_grpc_port}",
                "--host-name",
                "node-grpc",
                "--interval",
                "200ms",
                "--no-lldp",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            cwd=REPO,
        )
        assert once.returncode == 0, once.stderr
        # A wrong token is refused, and said so in one line.
        refused = subprocess.run(
            agent_cmd(
                f"http://127.0.0.1:{up.otlp_http_port}", "node-x", "--once", "--token", "wrong"
            ),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines()[-1].startswith("tailsight agent: export to")
    finally:
        assert up.stop() == 0, up.output()
    store = open_store(f"chdb://{tmp_path / 'data'}")
    try:
        gauge = store.rows(
            "SELECT ResourceAttributes['host.name'] AS host, MetricName, count() "
            "FROM otel_metrics_gauge GROUP BY host, MetricName"
        )
        sums = store.rows(
            "SELECT ResourceAttributes['host.name'] AS host, MetricName, max(Value), "
            "any(IsMonotonic), any(AggregationTemporality) "
            "FROM otel_metrics_sum GROUP BY host, MetricName"
        )
        process = store.rows(
            "SELECT DISTINCT Attributes['process.pid'], Attributes['k8s.pod.name'] "
            "FROM otel_metrics_gauge WHERE MetricName = 'tailsight.gpu.process.utilization' "
            "AND Attributes['hw.id'] = 'GPU-4b9b9e12-2c53-8d1a-6f0e-1c2d3e4f5a62'"
        )
    finally:
        store.close()
    gauges = {(h, m): n for h, m, n in gauge}
    counters = {(h, m): (v, mono, temp) for h, m, v, mono, temp in sums}
    assert gauges.get(("node-http", "hw.gpu.utilization"), 0) >= 7 * 2  # 7 GPUs, 2+ exports
    for metric in ("tailsight.gpu.process.utilization", "tailsight.host.pressure"):
        assert ("node-http", metric) in gauges, metric
    for metric in ("hw.gpu.io", "system.network.io", "tailsight.rdma.ecn_marked", "hw.errors"):
        assert ("node-http", metric) in counters, metric
    value, monotonic, temporality = counters[("node-http", "hw.errors")]
    assert value >= 1 and monotonic  # XIDs of GPU 1 within the first exports
    assert temporality == 2  # cumulative
    assert ("node-grpc", "system.network.io") in counters
    assert ("node-grpc", "system.cpu.utilization") in gauges
    assert not any(h == "node-x" for h, _ in gauges)
    assert sorted(process) == [("4102", "llm-70b-0"), ("5200", "batch-embed-5f7d9-qx2lm")]
