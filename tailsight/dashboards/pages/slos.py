"""SLOs (``/slos``, ``/slos/<name>``): SLI against target, budget left and its burn-down, burn rates.

Numbers come from the wired :class:`~tailsight.dashboards.slo_source.SloSource` (the
SLO evaluation of ``alerts``); without one both pages say that no SLO data source is
wired into this server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pandas as pd
import plotly.graph_objects as go
from dash import html

from tailsight.dashboards import figures as fig
from tailsight.dashboards.slo_source import slo_statuses
from tailsight.dashboards.ui import PageContext, graph, link, page, panel, pct, table, when

ROUTE = r"^/slos(?:/(?P<name>[^/]+))?/?$"
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
NO_SOURCE = (
    "No SLO data source is wired into this server yet: SLO evaluation (tailsight/alerts) "
    "feeds these pages once it is connected."
)


def render(ctx: PageContext, name: str | None = None) -> html.Div:
    if ctx.slos is None:
        return page(
            "SLOs" if name is None else f"SLO {unquote(name)}",
            panel("SLOs", html.P(NO_SOURCE, id="slo-missing"), wide=True),
        )
    statuses = slo_statuses(ctx.slos, ctx.now)
    if name is None:
        return page("SLOs", panel("Every SLO", slo_table(ctx, statuses), wide=True))
    wanted = unquote(name)
    found = [s for s in statuses if s.get("name") == wanted]
    if not found:
        raise LookupError(f"no SLO named {wanted!r}")
    slo = found[0]
    r = ctx.range
    history = ctx.slos.history(wanted, r.start, r.end, r.step_s)
    return page(
        f"SLO {wanted}",
        panel("Status", slo_table(ctx, [slo]), wide=True),
        panel("SLI against target", graph(sli_figure(history, float(slo["target"])), "sli", 300)),
        panel(
            "Error budget burn-down",
            graph(burn_down_figure(history), "burn-down", 300),
            note="Fraction of the window's error budget left; the dotted line is the even burn "
            "that ends the window at zero.",
        ),
        panel(
            "Burn rates",
            graph(burn_rate_figure(slo.get("burn_rates") or {}), "burn-rates", 260),
            note="Budget burn per window (1 = exactly on budget); alerts page at 14.4 and 6, ticket at 3 and 1.",
        ),
        subtitle=f"{slo.get('service')} · target {pct(float(slo['target']))} over "
        f"{slo.get('window')} · {when(r.start)} – {when(r.end)}",
    )


def slo_table(ctx: PageContext, statuses: list[dict[str, Any]]) -> html.Div:
    rows = [
        [
            link(ctx, str(s["name"]), f"/slos/{s['name']}"),
            link(ctx, str(s.get("service")), f"/services/{s.get('service')}"),
            pct(float(s.get("target", float("nan")))),
            f"{_number(s.get('sli')):.4%}",
            html.Span(
                pct(_number(s.get("error_budget_remaining"))),
                className="hot" if _number(s.get("error_budget_remaining"), 1.0) < 0.25 else "ok",
            ),
            str(s.get("window", "")),
            str(s.get("alerts_firing") or "–"),
        ]
        for s in statuses
    ]
    return table(
        ["SLO", "service", "target", "SLI", "budget left", "window", "alerts firing"],
        rows,
        "slo-table",
        "no SLOs are defined",
    )


def _number(value: Any, default: float = float("nan")) -> float:
    """A CONTRACT §6 figure as a float: ``sli`` and the budget are null without traffic."""
    return default if value is None else float(value)


def sli_figure(history: pd.DataFrame, target: float) -> go.Figure:
    if history.empty:
        return fig.empty_figure("no SLI values in this range")
    figure = fig.new_figure()
    figure.add_scatter(x=history["t"], y=history["sli"], name="SLI", line={"color": fig.COLORS[0]})
    line, note = fig.level(target, "target")
    figure.update_layout(shapes=[line], annotations=[note])
    figure = fig.styled(figure, "good / total")
    figure.update_yaxes(rangemode="normal", tickformat=".2%")
    return figure


def burn_down_figure(history: pd.DataFrame) -> go.Figure:
    if history.empty:
        return fig.empty_figure("no budget values in this range")
    figure = fig.new_figure()
    figure.add_scatter(
        x=history["t"],
        y=history["error_budget_remaining"],
        name="budget left",
        line={"color": fig.COLORS[2]},
    )
    first, last = history["t"].iloc[0], history["t"].iloc[-1]
    start_level = float(history["error_budget_remaining"].iloc[0])
    figure.add_scatter(
        x=[first, last],
        y=[start_level, 0.0],
        name="even burn",
        line={"dash": "dot", "color": "#6b7280"},
    )
    figure = fig.styled(figure, "budget left")
    figure.update_yaxes(rangemode="normal", tickformat=".0%")
    return figure


def burn_rate_figure(burn_rates: dict[str, float | None]) -> go.Figure:
    windows = [w for w in WINDOWS if burn_rates.get(w) is not None]  # None: no traffic
    if not windows:
        return fig.empty_figure("no burn rates (no traffic in any window)")
    values = [float(burn_rates[w] or 0.0) for w in windows]
    colors = [
        fig.COLORS[1] if v >= 6 else fig.COLORS[4] if v >= 1 else fig.COLORS[2] for v in values
    ]
    figure = fig.new_figure(
        go.Bar(
            x=windows,
            y=values,
            marker_color=colors,
            text=[f"{v:.1f}" for v in values],
            textposition="outside",
        )
    )
    return fig.styled(figure, "burn rate", legend=False)
