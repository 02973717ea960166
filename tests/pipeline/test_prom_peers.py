"""Real peers: Debian's node_exporter scraped live, Debian's Prometheus remote-writing into tailsight.

Both binaries come from scripts/system-deps.sh; each test is skipped (saying why) where
they are missing. Prometheus runs with a temporary config on loopback ports, scraping
itself and node_exporter every second and remote-writing to the pipeline's API port; what
it sent is compared, sample by sample, with its own query API.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tailsight.storage import Store
from tests.conftest import free_port
from tests.pipeline.conftest import Pipeline, run_pipeline

pytestmark = pytest.mark.integration

NODE_EXPORTER = shutil.which("prometheus-node-exporter")
PROMETHEUS = shutil.which("prometheus")


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def node_exporter(tmp_path: Path) -> Iterator[str]:
    if NODE_EXPORTER is None:
        pytest.skip("prometheus-node-exporter is not installed (scripts/system-deps.sh)")
    address = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [NODE_EXPORTER, f"--web.listen-address={address}", "--collector.disable-defaults",
         "--collector.cpu", "--collector.netdev", "--collector.netstat", "--collector.pressure",
         "--collector.loadavg"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "node_exporter.log").open("wb"),
    )  # fmt: skip
    try:
        _wait_http(f"http://{address}/metrics", proc)
        yield address
    finally:
        _stop(proc)


def test_node_exporter_scraped_live(store: Store, tmp_path: Path, node_exporter: str) -> None:
    configs = ({"job_name": "node", "scrape_interval": "1s",
                "static_configs": [{"targets": [node_exporter]}]},)  # fmt: skip
    for _ in run_pipeline(store, tmp_path / "ingest", scrape_configs=configs):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and store.rows(
            "SELECT count() FROM otel_metrics_gauge WHERE MetricName = 'system.cpu.utilization'"
        )[0][0] < 2:
            time.sleep(0.2)
    up = store.rows("SELECT min(Value), ResourceAttributes['server.port'] FROM otel_metrics_gauge "
                    "WHERE MetricName = 'up' GROUP BY 2")  # fmt: skip
    assert [tuple(r) for r in up] == [(1.0, node_exporter.rpartition(":")[2])]
    net = store.rows(
        "SELECT count(), min(IsMonotonic), any(ResourceAttributes['host.name']) FROM otel_metrics_sum "
        "WHERE MetricName = 'system.network.io' AND Attributes['network.io.direction'] = 'receive'"
    )[0]
    assert net[0] >= 3 and net[1] == 1 and net[2] == "127.0.0.1"
    cpu = store.rows("SELECT min(Value), max(Value) FROM otel_metrics_gauge "
                     "WHERE MetricName = 'system.cpu.utilization'")[0]  # fmt: skip
    assert 0.0 <= cpu[0] <= cpu[1] <= 1.0
    raw = store.rows("SELECT count() FROM otel_metrics_sum WHERE MetricName = 'node_cpu_seconds_total'")
    assert raw[0][0] > 0


def _prometheus_config(tmp: Path, p: Pipeline, node: str, self_address: str) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [self_address]}]},
            {"job_name": "node", "static_configs": [{"targets": [node]}]},
        ],
        "remote_write": [{
            "url": p.api + "/api/v1/write",
            "queue_config": {"batch_send_deadline": "500ms", "max_samples_per_send": 500,
                             "min_backoff": "100ms", "max_backoff": "1s"},
            "metadata_config": {"send": True, "send_interval": "1s"},
        }],
    }  # fmt: skip
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _query(base: str, query: str, at: float) -> list[dict[str, Any]]:
    r = httpx.get(base + "/api/v1/query", params={"query": query, "time": f"{at:.3f}"}, timeout=10)
    r.raise_for_status()
    return r.json()["data"]["result"]  # type: ignore[no-any-return]


def _attrs(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in metric.items() if k not in ("__name__", "job", "instance")))


def test_prometheus_remote_write_every_sample_stored_once(
    store: Store, tmp_path: Path, node_exporter: str
) -> None:
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (scripts/system-deps.sh)")
    for p in run_pipeline(store, tmp_path / "ingest"):
        self_address = f"127.0.0.1:{free_port()}"
        config = _prometheus_config(tmp_path, p, node_exporter, self_address)
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--web.listen-address={self_address}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
        )  # fmt: skip
        try:
            base = f"http://{self_address}"
            _wait_http(base + "/-/ready", proc)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not _query(
                base, 'count_over_time(up{job="node"}[30s]) >= 6', time.time()
            ):
                time.sleep(0.5)
            cut = time.time() - 2.5  # everything scraped before this has been sent
            window = 5
            plain = _query(base, f'{{job=~"node|prometheus"}}[{window}s]', cut)
            time.sleep(2)  # the last batch in flight lands; held pieces need their siblings
        finally:
            _stop(proc)  # it flushes its queue; while it runs the spool is never empty
        p.idle(timeout=60)
    lo_ms, hi_ms = int((cut - window) * 1000), int(cut * 1000)
    sent: Counter[tuple[str, Any, int]] = Counter()
    values: dict[tuple[str, Any, int], float] = {}
    counts: dict[tuple[str, Any, int], float] = {}
    for series in plain:
        name = series["metric"]["__name__"]
        attrs = _attrs(series["metric"])
        for t, v in series["values"]:
            key = (name, attrs, round(float(t) * 1000))
            if name.endswith("_count"):
                counts[(name[:-6], attrs, key[2])] = float(v)
            sent[key] += 1
            values[key] = float(v)
    assert sum(sent.values()) > 500
    stored: Counter[tuple[str, Any, int]] = Counter()
    stored_values: dict[tuple[str, Any, int], float] = {}
    for table in ("otel_metrics_gauge", "otel_metrics_sum"):
        for name, attrs, ms, value in store.rows(
            f"SELECT MetricName, Attributes, toUnixTimestamp64Milli(TimeUnix), Value FROM {table} "
            "WHERE ServiceName IN ('node', 'prometheus') AND toUnixTimestamp64Milli(TimeUnix) > {lo:Int64} "
            "AND toUnixTimestamp64Milli(TimeUnix) <= {hi:Int64}", {"lo": lo_ms, "hi": hi_ms},
        ):  # fmt: skip
            key = (name, tuple(sorted(attrs.items())), ms)
            stored[key] += 1
            stored_values[key] = value
    composite = {}
    for table in ("otel_metrics_histogram", "otel_metrics_summary"):
        for name, attrs, ms, count in store.rows(
            f"SELECT MetricName, Attributes, toUnixTimestamp64Milli(TimeUnix), Count FROM {table} "
            "WHERE ServiceName IN ('node', 'prometheus') AND toUnixTimestamp64Milli(TimeUnix) > {lo:Int64} "
            "AND toUnixTimestamp64Milli(TimeUnix) <= {hi:Int64}", {"lo": lo_ms, "hi": hi_ms},
        ):  # fmt: skip
            key = (name, tuple(sorted(attrs.items())), ms)
            assert key not in composite, f"{key} stored twice"
            composite[key] = count
    # every plain sample Prometheus holds was stored once, with its value
    plain_sent = {k for k in sent if (k[0], k[1], k[2]) not in _pieces(k, counts)}
    plain_sent |= {k for k in sent if k[0].endswith(("_sum", "_count"))
                   and (k[0].rpartition("_")[0], k[1], k[2]) not in composite}  # fmt: skip
    missing = [k for k in plain_sent if stored[k] != 1]
    assert not missing, f"{len(missing)} of {len(plain_sent)} samples not stored once, e.g. {missing[:3]}"
    for k in plain_sent:
        assert math.isclose(stored_values[k], values[k], rel_tol=1e-12) or (
            math.isnan(values[k]) and math.isnan(stored_values[k])
        ), k
    # every histogram and summary observation was reassembled once, its count as sent; a
    # summary without quantiles (only _sum and _count) is known as one only from metadata,
    # which Prometheus sends apart from samples: before it arrives, its series are stored as
    # they are (docs/prometheus.md)
    assert counts, "Prometheus' own histograms and summaries were not in the window"
    shaped = {(k[0][: -len(sfx)] if sfx else k[0], tuple(a for a in k[1] if a[0] not in ("le", "quantile")), k[2])
              for k in sent for sfx in ("_bucket", "")
              if k[0].endswith(sfx) and any(a[0] in ("le", "quantile") for a in k[1])}  # fmt: skip
    for key, count in counts.items():
        if key in shaped or key in composite:
            assert composite.get(key) == count, key
        else:
            name, attrs, ms = key
            assert stored[(name + "_count", attrs, ms)] == 1, key
            assert stored_values[(name + "_count", attrs, ms)] == count, key
    assert sum(1 for k in counts if k in composite) > 10
    extra = [k for k in stored if k[0] not in {s[0] for s in sent} and not k[0].startswith(("system.", "tailsight."))]
    assert not extra, extra[:3]


def _pieces(key: tuple[str, Any, int], counts: dict[tuple[str, Any, int], float]) -> set[tuple[str, Any, int]]:
    """``{key}`` when ``key`` is a piece of a histogram or summary observation, else empty."""
    name, attrs, ms = key
    plain_attrs = tuple((k, v) for k, v in attrs if k not in ("le", "quantile"))
    for suffix in ("_bucket", "_sum", "_count", ""):
        if name.endswith(suffix) and (name[: len(name) - len(suffix)], plain_attrs, ms) in counts:
            return {key}
    return set()
