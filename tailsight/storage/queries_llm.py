"""Queries of the LLM latency SLIs (``tailsight_llm_latency_10s``, migration 9).

Per service, model and window: requests, token sums and the p99 of time to first token
(TTFT), time per output token (TPOT) and queue time, with the smoothed (three-window)
quantiles spike detection judges, the way ``queries.service_latency_windows`` gives them
for request duration.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from tailsight.storage.queries import WINDOW_SQL
from tailsight.storage.store import Store

SLIS = ("ttft", "tpot")  # the latency SLIs detection runs on, besides request duration
_STATE = {"ttft": "Ttft", "tpot": "Tpot"}


def llm_latency_windows(
    store: Store,
    start: datetime,
    end: datetime,
    bucket_s: int = 10,
    levels: tuple[float, ...] = (0.9, 0.95, 0.97, 0.98),
) -> pd.DataFrame:
    """One row per (service, model, window) of generative requests; latencies in ms.

    Columns: ``service``, ``model``, ``window``, ``requests``, ``requests_smooth``,
    ``input_tokens``, ``output_tokens``, ``queue_p99_ms``, and per SLI (``ttft``,
    ``tpot``) ``<sli>_p99_ms``, ``<sli>_p99_smooth_ms`` and ``<sli>_q90_smooth_ms`` …
    """
    quantiles = ", ".join(str(q) for q in (*levels, 0.99))
    merged = ", ".join(
        f"quantilesTDigestMerge(0.5, 0.99)({col}) AS {sli}_q, "
        f"quantilesTDigestMergeState({quantiles})({col}) AS {sli}_s"
        for sli, col in _STATE.items()
    )
    around = ", ".join(
        f"quantilesTDigestMerge({quantiles})({sli}_s) OVER around AS {sli}_q3" for sli in _STATE
    )
    sql = f"""
        SELECT Service, Model, w, n, i, o, queue_q, ttft_q, tpot_q,
               sum(n) OVER around AS n3, {around}
        FROM (
            SELECT Service, Model, {WINDOW_SQL} AS w, sum(Requests) AS n,
                   sum(InputTokens) AS i, sum(OutputTokens) AS o,
                   quantilesTDigestMerge(0.5, 0.99)(Queue) AS queue_q, {merged}
            FROM tailsight_llm_latency_10s
            WHERE Window >= toDateTime({{start:DateTime64(3)}}) AND Window < {{end:DateTime64(3)}}
            GROUP BY Service, Model, w
        )
        WINDOW around AS (PARTITION BY Service, Model ORDER BY w ASC
                          RANGE BETWEEN {{bucket:UInt32}} PRECEDING AND {{bucket:UInt32}} FOLLOWING)
        ORDER BY Service, Model, w
    """
    rows = store.rows(sql, {"bucket": bucket_s, "start": start, "end": end})
    support = [f"q{round(q * 100)}_smooth_ms" for q in levels]
    columns = [
        "service",
        "model",
        "window",
        "requests",
        "input_tokens",
        "output_tokens",
        "queue_p99_ms",
        "requests_smooth",
    ]
    for sli in SLIS:
        columns += [f"{sli}_p99_ms", f"{sli}_p99_smooth_ms", *(f"{sli}_{c}" for c in support)]
    out = []
    for s, m, w, n, i, o, queue, ttft, tpot, n3, ttft3, tpot3 in rows:
        row: list[object] = [s, m, w, int(n), int(i), int(o), float(queue[1]), int(n3)]
        for own, smooth in ((ttft, ttft3), (tpot, tpot3)):
            row += [float(own[1]), float(smooth[-1]), *(float(x) for x in smooth[:-1])]
        out.append(row)
    frame = pd.DataFrame(out, columns=columns)
    frame["window"] = pd.to_datetime(frame["window"], utc=True)
    return frame
