"""The times a request may carry: what the store can hold, checked before it is acknowledged.

Every time column of the exporter's tables is ``DateTime64(9)``, partitioned by day and
kept for the TTL by ``toDateTime(…)``, whose range ends at 2106-02-07T06:28:16Z: a row
dated later wraps to 1970 and is dropped at once, and a time of 2^63 ns or more does not
fit the column at all (the insert failed, for ever). So a request is refused (400, naming
the item, field and value) when any of its times is at or past :data:`MAX_NS`. Zero
("unset" in OTLP) is taken. Rows older than the TTL are accepted and dropped by it.

A span that ends before it starts would be stored with ``uint64(end - start)``, a
duration near 2^64 ns; it is stored with its end set to its start (duration 0) and the
answer says how many (OTLP partial success, 0 rejected, a message).
"""

from __future__ import annotations

from typing import Any

from tailsight.pipeline.decode_traces import InvalidRequest
from tailsight.timeutil import LATEST, iso_z

MAX_NS = int(LATEST.timestamp()) * 1_000_000_000  # 2106-02-07T06:28:16Z: the first time not stored


def _check(item: str, field: str, ns: int) -> None:
    if ns >= MAX_NS:
        raise InvalidRequest(
            f"{item}: {field} {ns} is at or after {iso_z(LATEST)}"
            f" ({MAX_NS} ns), past the latest time the store holds"
        )


def fix_trace_times(req: Any) -> int:
    """Check every span's times; clamp ends before starts; the number of spans clamped."""
    clamped = 0
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                if start >= MAX_NS or end >= MAX_NS or end < start:
                    item = f"span {span.name[:80]!r}"
                    _check(item, "start_time_unix_nano", start)
                    _check(item, "end_time_unix_nano", end)
                    span.end_time_unix_nano = start
                    clamped += 1
                for event in span.events:
                    _check(f"span {span.name[:80]!r} event", "time_unix_nano", event.time_unix_nano)
    return clamped


def check_metric_times(req: Any) -> int:
    """Check every data point's (and exemplar's) times; nothing is changed."""
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                for dp in getattr(metric, kind).data_points:
                    if dp.time_unix_nano >= MAX_NS or dp.start_time_unix_nano >= MAX_NS:
                        item = f"metric {metric.name[:80]!r} data point"
                        _check(item, "time_unix_nano", dp.time_unix_nano)
                        _check(item, "start_time_unix_nano", dp.start_time_unix_nano)
                    if kind != "summary":
                        for ex in dp.exemplars:
                            _check(
                                f"metric {metric.name[:80]!r} exemplar",
                                "time_unix_nano",
                                ex.time_unix_nano,
                            )
    return 0


def check_log_times(req: Any) -> int:
    """Check every log record's times; nothing is changed."""
    for rl in req.resource_logs:
        for sl in rl.scope_logs:
            for record in sl.log_records:
                _check("log record", "time_unix_nano", record.time_unix_nano)
                _check("log record", "observed_time_unix_nano", record.observed_time_unix_nano)
    return 0
