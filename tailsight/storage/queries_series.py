"""Latency of narrow series (replicas, thin services) as quantile grids, for ``analysis.series``.

A replica of a service with a hundred replicas holds a few sampled requests a minute: its
p99 per window says little, but where its requests fall in its service's distribution
says a lot. Each row holds the series' requests in one window and its t-digest quantiles
at ``GRID`` levels (``g0`` ... ``g21``), from which analysis estimates how many of those
requests lie above a reference latency. Read from the ``tailsight_latency_10s`` rollup
(states merged per replica or per service), never from raw spans.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from tailsight.storage.queries import WINDOW_SQL
from tailsight.storage.store import Store

# Quantile levels of each row: min, every 5 %, p99 and max.
GRID: tuple[float, ...] = (0.0, *(round(0.05 * i, 2) for i in range(1, 20)), 0.99, 1.0)
GRID_COLUMNS: tuple[str, ...] = tuple(f"g{i}" for i in range(len(GRID)))


def latency_grid_windows(
    store: Store,
    start: datetime,
    end: datetime,
    bucket_s: int = 10,
    by_replica: bool = True,
    services: list[str] | None = None,
) -> pd.DataFrame:
    """Per replica (or per service) and ``bucket_s`` window: requests and the ``GRID`` quantiles in ms.

    Columns ``service``, ``host``, ``pid`` (empty when not ``by_replica``), ``window``,
    ``requests`` and ``g0`` ... (``GRID_COLUMNS``). ``services`` limits the services read.
    """
    keys = "Service, Host, Pid" if by_replica else "Service, '' AS Host, '' AS Pid"
    group = "Service, Host, Pid" if by_replica else "Service"
    where = "" if services is None else "AND Service IN {services:Array(String)}"
    levels = ", ".join(str(q) for q in GRID)
    sql = f"""
        SELECT {keys}, {WINDOW_SQL} AS w, sum(Requests) AS n,
               quantilesTDigestMerge({levels})(Latency) AS q
        FROM tailsight_latency_10s
        WHERE Window >= toDateTime({{start:DateTime64(3)}}) AND Window < {{end:DateTime64(3)}}
          {where}
        GROUP BY {group}, w
        ORDER BY {group}, w
    """
    params: dict[str, object] = {"bucket": bucket_s, "start": start, "end": end}
    if services is not None:
        params["services"] = services
    rows = store.rows(sql, params)
    # Column-wise: a Python tuple per row and quantile cost most of a live cycle's read.
    service, host, pid, window, n, q = (
        (list(c) for c in zip(*rows, strict=True)) if rows else [[]] * 6
    )
    grid = np.array(q, dtype=float).reshape(len(rows), len(GRID)) / 1e6
    frame = pd.DataFrame(
        {
            "service": pd.Series(service, dtype="str"),
            "host": pd.Series(host, dtype="str"),
            "pid": pd.Series(pid, dtype="str"),
            "window": pd.to_datetime(pd.Series(window, dtype=object), utc=True),
            "requests": np.array(n, dtype=np.int64),
            **{c: grid[:, i] for i, c in enumerate(GRID_COLUMNS)},
        }
    )
    return frame
