"""Per link end (switch port or NIC): mean and peak counter rates and utilization, in the store.

The fleet and fabric pages need one row per link end, not the ~300 buckets of each of
its ~10 series: over a day of 16 switches that is a quarter of a million rows to move
into pandas and group there (``analysis.fleet.link_side``). This query computes the same
summary in SQL over ``dashboard_metrics.bucket_query``: per series and bucket the value
``analysis.series.bucket_values`` gives (gauge mean; delta sum over the step; cumulative
increase over the time between first and last point, with a reset inside the bucket
counted from the peak; NaN for one point), summed over the end's series per bucket, then
mean and peak over buckets; utilization is the busier direction's bytes per bucket over
the speed. ``tests/storage/test_dashboard_links.py`` holds it equal to ``link_side``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pandas as pd

from tailsight.analysis.series import DELTA
from tailsight.storage.dashboard_metrics import bucket_query
from tailsight.storage.store import Store

# bucket_values in SQL, on a row of bucket_query.
_VALUE = f"""multiIf(
    kind != 'sum', total / greatest(points, 1),
    temporality = {DELTA}, greatest(total, 0) / {{step:UInt32}},
    span > 0, if(last >= peak, last - first, greatest(peak - first, 0) + last) / span,
    nan)"""
_SPAN = "(toUnixTimestamp64Nano(last_time) - toUnixTimestamp64Nano(first_time)) / 1e9"


def _nan_unless(condition: str, expr: str) -> str:
    return f"if({condition}, {expr}, nan)"


def link_summaries(
    store: Store,
    counters: Mapping[str, str],
    speed: str,
    start: datetime,
    end: datetime,
    step_s: int,
    *,
    switch_side: bool,
) -> pd.DataFrame:
    """``link_side``'s frame for switch ports (``switch_side``) or host NICs, from the store.

    One row per end (``switch, interface`` or ``host, interface``): ``<name>_mean`` and
    ``<name>_peak`` per counter of ``counters`` (metric -> name; the one named ``bytes``
    gives utilization), ``util_mean``, ``util_peak`` and ``speed`` (bits per second).
    """
    keys = ["switch", "interface"] if switch_side else ["host", "interface"]
    io = next(m for m, n in counters.items() if n == "bytes")
    inner, params = bucket_query(
        [*counters, speed],
        start,
        end,
        step_s,
        switches_only=switch_side,
        no_switch=not switch_side,
    )
    names = list(counters.items())
    per_t = ", ".join(
        f"sumIf(s, metric = {{m{i}:String}}) AS c{i}, countIf(metric = {{m{i}:String}}) > 0 AS h{i}"
        for i, _ in enumerate(names)
    )
    per_end = ", ".join(
        f"{_nan_unless(f'countIf(h{i}) > 0', f'avgIf(c{i}, h{i})')} AS {name}_mean, "
        f"{_nan_unless(f'countIf(h{i}) > 0', f'maxIf(c{i}, h{i})')} AS {name}_peak"
        for i, (_, name) in enumerate(names)
    )
    k = ", ".join(keys)
    sql = f"""
        SELECT {k}, {per_end},
               {_nan_unless("countIf(has_io) > 0 AND speed > 0", "avgIf(io, has_io) * 8 / speed")}
                   AS util_mean,
               {_nan_unless("countIf(has_io) > 0 AND speed > 0", "maxIf(io, has_io) * 8 / speed")}
                   AS util_peak,
               {_nan_unless("countIf(has_speed) > 0", "maxIf(speed_t, has_speed)")} AS speed
        FROM (
            SELECT {k}, t, {per_t},
                   maxIf(s, metric = {{io:String}}) AS io, countIf(metric = {{io:String}}) > 0 AS has_io,
                   maxIf(top, metric = {{speed:String}}) AS speed_t,
                   countIf(metric = {{speed:String}} AND NOT isNaN(top)) > 0 AS has_speed
            FROM (
                SELECT {k}, metric, direction, t,
                       sumIf(value, NOT isNaN(value)) AS s, max(value) AS top
                FROM (SELECT *, {_SPAN} AS span, {_VALUE} AS value FROM ({inner}))
                GROUP BY {k}, metric, direction, t
            )
            GROUP BY {k}, t
        )
        GROUP BY {k}
        ORDER BY {k}
    """
    params.update({f"m{i}": metric for i, (metric, _) in enumerate(names)})
    params.update({"io": io, "speed": speed})
    columns = [*keys, *[f"{n}_{a}" for _, n in names for a in ("mean", "peak")]]
    columns += ["util_mean", "util_peak", "speed"]
    frame = store.frame(sql, params)
    if frame.empty:
        return pd.DataFrame({c: [] for c in columns})
    return frame[columns].reset_index(drop=True)
