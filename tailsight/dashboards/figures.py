"""Figures of services and incidents, built by pure functions from frames (testable without a browser).

Every figure has axis units and shares one look (``styled``); incidents are drawn as
shaded bands on time axes so a spike is seen where it happened.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from tailsight.model import Incident

COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")
INDENT = "\u2003"  # an em space: span tree labels indent by depth
BAND = "rgba(220, 38, 38, 0.14)"
# The colours of the cause badges (style.CSS), so a kind looks the same everywhere.
KIND_COLORS = {
    "network_congestion": "#2563eb",
    "noisy_neighbor": "#dc2626",
    "gpu_underutilized": "#16a34a",
    "cpu_saturation": "#ea580c",
    "load_surge": "#9333ea",
    "unknown": "#6b7280",
}


# A small template registered once: figures name it, and plotly copies a few keys rather
# than the whole of plotly_white's (which took most of a page's figure-building time).
_axis = {"gridcolor": "#e5e7eb", "zerolinecolor": "#d1d5db", "linecolor": "#d1d5db"}
pio.templates["tailsight"] = go.layout.Template(
    layout={
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "colorway": list(COLORS),
        "xaxis": _axis,
        "yaxis": _axis,
        "font": {"color": "#1f2937"},
    }
)


def new_figure(*traces: object) -> go.Figure:
    """A figure whose properties plotly does not validate one by one (about half a page's
    figure-building time): what is set here is fixed code, checked by the tests."""
    fig = go.Figure(_validate=False)
    for trace in traces:
        fig.add_trace(trace)
    return fig


def band(x0: object, x1: object) -> dict[str, object]:
    """A shaded span of the time axis, as a layout shape."""
    return {
        "type": "rect",
        "xref": "x",
        "yref": "paper",
        "x0": x0,
        "x1": x1,
        "y0": 0,
        "y1": 1,
        "fillcolor": BAND,
        "line": {"width": 0},
        "layer": "below",
    }


def level(y: float, text: str) -> tuple[dict[str, object], dict[str, object]]:
    """A dotted horizontal line at ``y`` with its label: a shape and an annotation."""
    line = {
        "type": "line",
        "xref": "paper",
        "yref": "y",
        "x0": 0,
        "x1": 1,
        "y0": y,
        "y1": y,
        "line": {"dash": "dot", "color": "#6b7280", "width": 1},
    }
    note = {
        "xref": "paper",
        "yref": "y",
        "x": 0,
        "y": y,
        "text": text,
        "showarrow": False,
        "xanchor": "left",
        "yanchor": "bottom",
        "font": {"size": 12, "color": "#4b5563"},
    }
    return line, note


def styled(fig: go.Figure, y_title: str = "", legend: bool = True) -> go.Figure:
    """The one look of every figure: white, compact margins, readable fonts, UTC time."""
    fig.update_layout(
        template="tailsight",
        margin={"l": 64, "r": 16, "t": 36, "b": 56},
        font={"size": 14},
        showlegend=legend,
        legend={"orientation": "h", "y": 1.0, "x": 0, "yanchor": "bottom"},
        hovermode="x unified",
    )
    # Room for long labels (service names, node/GPU rows) and the date under the time axis.
    fig.update_yaxes(title_text=y_title, rangemode="tozero", automargin=True)
    fig.update_xaxes(automargin=True)
    return fig


def empty_figure(message: str) -> go.Figure:
    fig = new_figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 16, "color": "#6b7280"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return styled(fig, legend=False)


def incident_bands(fig: go.Figure, incidents: Sequence[Incident], end: datetime) -> go.Figure:
    """Shade each incident's span (to ``end`` while it lasts)."""
    fig.update_layout(shapes=[band(inc.start, inc.end or end) for inc in incidents])
    return fig


def latency_figure(series: pd.DataFrame, incidents: Sequence[Incident], end: datetime) -> go.Figure:
    """p50 and p99 of one service over time, incidents shaded."""
    if series.empty:
        return empty_figure("no requests in this range")
    fig = new_figure()
    fig.add_scatter(x=series["t"], y=series["p99_ms"], name="p99", line={"color": COLORS[1]})
    fig.add_scatter(x=series["t"], y=series["p50_ms"], name="p50", line={"color": COLORS[0]})
    return styled(incident_bands(fig, incidents, end), "latency (ms)")


def traffic_figure(series: pd.DataFrame, step_s: int) -> go.Figure:
    """Requests and failed requests per second of one service."""
    if series.empty:
        return empty_figure("no requests in this range")
    fig = new_figure()
    fig.add_scatter(
        x=series["t"], y=series["requests"] / step_s, name="requests/s", line={"color": COLORS[0]}
    )
    fig.add_scatter(
        x=series["t"], y=series["failures"] / step_s, name="failed/s", line={"color": COLORS[1]}
    )
    return styled(fig, "stored spans per second")


def fleet_p99_figure(
    series: pd.DataFrame, incidents: Sequence[Incident], end: datetime
) -> go.Figure:
    """Each service's p99 over the range, one line per service, incidents shaded."""
    if series.empty:
        return empty_figure("no requests in this range")
    fig = new_figure()
    for i, (service, rows) in enumerate(series.groupby("service", sort=True)):
        fig.add_scatter(
            x=rows["t"], y=rows["p99_ms"], name=str(service), line={"color": COLORS[i % 8]}
        )
    return styled(incident_bands(fig, incidents, end), "p99 latency (ms)")


def incident_timeline(incidents: Sequence[Incident], start: datetime, end: datetime) -> go.Figure:
    """One bar per incident on its service's row, coloured by its top cause."""
    if not incidents:
        return empty_figure("no incidents in this range")
    kinds = sorted({(i.causes[0].kind if i.causes else "unknown") for i in incidents})
    fig = new_figure()
    for kind in kinds:
        mine = [i for i in incidents if (i.causes[0].kind if i.causes else "unknown") == kind]
        fig.add_bar(
            base=[i.start for i in mine],
            x=[max(((i.end or end) - i.start).total_seconds() * 1000, 60_000) for i in mine],
            y=[i.service for i in mine],
            orientation="h",
            name=kind.replace("_", " "),
            marker_color=KIND_COLORS.get(kind, "#6b7280"),
            customdata=[i.id for i in mine],
            hovertemplate="%{y}: %{base|%H:%M:%S}<extra>" + kind + "</extra>",
        )
    fig.update_xaxes(type="date", range=[start, end])
    fig.update_layout(barmode="overlay", hovermode="closest")
    fig = styled(fig, "")
    fig.update_yaxes(rangemode="normal")
    return fig


def replica_heatmap(replicas: pd.DataFrame) -> go.Figure:
    """p99 per replica (host/pid) over time: the slow replica stands out as a hot row."""
    if replicas.empty:
        return empty_figure("no replicas in this range")
    frame = replicas.assign(replica=replicas["host"] + "/" + replicas["pid"].astype(str))
    grid = frame.pivot_table(index="replica", columns="t", values="p99_ms", aggfunc="max")
    fig = new_figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=list(grid.columns),
            y=list(grid.index),
            colorscale="YlOrRd",
            colorbar={"title": {"text": "p99 ms"}},
            hovertemplate="%{y}<br>%{x}<br>p99 %{z:.0f} ms<extra></extra>",
        )
    )
    fig = styled(fig, "", legend=False)
    fig.update_yaxes(rangemode="normal", automargin=True)
    return fig


def evidence_figure(
    series: pd.DataFrame,
    onset: datetime,
    until: datetime,
    unit: str,
    baseline: float,
    during: float,
) -> go.Figure:
    """One evidence metric on its entity before and during a spike; the spike shaded.

    ``series`` has ``t``, ``label`` and ``value``; the baseline and during levels the
    analysis measured are drawn as dotted lines so the chart and the numbers agree.
    """
    if series.empty:
        return empty_figure("no samples of this metric around the spike")
    fig = new_figure()
    for i, (label, rows) in enumerate(series.groupby("label", sort=True)):
        fig.add_scatter(
            x=rows["t"],
            y=rows["value"],
            name=str(label),
            mode="lines+markers",
            marker={"size": 4},
            line={"color": COLORS[i % 8]},
        )
    base_line, base_note = level(baseline, "baseline")
    during_line, during_note = level(during, "during")
    fig.update_layout(
        shapes=[band(onset, until), base_line, during_line], annotations=[base_note, during_note]
    )
    fig = styled(fig, unit_text(unit))
    if unit == "1":
        fig.update_yaxes(tickformat=".0%")
    return fig


def unit_text(unit: str) -> str:
    """A UCUM unit as a reader says it: ``{packet}/s`` → ``packets/s``, ``By/s`` → ``B/s``."""
    if unit == "1":
        return "share"
    if unit.startswith("{"):
        word, _, rest = unit[1:].partition("}")
        return f"{word}s{rest}"
    return unit.replace("By", "B")


def span_tree_figure(spans: pd.DataFrame) -> go.Figure:
    """One trace as a waterfall: a bar per span, indented under its parent, from trace start."""
    if spans.empty:
        return empty_figure("the trace's spans are no longer stored")
    rows = span_tree_rows(spans)
    t0 = spans["start"].min()
    labels = [f"{INDENT * depth}{r['service']}: {r['name']}" for depth, r in rows]
    fig = new_figure(
        go.Bar(
            base=[(r.start - t0).total_seconds() * 1000 for _, r in rows],
            x=[max(float(r.ms), 0.01) for _, r in rows],
            y=list(range(len(rows))),
            orientation="h",
            marker_color=[COLORS[zlib.crc32(str(r.service).encode()) % 8] for _, r in rows],
            hovertext=[
                f"{lab.strip()} {float(r.ms):.1f} ms"
                for lab, (_, r) in zip(labels, rows, strict=True)
            ],
            hoverinfo="text",
        )
    )
    fig = styled(fig, "", legend=False)
    fig.update_yaxes(
        tickvals=list(range(len(rows))),
        ticktext=labels,
        autorange="reversed",
        rangemode="normal",
        automargin=True,
    )
    fig.update_xaxes(title_text="ms since the trace began")
    fig.update_layout(height=max(160, 28 * len(rows) + 60), hovermode="closest")
    return fig


def span_tree_rows(spans: pd.DataFrame) -> list[tuple[int, pd.Series]]:
    """Spans in tree order (parent before children, siblings by start) with their depth."""
    ordered = spans.sort_values("start")
    ids = set(ordered["span_id"])
    children: dict[str, list[pd.Series]] = {}
    roots: list[pd.Series] = []
    for _, row in ordered.iterrows():
        parent = str(row["parent_id"] or "")
        if parent and parent in ids:
            children.setdefault(parent, []).append(row)
        else:
            roots.append(row)
    out: list[tuple[int, pd.Series]] = []
    stack = [(0, r) for r in reversed(roots)]
    while stack:
        depth, row = stack.pop()
        out.append((depth, row))
        stack.extend((depth + 1, c) for c in reversed(children.get(str(row["span_id"]), [])))
    return out
