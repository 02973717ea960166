"""The SLO rollup: per service, operation and window, request counts and a latency histogram.

SLO evaluation reads this instead of raw spans (issue 14: 100 SLOs over a 1,000-GPU fleet
in well under a second a cycle). ``tailsight_slo_10s`` is filled at insert by a
materialized view on ``otel_traces`` (server spans, CONTRACT §2); coarser tiers
(``tailsight_slo_5m``, ``_1h``, ``_1d``) each by a view on the tier below, so a window of
days reads days and hours, and only its ragged ends read 5 min and 10 s rows
(``TIERS``; ``storage.slo_queries`` plans the cover).

Counts are *adjusted* counts: a span sampled with probability ``p`` stands for ``1/p``
requests. ``p`` comes from the span's W3C ``tracestate``, OpenTelemetry's ``ot`` entry:
``th:<hex>`` (the rejection threshold of OTEP 235, ``p = 1 - T/2^56`` with the hex digits
padded to 14), else the older ``p:<n>`` (``p = 2^-n``; ``p:63`` counts zero). A span with
neither counts once.

``Latency`` is a sparse histogram (``sumMap``) keyed by ``2 * ceil3(duration_ns) + failed``:
the duration rounded *up* to three significant digits, so ``duration <= T`` holds exactly
when ``ceil3(duration) <= T`` for any threshold ``T`` of three significant digits (2000 ms,
250 ms, 1.5 s, 123 ms); other thresholds count as if rounded down to three digits (at most
1 % below). The low bit separates failed requests, so "fast and ok" needs no second map.
"""

from __future__ import annotations

from tailsight.storage.ddl import MaterializedView, SchemaObject, Table

_BODY = """
Service LowCardinality(String),
Operation LowCardinality(String),
Window DateTime('UTC'),
Requests SimpleAggregateFunction(sum, Float64),
Failures SimpleAggregateFunction(sum, Float64),
Spans SimpleAggregateFunction(sum, UInt64),
Latency SimpleAggregateFunction(sumMap, Tuple(Array(UInt64), Array(Float64)))
"""


def _rollup(name: str, partition_by: str) -> Table:
    return Table(
        name=name,
        body=_BODY,
        engine="AggregatingMergeTree()",
        partition_by=partition_by,
        order_by="(Service, Window, Operation)",
        ttl="Window",
        shard_key="cityHash64(Service)",
    )


# (seconds, table) from the finest; each step divides the next, and days are UTC days.
TIERS: tuple[tuple[int, str], ...] = (
    (10, "tailsight_slo_10s"),
    (300, "tailsight_slo_5m"),
    (3600, "tailsight_slo_1h"),
    (86400, "tailsight_slo_1d"),
)

SLO_10S = _rollup("tailsight_slo_10s", "toDate(Window)")

# The adjusted count of a span from its tracestate, and CONTRACT §2's failure rule, as
# expressions of one ``otel_traces`` row (``storage.slo_queries`` counts raw spans with them).
_OT = r"extract(TraceState, '(?:^|,)[ \t]*ot=([^,]*)')"
_TH = f"extract({_OT}, '(?:^|;)th:([0-9a-fA-F]+)')"
_PV = f"extract({_OT}, '(?:^|;)p:([0-9]+)')"
# 2^56: OTEP 235 thresholds are 56 bits (14 hex digits, padded on the right).
ADJUSTED_COUNT = f"""multiIf(
    {_TH} != '',
    72057594037927936 / (72057594037927936
        - reinterpretAsUInt64(reverse(unhex(rightPad(substring({_TH}, 1, 14), 14, '0'))))),
    {_PV} != '', if(toUInt32OrZero({_PV}) >= 63, 0., exp2(toUInt32OrZero({_PV}))),
    1.)"""
FAILED = (
    "(StatusCode = 'Error' OR toUInt16OrZero(SpanAttributes['http.response.status_code']) >= 500)"
)

# Durations are capped at 10^15 ns (11 days) so that the rounded key cannot overflow.
_SPANS = f"""
SELECT
    ServiceName AS Service,
    SpanName AS Operation,
    toStartOfInterval(Timestamp, toIntervalSecond(10), 'UTC') AS Window,
    {ADJUSTED_COUNT} AS adjusted,
    {FAILED} AS failed,
    least(Duration, 1000000000000000) AS d,
    toUInt64(intExp10(greatest(length(toString(d)), 3) - 3)) AS step,
    intDiv(d + step - 1, step) * step * 2 + failed AS key
FROM {{source}}
WHERE SpanKind = 'Server'
"""

SLO_10S_MV = MaterializedView(
    name="tailsight_slo_10s_mv",
    source="otel_traces",
    target="tailsight_slo_10s",
    select=f"""
SELECT Service, Operation, Window,
    sum(adjusted) AS Requests,
    sumIf(adjusted, failed) AS Failures,
    toUInt64(count()) AS Spans,
    sumMap(tuple([key], [adjusted])) AS Latency
FROM ({_SPANS})
GROUP BY Service, Operation, Window
""",
)


def _coarser(seconds: int, name: str, source: str) -> MaterializedView:
    return MaterializedView(
        name=f"{name}_mv",
        source=source,
        target=name,
        select=f"""
SELECT Service, Operation, toStartOfInterval(Window, toIntervalSecond({seconds}), 'UTC') AS Window,
    sum(Requests) AS Requests,
    sum(Failures) AS Failures,
    sum(Spans) AS Spans,
    sumMap(Latency) AS Latency
FROM {{source}}
GROUP BY Service, Operation, Window
""",
    )


OBJECTS: list[SchemaObject] = [SLO_10S, SLO_10S_MV]
for (_, _finer), (_seconds, _name) in zip(TIERS, TIERS[1:], strict=False):
    OBJECTS.append(_rollup(_name, "toDate(Window)" if _seconds < 3600 else "toYYYYMM(Window)"))
    OBJECTS.append(_coarser(_seconds, _name, _finer))
