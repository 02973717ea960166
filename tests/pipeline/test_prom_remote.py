"""Prometheus remote write into the store: types, reassembly across requests, answers, durability."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path

import cramjam
import httpx
import pytest

from tailsight.pipeline.prom_remote import RemoteWriteReceiver
from tailsight.pipeline.prom_remote_pb import METRIC_TYPES, WriteRequest
from tailsight.storage import Store
from tests.pipeline.conftest import Pipeline, run_pipeline
from tests.timebase import recent_noon

pytestmark = pytest.mark.integration

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]  # Prometheus' marker
T0 = int(recent_noon() * 1000)
HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
TARGET = [("job", "vllm"), ("instance", "10.0.0.9:8000"), ("model_name", "llama")]


def _series(req: WriteRequest, name: str, labels: list[tuple[str, str]], *samples: tuple[int, float]) -> None:
    ts = req.timeseries.add()
    for key, value in [("__name__", name), *TARGET, *labels]:
        ts.labels.add(name=key, value=value)
    for t, v in samples:
        ts.samples.add(timestamp=t, value=v)


def _post(p: Pipeline, req: WriteRequest | bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    raw = req if isinstance(req, bytes) else req.SerializeToString()
    body = bytes(cramjam.snappy.compress_raw(raw))
    return httpx.post(p.api + "/api/v1/write", content=body, headers=headers or HEADERS, timeout=10)


def _sql(store: Store, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    return [tuple(r) for r in store.rows(sql)]


def test_counters_gauges_histograms_and_summaries_stored_once(pipeline: Pipeline) -> None:
    first = WriteRequest()
    first.metadata.add(type=METRIC_TYPES.index("counter"), metric_family_name="vllm:preemptions")
    _series(first, "vllm:prompt_tokens_total", [], (T0, 100.0), (T0 + 15000, 250.0))
    _series(first, "vllm:preemptions", [], (T0, 3.0))  # a counter only by metadata
    _series(first, "vllm:num_requests_waiting", [], (T0, 4.0))
    _series(first, "rpc_seconds", [("quantile", "0.5")], (T0, 0.2))
    _series(first, "rpc_seconds", [("quantile", "0.99")], (T0, 0.9))
    _series(first, "rpc_seconds_sum", [], (T0, 12.5))
    _series(first, "rpc_seconds_count", [], (T0, 40.0))
    stale = first.timeseries.add()
    for key, value in [("__name__", "vllm:num_requests_running"), *TARGET]:
        stale.labels.add(name=key, value=value)
    stale.samples.add(timestamp=T0, value=STALE_NAN)
    # Half a histogram: the buckets; sum and count come in the next request (another shard)
    for le, c in (("0.1", 2.0), ("0.5", 7.0), ("+Inf", 10.0)):
        _series(first, "vllm:time_to_first_token_seconds_bucket", [("le", le)], (T0, c))
    assert _post(pipeline, first).status_code == 204
    held = pipeline.settings.spool_path / "prometheus-held.pb"
    assert held.exists() and held.stat().st_size > 0  # acknowledged, so on disk

    second = WriteRequest()
    _series(second, "vllm:time_to_first_token_seconds_sum", [], (T0, 2.75))
    _series(second, "vllm:time_to_first_token_seconds_count", [], (T0, 10.0))
    r = _post(pipeline, second)
    assert r.status_code == 204 and r.content == b""
    assert not held.exists()
    pipeline.idle()

    store = pipeline.store
    sums = _sql(store, "SELECT MetricName, Value, IsMonotonic, AggregationTemporality, "
                       "StartTimeUnix <= TimeUnix, ServiceName, ResourceAttributes['service.instance.id'], "
                       "Attributes['model_name'] FROM otel_metrics_sum ORDER BY MetricName, TimeUnix")  # fmt: skip
    assert sums == [
        ("vllm:preemptions", 3.0, True, 2, True, "vllm", "10.0.0.9:8000", "llama"),
        ("vllm:prompt_tokens_total", 100.0, True, 2, True, "vllm", "10.0.0.9:8000", "llama"),
        ("vllm:prompt_tokens_total", 250.0, True, 2, True, "vllm", "10.0.0.9:8000", "llama"),
    ]
    gauges = _sql(store, "SELECT MetricName, Value, ResourceAttributes['server.port'] FROM otel_metrics_gauge "
                         "ORDER BY MetricName")  # fmt: skip
    assert gauges == [("tailsight.llm.requests.waiting", 4.0, "8000"),
                      ("vllm:num_requests_waiting", 4.0, "8000")]  # stale marker skipped  # fmt: skip
    hist = _sql(store, "SELECT MetricName, Count, Sum, BucketCounts, ExplicitBounds, Attributes "
                       "FROM otel_metrics_histogram ORDER BY MetricName")  # fmt: skip
    assert hist == [
        ("gen_ai.server.time_to_first_token", 10, 2.75, [2, 5, 3], [0.1, 0.5],
         {"gen_ai.request.model": "llama"}),
        ("vllm:time_to_first_token_seconds", 10, 2.75, [2, 5, 3], [0.1, 0.5], {"model_name": "llama"}),
    ]  # fmt: skip
    summary = _sql(store, "SELECT MetricName, Count, Sum, ValueAtQuantiles.Quantile, "
                          "ValueAtQuantiles.Value FROM otel_metrics_summary")  # fmt: skip
    assert summary == [("rpc_seconds", 40, 12.5, [0.5, 0.99], [0.2, 0.9])]


def test_incomplete_group_is_stored_after_the_hold(pipeline: Pipeline) -> None:
    rw = next(c for c in pipeline.components if isinstance(c, RemoteWriteReceiver))
    rw.hold_s = 0.4
    req = WriteRequest()
    for le, c in (("1", 1.0), ("+Inf", 3.0)):
        _series(req, "lonely_seconds_bucket", [("le", le)], (T0, c))
    assert _post(pipeline, req).status_code == 204
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not pipeline.store.rows(
        "SELECT count() FROM otel_metrics_histogram WHERE MetricName = 'lonely_seconds'"
    )[0][0]:
        time.sleep(0.1)
    row = _sql(pipeline.store, "SELECT Count, BucketCounts FROM otel_metrics_histogram")
    assert row == [(3, [1, 2])]


@pytest.fixture
def strict(store: Store, tmp_path: Path) -> Iterator[Pipeline]:
    yield from run_pipeline(store, tmp_path / "ingest", token="s3cret", ingest_max_body_bytes=64 << 10,
                            ingest_max_decompressed_bytes=1 << 20, ingest_max_items=50)  # fmt: skip


def test_answers_auth_malformed_too_large(strict: Pipeline) -> None:
    auth = {**HEADERS, "Authorization": "Bearer s3cret"}
    ok = WriteRequest()
    _series(ok, "up", [], (T0, 1.0))
    assert _post(strict, ok).status_code == 401
    assert _post(strict, ok, auth).status_code == 204

    r = httpx.post(strict.api + "/api/v1/write", content=b"\xff\xff\xff", headers=auth)
    assert r.status_code == 400 and "snappy" in r.text
    r = _post(strict, b"\x0a\x05\x0a\x03", auth)
    assert r.status_code == 400 and "not a valid prometheus.WriteRequest" in r.text
    nameless = WriteRequest()
    nameless.timeseries.add().samples.add(timestamp=T0, value=1)
    r = _post(strict, nameless, auth)
    assert r.status_code == 400 and "timeseries 0 has no __name__" in r.text
    r = httpx.post(strict.api + "/api/v1/write", content=b"x", headers={**auth, "Content-Encoding": "gzip"})
    assert r.status_code == 415

    big = WriteRequest()
    _series(big, "many", [], *[(T0 + i, float(i)) for i in range(51)])
    r = _post(strict, big, auth)
    assert r.status_code == 413 and "51 samples" in r.text
    bomb = bytes(cramjam.snappy.compress_raw(b"\0" * (2 << 20)))  # 2 MiB of zeros, ~100 KiB sent
    r = httpx.post(strict.api + "/api/v1/write", content=bomb, headers=auth)
    assert r.status_code == 413
    strict.idle()
    assert strict.store.rows("SELECT count() FROM otel_metrics_gauge")[0][0] == 1


def test_spool_full_while_store_refuses_is_503_with_retry_after(store: Store, tmp_path: Path) -> None:
    for p in run_pipeline(store, tmp_path / "ingest", spool_max_bytes=100_000):
        store.command("DETACH TABLE otel_metrics_gauge")
        refused = None
        for i in range(200):
            req = WriteRequest()
            for j in range(40):
                _series(req, f"g{j}", [("i", str(i))], (T0 + i, float(j)))
            r = _post(p, req)
            if r.status_code != 204:
                refused = r
                break
            for _ in range(100):
                if p.writer.store_failing:
                    break
                time.sleep(0.05)
        assert refused is not None and refused.status_code == 503, refused
        assert int(refused.headers["Retry-After"]) > 0
        store.command("ATTACH TABLE otel_metrics_gauge")
        p.idle(timeout=30)
        assert store.rows("SELECT count() FROM otel_metrics_gauge")[0][0] == i * 40
