"""Scrape inside the ingest pipeline: recorded exporter payloads served locally, a dead target, config errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tailsight.config import ConfigError
from tailsight.pipeline.prom_scrape_config import parse_duration, parse_scrape_configs
from tailsight.storage import Store
from tests.conftest import free_port
from tests.pipeline.conftest import run_pipeline
from tests.pipeline.promdata import fixture

pytestmark = pytest.mark.integration


class _Payloads(BaseHTTPRequestHandler):
    """Serves /<name> as the recorded payload ``<name>_<n>.txt``, n = 1 then 2 (then 2 again)."""

    served: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        name = self.path.strip("/").split("?")[0]
        n = min(2, self.served.get(name, 0) + 1)
        self.served[name] = n
        try:
            body = fixture(f"{name}_{n}.txt").encode()
        except FileNotFoundError:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def exporters() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Payloads)
    _Payloads.served = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _wait(store: Store, sql: str, n: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    got = 0
    while time.monotonic() < deadline:
        got = int(store.rows(sql)[0][0])
        if got >= n:
            return got
        time.sleep(0.2)
    return got


def test_recorded_exporters_scraped_stored_and_mapped_dead_target_alone(
    store: Store, tmp_path: Path, exporters: str
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    sd = tmp_path / "targets.yaml"
    sd.write_text(yaml.safe_dump([
        {"targets": [exporters], "labels": {"__metrics_path__": "/vllm", "cluster": "a"}},
        {"targets": [exporters], "labels": {"prometheus.io/scrape": "false", "__metrics_path__": "/x"}},
    ]))  # fmt: skip
    configs = (
        {"job_name": "dcgm", "scrape_interval": "1s", "metrics_path": "/dcgm",
         "static_configs": [{"targets": [exporters, dead], "labels": {"rack": "r1"}}]},
        {"job_name": "vllm", "scrape_interval": "1s", "file_sd_configs": [{"files": [str(sd)]}]},
        {"job_name": "triton", "scrape_interval": "1s", "metrics_path": "/triton",
         "static_configs": [{"targets": [exporters]}]},
    )  # fmt: skip
    for p in run_pipeline(store, tmp_path / "ingest", scrape_configs=configs):
        up = "SELECT count() FROM otel_metrics_gauge WHERE MetricName = 'up'"
        assert _wait(store, up, 8) >= 8  # 4 targets, twice
        # dcgm scraped twice: the mapped sums have their pair
        _wait(store, "SELECT count() FROM otel_metrics_sum WHERE MetricName = 'hw.gpu.io'", 32)
        text = p.writer.metrics.render()
        assert 'tailsight_scrape_total{job="dcgm",outcome="failed"}' in text
        assert 'tailsight_scrape_samples_total{job="triton"}' in text
    rows = store.rows(
        "SELECT ServiceName, ResourceAttributes['service.instance.id'], max(Value), min(Value), "
        "any(Attributes['rack']) FROM otel_metrics_gauge WHERE MetricName = 'up' GROUP BY 1, 2 ORDER BY 1, 2"
    )
    assert [tuple(r) for r in rows] == sorted([
        ("dcgm", exporters, 1.0, 1.0, "r1"), ("dcgm", dead, 0.0, 0.0, "r1"),
        ("triton", exporters, 1.0, 1.0, ""), ("vllm", exporters, 1.0, 1.0, ""),
    ])  # fmt: skip
    assert store.rows("SELECT count() FROM otel_metrics_gauge WHERE MetricName = 'scrape_duration_seconds' "
                      "AND Value > 0 AND Value < 5")[0][0] >= 8  # fmt: skip
    gpus = store.rows(
        "SELECT uniqExact(Attributes['hw.id']), any(ResourceAttributes['host.name']), max(Value) "
        "FROM otel_metrics_gauge WHERE MetricName = 'hw.gpu.utilization'"
    )[0]
    assert tuple(gpus) == (8, "gpu-node-7", 0.90)
    vllm = store.rows(
        "SELECT Attributes['cluster'], ResourceAttributes['url.scheme'], Count FROM otel_metrics_histogram "
        "WHERE MetricName = 'vllm:time_to_first_token_seconds' ORDER BY TimeUnix LIMIT 1"
    )[0]
    assert tuple(vllm) == ("a", "http", 600)
    assert store.rows("SELECT count() FROM otel_metrics_histogram "
                      "WHERE MetricName = 'gen_ai.server.time_to_first_token'")[0][0] >= 2  # fmt: skip
    assert "x" not in _Payloads.served  # the annotated-off target was never asked


def test_config_errors_name_the_job_and_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"scrape_configs\[0\]\.job_name"):
        parse_scrape_configs(({"static_configs": []},))
    with pytest.raises(ConfigError, match=r"\(a\)\.scrape_interval: '15 s'"):
        parse_scrape_configs(({"job_name": "a", "scrape_interval": "15 s"},))
    with pytest.raises(ConfigError, match=r"\(a\)\.scrape_timeout: 20s is longer"):
        parse_scrape_configs(({"job_name": "a", "scrape_interval": "15s", "scrape_timeout": "20s"},))
    with pytest.raises(ConfigError, match="relabel_configs"):
        parse_scrape_configs(({"job_name": "a", "relabel_configs": [{"action": "drop"}]},))
    with pytest.raises(ConfigError, match="unknown field"):
        parse_scrape_configs(({"job_name": "a", "scrape_intervall": "1s"},))
    bad = tmp_path / "t.json"
    bad.write_text('{"targets": 1}')
    job = parse_scrape_configs(({"job_name": "a", "file_sd_configs": [{"files": [str(bad)]}]},))[0]
    with pytest.raises(ConfigError, match="t.json: must be a list"):
        job.targets()
    assert parse_duration("1m30s", "x") == 90 and parse_duration("500ms", "x") == 0.5
    short = parse_scrape_configs(({"job_name": "a", "scrape_interval": "2s"},))[0]
    assert short.timeout_s == 2  # the default 10s timeout is capped at the interval


def test_kubernetes_annotations_set_port_path_and_scheme(tmp_path: Path) -> None:
    sd = tmp_path / "pods.json"
    sd.write_text("""[{"targets": ["10.1.2.3:8080"], "labels": {
        "__meta_kubernetes_pod_annotation_prometheus_io_port": "9400",
        "__meta_kubernetes_pod_annotation_prometheus_io_path": "/gpu-metrics",
        "prometheus.io/scheme": "https", "pod": "dcgm-x", "__meta_kubernetes_namespace": "gpu"}}]""")
    job = parse_scrape_configs(({"job_name": "k", "file_sd_configs": [{"files": [str(tmp_path / "*.json")]}]},))[0]
    [target] = job.targets()
    assert target.url == "https://10.1.2.3:9400/gpu-metrics"
    assert dict(target.labels) == {"instance": "10.1.2.3:9400", "job": "k", "pod": "dcgm-x"}
