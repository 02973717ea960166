"""GPUs (``/gpus``): utilization per node and GPU over time, who shares each GPU, memory, power, errors."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from dash import html

from tailsight.analysis.series import bucket_values
from tailsight.dashboards import figures as fig
from tailsight.dashboards.ui import PageContext, graph, page, panel, pct, table, when
from tailsight.storage.dashboard_metrics import gpu_process_shares, gpu_util_grid, metric_buckets

ROUTE = r"^/gpus/?$"
SUMMARY_METRICS = (
    "hw.gpu.utilization",
    "hw.gpu.memory.usage",
    "hw.gpu.memory.limit",
    "hw.power",
    "tailsight.gpu.throttle",
    "hw.errors",
)
MAX_HEAT_ROWS = 128  # past this many GPUs the heat map has a row per node (mean of its GPUs)
MAX_TABLE_ROWS = 60  # tables list the GPUs most worth a look, not a whole fleet


def render(ctx: PageContext) -> html.Div:
    r = ctx.range
    cells = gpu_util_grid(ctx.store, r.start, r.end, r.step_s, MAX_HEAT_ROWS)
    summary = gpu_summary(
        bucket_values(metric_buckets(ctx.store, SUMMARY_METRICS, r.start, r.end, None), r.seconds)
    )
    shares = gpu_process_shares(ctx.store, r.start, r.end)
    names = summary.set_index(["host", "hw_id"])["gpu"].to_dict() if not summary.empty else {}
    rows = util_heatmap_rows(cells)
    return page(
        "GPUs",
        panel(
            "Utilization per GPU",
            graph(
                utilization_heatmap(rows),
                "gpu-heatmap",
                min(1400, max(320, 14 * rows.shape[0] + 90)),
            ),
            note="Mean utilization per node and GPU over time (per node, the mean of its GPUs, past "
            f"{MAX_HEAT_ROWS} GPUs); idle GPUs are pale, saturated ones dark.",
            wide=True,
        ),
        panel(
            "Shared GPUs",
            shared_table(shares, names),
            note="GPUs with more than one process, the largest second share first: each process's SM "
            "share, mean and peak over the range. A share that is not the serving replica's is its "
            "neighbor.",
            wide=True,
        ),
        panel(
            "Per GPU",
            per_gpu_table(summary),
            note="Over the range: mean utilization, peak memory of the limit, mean power, time "
            "throttled, XID errors; GPUs with errors first, then the most throttled, then the least used.",
            wide=True,
        ),
        subtitle=f"{when(r.start)} – {when(r.end)}",
    )


def util_heatmap_rows(cells: pd.DataFrame) -> pd.DataFrame:
    """Node/GPU × bucket grid of utilization (``gpu_util_grid``'s cells), rows sorted by name."""
    if cells.empty:
        return pd.DataFrame()
    return cells.pivot(index="row", columns="t", values="value").sort_index()


def utilization_heatmap(grid: pd.DataFrame) -> go.Figure:
    if grid.empty:
        return fig.empty_figure("no GPU utilization stored in this range")
    figure = fig.new_figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=list(grid.columns),
            y=list(grid.index),
            zmin=0,
            zmax=1,
            colorscale="Blues",
            colorbar={"title": {"text": "util."}, "tickformat": ".0%"},
            hovertemplate="%{y}<br>%{x}<br>%{z:.0%}<extra></extra>",
        )
    )
    figure = fig.styled(figure, "", legend=False)
    figure.update_yaxes(rangemode="normal", autorange="reversed", automargin=True)
    return figure


def gpu_summary(values: pd.DataFrame) -> pd.DataFrame:
    """Per GPU: utilization, memory peak and limit, power, throttled share, XID errors."""
    columns = [
        "host",
        "hw_id",
        "gpu",
        "util",
        "memory_peak",
        "memory_limit",
        "power",
        "throttled",
        "xid",
    ]
    if values.empty:
        return pd.DataFrame({c: [] for c in columns})
    gpus = values[values["hw_id"] != ""]
    mean = gpus.pivot_table(
        index=["host", "hw_id"], columns="metric", values="value", aggfunc="mean"
    )
    peak = gpus.pivot_table(index=["host", "hw_id"], columns="metric", values="peak", aggfunc="max")
    xid = gpus[gpus["metric"] == "hw.errors"].copy()
    xid["count"] = xid["value"] * (xid["last_time"] - xid["first_time"]).dt.total_seconds()
    names = gpus.groupby(["host", "hw_id"])["gpu"].max()
    out = pd.DataFrame(index=mean.index)
    out["gpu"] = names
    out["util"] = mean.get("hw.gpu.utilization")
    out["memory_peak"] = peak.get("hw.gpu.memory.usage")
    out["memory_limit"] = peak.get("hw.gpu.memory.limit")
    out["power"] = mean.get("hw.power")
    out["throttled"] = mean.get("tailsight.gpu.throttle")
    out["xid"] = xid.groupby(["host", "hw_id"])["count"].sum() if not xid.empty else 0.0
    return out.reset_index()[columns].sort_values(["host", "gpu"]).reset_index(drop=True)


def shared_table(shares: pd.DataFrame, names: dict[tuple[str, str], str]) -> html.Div:
    if shares.empty:
        return table([], [], "shared-gpus", "no per-process GPU use stored in this range")
    counts = shares.groupby(["host", "hw_id"])["pid"].transform("nunique")
    shared = shares[counts > 1].sort_values(
        ["host", "hw_id", "mean_share"], ascending=[True, True, False]
    )
    rows = [
        [
            f"{s.host} {names.get((s.host, s.hw_id), '')}".strip(),
            html.Span(s.hw_id, className="culprit"),
            html.Span(f"{s.host}/{s.pid}", className="culprit"),
            s.executable or "–",
            s.pod or "–",
            pct(s.mean_share),
            pct(s.peak_share),
        ]
        for s in shared.itertuples()
    ]
    return table(
        ["GPU", "hw.id", "process (node/pid)", "executable", "pod", "mean SM share", "peak"],
        rows,
        "shared-gpus",
        "every GPU ran at most one process in this range",
    )


def worth_a_look(summary: pd.DataFrame) -> pd.DataFrame:
    """GPUs with XID errors first, then the most throttled, then the least used."""
    if summary.empty:
        return summary
    ranked = summary.assign(
        _xid=summary["xid"].fillna(0),
        _thr=summary["throttled"].fillna(0),
        _util=summary["util"].fillna(0),
    ).sort_values(["_xid", "_thr", "_util"], ascending=[False, False, True])
    return ranked.head(MAX_TABLE_ROWS).drop(columns=["_xid", "_thr", "_util"])


def per_gpu_table(summary: pd.DataFrame) -> html.Div:
    rows = [
        [
            f"{g.host} {g.gpu}",
            pct(g.util),
            f"{g.memory_peak / 2**30:,.1f} / {g.memory_limit / 2**30:,.0f} GiB"
            if g.memory_limit == g.memory_limit
            else "–",
            f"{g.power:,.0f} W" if g.power == g.power else "–",
            pct(g.throttled),
            f"{g.xid:,.0f}" if g.xid == g.xid else "–",
        ]
        for g in worth_a_look(summary).itertuples()
    ]
    return table(
        ["GPU", "util.", "memory peak", "power", "throttled", "XID errors"], rows, "per-gpu"
    )
