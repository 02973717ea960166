"""Limits, authentication, malformed bodies, partial success and backpressure of the receivers."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tailsight.storage import Store
from tests.pipeline.conftest import Pipeline, run_pipeline
from tests.pipeline.otlp_data import span_request

pytestmark = pytest.mark.integration

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def strict(store: Store, tmp_path: Path) -> Iterator[Pipeline]:
    """A pipeline with a token and small limits."""
    yield from run_pipeline(
        store,
        tmp_path / "ingest",
        token="s3cret",
        ingest_max_body_bytes=64 << 10,
        ingest_max_decompressed_bytes=1 << 20,
        ingest_max_items=50,
    )


def _post(
    p: Pipeline, body: bytes, headers: dict[str, str], path: str = "/v1/traces"
) -> httpx.Response:
    return httpx.post(p.http + path, content=body, headers=headers, timeout=10)


def _status(r: httpx.Response) -> status_pb2.Status:
    status = status_pb2.Status()
    status.ParseFromString(r.content)
    return status


def test_token_body_items_and_gzip_bomb(strict: Pipeline) -> None:
    auth = {**PB, "Authorization": "Bearer s3cret"}
    ok = span_request(10).SerializeToString()
    assert _post(strict, ok, PB).status_code == 401
    assert _post(strict, ok, {**PB, "Authorization": "Bearer nope"}).status_code == 401
    assert _post(strict, ok, auth).status_code == 200

    r = _post(strict, b"\0" * (65 << 10), auth)
    assert r.status_code == 413 and "limit" in _status(r).message

    bomb = gzip.compress(b"\n\x00" * (8 << 20))  # 16 MiB of empty ResourceSpans, ~16 KiB sent
    assert len(bomb) < 64 << 10
    r = _post(strict, bomb, {**auth, "Content-Encoding": "gzip"})
    assert r.status_code == 413 and "decompresses" in _status(r).message

    r = _post(strict, span_request(51).SerializeToString(), auth)
    assert r.status_code == 413 and "51 traces items" in _status(r).message

    r = _post(strict, ok, {**auth, "Content-Type": "text/plain"})
    assert r.status_code == 415

    r = _post(strict, b"\x0a\x05\x0a\x03", auth)
    assert r.status_code == 400
    status = _status(r)
    assert status.code == 3 and "not a valid ExportTraceServiceRequest" in status.message

    r = _post(strict, b'{"resourceSpans": 7}', {**auth, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/json")
    assert "invalid OTLP JSON" in r.json()["message"]

    with grpc.insecure_channel(strict.grpc) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(span_request(3), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        meta = (("authorization", "Bearer s3cret"),)
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(span_request(51), metadata=meta, timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        stub.Export(span_request(3), metadata=meta, timeout=10)
    assert strict.wait_rows("otel_traces", 13) == 13
    strict.idle()
    assert strict.store.rows("SELECT count() FROM otel_traces")[0][0] == 13


def test_http_paths_methods_encodings_and_chunked_bodies(strict: Pipeline) -> None:
    auth = {**PB, "Authorization": "Bearer s3cret"}
    r = httpx.post(strict.http + "/v1/nope", content=b"", headers=auth, timeout=10)
    assert r.status_code == 404
    r = httpx.get(strict.http + "/v1/traces", headers=auth, timeout=10)
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    r = _post(strict, b"", {**auth, "Content-Encoding": "br"})
    assert r.status_code == 415 and "br" in _status(r).message

    # a body sent in chunks without a length, as a streaming client does
    body = span_request(7).SerializeToString()
    parts = [body[i : i + 100] for i in range(0, len(body), 100)]
    r = httpx.post(strict.http + "/v1/traces", content=iter(parts), headers=auth, timeout=10)
    assert r.status_code == 200 and "content-length" not in r.request.headers
    too_big = (b"\0" * 4096 for _ in range(20))  # 80 KiB in chunks, no length declared
    r = httpx.post(strict.http + "/v1/traces", content=too_big, headers=auth, timeout=10)
    assert r.status_code == 413
    assert strict.wait_rows("otel_traces", 7) == 7


def test_partial_success_for_spans_without_ids(pipeline: Pipeline) -> None:
    req = span_request(5)
    req.resource_spans[0].scope_spans[0].spans[0].trace_id = b""
    r = _post(pipeline, req.SerializeToString(), PB)
    assert r.status_code == 200
    resp = trace_service_pb2.ExportTraceServiceResponse()
    resp.ParseFromString(r.content)
    assert resp.partial_success.rejected_spans == 1
    assert "without a trace or span id" in resp.partial_success.error_message
    bad = span_request(2)
    bad.resource_spans[0].scope_spans[0].spans[0].span_id = b"\1\2\3"
    r = _post(pipeline, bad.SerializeToString(), PB)
    assert r.status_code == 400 and "span ids 8 bytes" in _status(r).message
    pipeline.idle()
    assert pipeline.store.rows("SELECT count() FROM otel_traces")[0][0] == 4


def test_store_refusing_inserts_spools_then_503_then_drains_exactly_once(
    store: Store, tmp_path: Path
) -> None:
    for p in run_pipeline(store, tmp_path / "ingest", spool_max_bytes=200_000):
        store.command("DETACH TABLE otel_traces")
        accepted = 0
        refused: httpx.Response | None = None
        for i in range(200):  # bounded: each request is ~25 KiB, the spool holds ~200 KiB
            r = _post(p, span_request(50, seed=i).SerializeToString(), PB)
            if r.status_code == 200:
                accepted += 50
            else:
                refused = r
                break
            for _ in range(100):  # let the writer find the store refusing before the spool fills
                if p.writer.store_failing:
                    break
                time.sleep(0.05)
        assert refused is not None and refused.status_code == 503, refused
        assert int(refused.headers["Retry-After"]) > 0
        assert p.writer.store_failing
        with grpc.insecure_channel(p.grpc) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(span_request(5), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        details = dict(err.value.trailing_metadata())["grpc-status-details-bin"]
        status = status_pb2.Status.FromString(details)
        retry = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(retry) and retry.retry_delay.seconds > 0
        store.command("ATTACH TABLE otel_traces")
        p.idle(timeout=30)
        rows = store.rows("SELECT count(), uniqExact(SpanId) FROM otel_traces")[0]
        assert rows == (accepted, accepted)
        text = p.writer.metrics.render()
        assert (
            'tailsight_ingest_requests_total{outcome="unavailable",signal="traces",transport="http"} 1'
            in text
        )
        assert "tailsight_ingest_insert_errors_total" in text
