"""Issue 20 through the real server: bodies that once jammed ingest or answered 500.

Each hostile request gets its answer code; the server keeps ingesting and analysing;
and every acknowledged span of the other requests is stored exactly once.
"""

from __future__ import annotations

import gzip
import json
import shutil
import stat
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tailsight.pipeline.signals import SIGNALS
from tailsight.pipeline.spool import encode_record
from tests.app.hostile_util import (
    api_json,
    call,
    field,
    post_traces,
    raw_span_request,
    spans,
    stored_names,
    wait_written,
)
from tests.conftest import UpProcess

pytestmark = pytest.mark.integration
CODE = {s.name: s.code for s in SIGNALS}
DAY = 86400 * 10**9


def _metric_at(ns: int) -> bytes:
    req = ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    m.gauge.data_points.add(time_unix_nano=ns, as_double=1.0)
    return req.SerializeToString()


def test_hostile_bodies_are_answered_and_everything_acknowledged_is_stored_once(
    tmp_path: Path,
) -> None:
    up = UpProcess(tmp_path / "data")
    expected: dict[str, int] = {}
    try:
        up.wait_healthy()
        http = f"http://127.0.0.1:{up.otlp_http_port}"

        def good(tag: str) -> None:
            names = [f"{tag}-{i}" for i in range(3)]
            assert post_traces(up, spans(names)) == 200
            expected.update({n: 1 for n in names})

        good("before")
        # Finding 1: upb takes these, the store's protobuf parser did not (Code 444/36).
        wrong_wire = field(5, 0, b"\x07")  # name (a string) sent as a varint
        assert post_traces(up, raw_span_request(b"wrong-wire", wrong_wire)) == 200
        expected["wrong-wire"] = 1
        group = field(99, 3, field(1, 2, b"x"))  # an unknown group
        assert post_traces(up, raw_span_request(b"group", group)) == 200
        expected["group"] = 1
        two_members = field(1, 2, b"s") + field(3, 0, b"\x05")  # string and int
        kv = field(9, 2, field(1, 2, b"k") + field(2, 2, two_members))
        assert post_traces(up, raw_span_request(b"oneof", kv)) == 200
        expected["oneof"] = 1
        # Finding 1: spans on 150 days in one request (Code 252 before).
        start = time.time_ns()
        many = b"".join(
            raw_span_request(f"day-{d}".encode(), b"", start + d * DAY) for d in range(150)
        )
        assert post_traces(up, many) == 200
        expected.update({f"day-{d}": 1 for d in range(150)})
        # Finding 1: a metric point past DateTime64 (2^63 ns), a span past 2106: 400.
        status, raw = call(
            http + "/v1/metrics", _metric_at(1 << 63), {"Content-Type": "application/x-protobuf"}
        )
        assert status == 400
        status, raw = call(
            http + "/v1/traces",
            spans(["y2200"], start_ns=7258118400 * 10**9),
            {"Content-Type": "application/x-protobuf"},
        )
        assert status == 400
        # Finding 4: a span ending before it starts is stored with duration 0, and said so.
        now = time.time_ns()
        status, raw = call(
            http + "/v1/traces",
            spans(["backwards"], start_ns=now, end_ns=now - 10**9),
            {"Content-Type": "application/x-protobuf"},
        )
        answer = ExportTraceServiceResponse.FromString(raw)
        assert status == 200 and "duration 0" in answer.partial_success.error_message
        expected["backwards"] = 1
        # Finding 5: a lone surrogate in OTLP JSON.
        for body in (b'{"\\ud800": 1}', b'{"resourceSpans": [{"schemaUrl": "\\udfff"}]}'):
            status, _ = call(http + "/v1/traces", body, {"Content-Type": "application/json"})
            assert status == 400
        # Finding 6: two gzip members are both read; trailing bytes are refused.
        first, second = spans(["gz-1"]), spans(["gz-2"])
        headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
        assert (
            call(http + "/v1/traces", gzip.compress(first) + gzip.compress(second), headers)[0]
            == 200
        )
        expected.update({"gz-1": 1, "gz-2": 1})
        status, raw = call(http + "/v1/traces", gzip.compress(spans(["gz-3"])) + b"junk", headers)
        assert status == 400 and b"after its last member" in raw
        good("after")
        wait_written(up, sum(expected.values()))
        # Still analysing, health honest (nothing quarantined).
        status, result = api_json(up.api + "/api/v1/analyze", {"from": "1h"})
        assert status == 200, result
        assert api_json(up.api + "/api/v1/health") == (200, {"status": "ok"})
    finally:
        assert up.stop() == 0, up.output()
    assert "Traceback" not in up.output()
    assert stored_names(tmp_path / "data") == expected


def _poison_segments(spool: Path) -> tuple[dict[str, int], int]:
    """Two segments as an older version acknowledged them: poison among good requests."""
    spool.mkdir(parents=True)
    good = {f"seg1-{i}": 1 for i in range(3)} | {"seg1-late": 1, "seg2-0": 1}
    two_members = field(1, 2, b"s") + field(3, 0, b"\x05")
    oneof = raw_span_request(
        b"oneof-raw", field(9, 2, field(1, 2, b"k") + field(2, 2, two_members))
    )
    first = (
        encode_record(CODE["traces"], spans(["seg1-0", "seg1-1", "seg1-2"]), 3)
        + encode_record(CODE["metrics"], _metric_at(1 << 63), 1)  # DateTime64 overflow
        + encode_record(CODE["traces"], oneof, 1)  # the store's parser refuses it
        + encode_record(CODE["traces"], spans(["seg1-late"]), 1)
    )
    (spool / "000000000001-older.seg").write_bytes(first)
    (spool / "000000000002-older.seg").write_bytes(
        encode_record(CODE["traces"], spans(["seg2-0"]), 1)
    )
    return good, 2


def test_poison_in_the_spool_is_quarantined_alone_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    expected, poison = _poison_segments(data / "spool")
    replay = tmp_path / "replay"
    shutil.copytree(data / "spool", replay)
    up = UpProcess(data)
    try:
        up.wait_healthy()
        wait_written(up, sum(expected.values()))
        assert post_traces(up, spans(["fresh"])) == 200  # later requests are not held back
        expected["fresh"] = 1
        wait_written(up, sum(expected.values()))
        status, health = api_json(up.api + "/api/v1/health")
        assert status == 200 and health["status"] == "degraded"
        assert f"{poison} acknowledged request(s)" in health["errors"][0], health
        metrics = call(up.api + "/metrics")[1].decode()
        assert 'tailsight_ingest_quarantined_requests_total{signal="metrics"} 1' in metrics
        assert 'tailsight_ingest_quarantined_requests_total{signal="traces"} 1' in metrics
    finally:
        assert up.stop() == 0
    assert up.output().count("quarantined request") == poison
    # Our errors are the quarantine lines (the driver logs its own traceback of the point
    # it cannot serialize, at ERROR under clickhouse_connect).
    ours = [x for x in up.output().splitlines() if " ERROR tailsight" in x]
    assert len(ours) == poison and all("quarantined request" in x for x in ours), ours
    # A crash before the segments were deleted: they are replayed by the next start.
    for seg in replay.glob("*.seg"):
        shutil.copy(seg, data / "spool" / seg.name)
    again = UpProcess(data)
    try:
        again.wait_healthy()
        deadline = time.monotonic() + 60
        while any((data / "spool").glob("*.seg")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any((data / "spool").glob("*.seg"))
        status, health = api_json(again.api + "/api/v1/health")
        assert health["status"] == "degraded"  # the quarantine is still there, and said
    finally:
        assert again.stop() == 0
    assert stored_names(data) == expected  # replayed, yet each span once
    quarantined = sorted(p.name for p in (data / "spool" / "quarantine").glob("*.pb"))
    assert len(quarantined) == poison
    # Finding 9: nothing the process wrote is readable by others.
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_api_times_out_of_range_are_400_and_incidents_are_kept(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from tailsight.model import Incident
    from tailsight.storage import open_store
    from tailsight.storage.incidents import replace_incidents
    from tailsight.storage.migrations import migrate

    data = tmp_path / "data"
    store = open_store(f"chdb://{data}")
    migrate(store, ttl_days=30)
    onset = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    incident = Incident("svc", onset, onset + timedelta(minutes=5), 900.0, 100.0)
    replace_incidents(store, onset - timedelta(hours=1), onset + timedelta(hours=1), [incident])
    store.close()
    up = UpProcess(data)
    try:
        up.wait_healthy()
        for bad in ("1970-01-01T00:10:00Z", "1e20", "inf", "nan", "0001-01-01", 1e20, "99999999w"):
            status, body = api_json(up.api + "/api/v1/analyze", {"from": bad, "to": "now"})
            assert status == 400, (bad, body)
            assert "Code:" not in body["error"] and "DB::" not in body["error"]
        status, body = api_json(up.api + "/api/v1/analyze", {"from": "1h", "to": "9999-01-01"})
        assert status == 400 and "out of range" in body["error"]
        for bad in ("1e20", "inf", "0001-01-01", "-1"):
            status, body = api_json(up.api + f"/api/v1/incidents?since={bad}")
            assert status == 400 and "out of range" in body["error"], body
        status, found = api_json(up.api + "/api/v1/incidents?since=1d")
        assert status == 200 and [i["service"] for i in found] == ["svc"]
    finally:
        up.stop()


def test_spans_dated_in_the_future_do_not_stop_analysis(tmp_path: Path) -> None:
    up = UpProcess(tmp_path / "data", env={"TAILSIGHT_ANALYSIS_INTERVAL_S": "1"})
    try:
        up.wait_healthy()
        # Two windows minutes apart, so the first cycle has a range to analyse.
        minute_ago = (int(time.time()) - 180) * 10**9  # "now" spans start a minute back
        assert post_traces(up, spans(["earlier"], start_ns=minute_ago)) == 200
        assert post_traces(up, spans(["now"])) == 200
        y2100 = 4102444800 * 10**9
        assert post_traces(up, spans(["future"], start_ns=y2100)) == 200
        wait_written(up, 3)
        deadline = time.monotonic() + 60
        health: dict[str, object] = {}
        while time.monotonic() < deadline:
            health = api_json(up.api + "/api/v1/health")[1]
            if health.get("status") == "degraded":
                break
            time.sleep(0.5)
        assert "dated in the future" in json.dumps(health), health
        time.sleep(3)  # more cycles
    finally:
        up.stop()
    from tailsight.storage import open_store
    from tailsight.storage.state import get_state

    store = open_store(f"chdb://{tmp_path / 'data'}")
    try:
        raw = get_state(store, "analysis", "watermark")
    finally:
        store.close()
    from datetime import UTC, datetime, timedelta

    assert raw is not None
    assert datetime.fromisoformat(raw) <= datetime.now(UTC) + timedelta(seconds=60)
