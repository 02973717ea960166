"""Queries that turn stored telemetry into the frames ``analysis`` works on."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from tailsight.storage.store import Store


def service_latency_windows(
    store: Store, start: datetime, end: datetime, bucket_s: int = 10
) -> pd.DataFrame:
    """Per service and ``bucket_s`` window: request count, failures and p50/p99 latency in ms.

    Requests are server spans (CONTRACT §2); a window is labelled by its start time.
    """
    sql = """
        SELECT
            ServiceName AS service,
            toStartOfInterval(Timestamp, toIntervalSecond({bucket:UInt32})) AS window,
            count() AS requests,
            countIf(StatusCode = 'Error'
                    OR toUInt16OrZero(SpanAttributes['http.response.status_code']) >= 500) AS failures,
            quantileTDigest(0.5)(Duration) / 1e6 AS p50_ms,
            quantileTDigest(0.99)(Duration) / 1e6 AS p99_ms
        FROM otel_traces
        WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
          AND SpanKind = 'Server'
        GROUP BY service, window
        ORDER BY service, window
    """
    result = store.query(sql, {"bucket": bucket_s, "start": start, "end": end})
    frame = pd.DataFrame(result.result_rows, columns=list(result.column_names))
    if frame.empty:
        return pd.DataFrame(
            {
                "service": [],
                "window": pd.to_datetime([], utc=True),
                "requests": [],
                "failures": [],
                "p50_ms": [],
                "p99_ms": [],
            }
        )
    frame["window"] = pd.to_datetime(frame["window"], utc=True)
    return frame
