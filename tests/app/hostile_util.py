"""Helpers for the issue-20 regression tests: talking to a `tailsight up` and counting what it stored."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tailsight.protowire import varint
from tailsight.storage import open_store
from tests.conftest import UpProcess

PROTOBUF = "application/x-protobuf"


def call(
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def api_json(url: str, body: object | None = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = json.dumps(body).encode() if body is not None else None
    status, raw = call(url, data, headers, "POST" if data is not None else "GET")
    return status, json.loads(raw)


def post_traces(up: UpProcess, body: bytes, headers: dict[str, str] | None = None) -> int:
    url = f"http://127.0.0.1:{up.otlp_http_port}/v1/traces"
    return call(url, body, {"Content-Type": PROTOBUF, **(headers or {})})[0]


def spans(names: list[str], start_ns: int | None = None, end_ns: int | None = None) -> bytes:
    """A trace request with one span per name (fresh ids), starting about now."""
    start = start_ns if start_ns is not None else time.time_ns() - 60 * 10**9
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "svc"
    ss = rs.scope_spans.add()
    for name in names:
        ss.spans.add(
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            name=name,
            kind=2,  # server: the spans analysis reads
            start_time_unix_nano=start,
            end_time_unix_nano=start + 10**6 if end_ns is None else end_ns,
        )
    return req.SerializeToString()


def field(num: int, wt: int, payload: bytes = b"") -> bytes:
    tag = varint(num << 3 | wt)
    if wt == 2:
        return tag + varint(len(payload)) + payload
    if wt == 3:
        return tag + payload + varint(num << 3 | 4)
    return tag + payload


def raw_span_request(name: bytes, extra: bytes, start_ns: int | None = None) -> bytes:
    """A trace request of one span written by hand, with ``extra`` bytes inside the span."""
    start = start_ns if start_ns is not None else time.time_ns() - 60 * 10**9
    span = (
        field(1, 2, os.urandom(16))
        + field(2, 2, os.urandom(8))
        + field(5, 2, name)
        + field(7, 1, start.to_bytes(8, "little"))
        + field(8, 1, (start + 10**6).to_bytes(8, "little"))
        + extra
    )
    return field(1, 2, field(2, 2, field(2, 2, span)))


def wait_written(up: UpProcess, rows: int, timeout: float = 60.0, token: str | None = None) -> None:
    """Wait until the writer has put ``rows`` trace rows in and the spool is empty."""
    deadline = time.monotonic() + timeout
    spool = up.data_dir / "spool"
    while time.monotonic() < deadline:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        status, text = call(up.api + "/metrics", headers=auth)
        written = 0.0
        for line in text.decode().splitlines():
            if line.startswith('tailsight_ingest_rows_written_total{table="otel_traces"}'):
                written = float(line.split()[-1])
        if written >= rows and not any(spool.glob("*.seg")):
            return
        time.sleep(0.2)
    raise AssertionError(f"not written in {timeout}s; log:\n{up.output()[-3000:]}")


def stored_names(data_dir: Path) -> Counter[str]:
    """SpanName -> rows in ``otel_traces`` of a stopped server's data directory."""
    store = open_store(f"chdb://{data_dir}")
    try:
        return Counter(
            {
                str(n): int(c)
                for n, c in store.rows(
                    "SELECT SpanName, count() FROM otel_traces GROUP BY SpanName"
                )
            }
        )
    finally:
        store.close()
