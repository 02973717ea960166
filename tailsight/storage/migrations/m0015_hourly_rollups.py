"""10-minute and hourly tiers of metrics and latency, for a day's charts and summaries.

A page's whole-range summary of a day (the GPU page's per-GPU means, the service and
operation totals, the topology look-ups) read 288 five-minute rows per series: for a
thousand GPUs and six metrics that is 1.7 M rows to merge for one table (issue 15,
``bench/README.md``). ``tailsight_metrics_1h`` / ``tailsight_latency_1h`` hold the same
aggregates per hour, 24 rows a series a day; ``storage.rollup_tiers`` reads them for the
whole hours inside a range and the finer tier for its ragged edges, so a summary is the
same as from the finer tier alone. A day's charts and per-link summaries draw 10-minute
buckets (``dashboards.timerange``: 144 of them), which ``tailsight_metrics_10m`` /
``tailsight_latency_10m`` hold directly: half the rows of the 5-minute tiers, and no
merge of two windows per bucket.

The views cascade (10 s → 1 min → 5 min → 10 min → 1 h), so late data reaches them too.
Rows already in the 5-minute tiers when the migration runs are copied into the 10-minute
ones (and through their views into the hourly ones) for the windows before the first the
views wrote, as migration 11 does; a re-run copies nothing more.
"""

from __future__ import annotations

from tailsight.storage.ddl import SchemaObject
from tailsight.storage.migrations.m0011_dashboard_rollups import (
    _backfill,
    _latency_table,
    _latency_view,
    _metrics_table,
    _metrics_view,
)

METRICS_10M_MV = _metrics_view(
    600, "tailsight_metrics_10m", "tailsight_metrics_5m", "First", "Last"
)
LATENCY_10M_MV = _latency_view(600, "tailsight_latency_10m", "tailsight_latency_5m")

OBJECTS: list[SchemaObject] = [
    _metrics_table("tailsight_metrics_10m"),
    _metrics_table("tailsight_metrics_1h"),
    _metrics_view(3600, "tailsight_metrics_1h", "tailsight_metrics_10m", "First", "Last"),
    METRICS_10M_MV,
    _latency_table("tailsight_latency_10m"),
    _latency_table("tailsight_latency_1h"),
    _latency_view(3600, "tailsight_latency_1h", "tailsight_latency_10m"),
    LATENCY_10M_MV,
    # Through the 10-minute tiers' views into the hourly ones.
    _backfill(METRICS_10M_MV),
    _backfill(LATENCY_10M_MV),
]
