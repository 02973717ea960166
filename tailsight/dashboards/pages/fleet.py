"""Fleet (``/``): services against their usual latency, incidents with their culprits, GPUs, ports."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import html

from tailsight.analysis.fleet import (
    BUSY,
    IDLE,
    PORT_COUNTERS,
    PORT_SPEED,
    GpuHours,
    gpu_hours_of,
    service_table,
    worst_ports,
)
from tailsight.dashboards import figures as fig
from tailsight.dashboards.slo_source import slo_statuses
from tailsight.dashboards.ui import (
    PageContext,
    cause_badge,
    graph,
    link,
    ms,
    page,
    panel,
    pct,
    rate,
    table,
    when,
)
from tailsight.model import Incident
from tailsight.storage.dashboard_links import link_summaries
from tailsight.storage.dashboard_metrics import gpu_state_buckets
from tailsight.storage.dashboard_queries import service_series, service_totals
from tailsight.storage.incidents import list_incidents

ROUTE = r"^/$"
COUNTER_MIN_STEP = 120  # counters need two points in a bucket; agents report every 10-30 s


def render(ctx: PageContext) -> html.Div:
    r = ctx.range
    totals = service_totals(ctx.store, r.start, r.end)
    series = service_series(ctx.store, r.start, r.end, r.step_s)
    incidents = list_incidents(ctx.store, r.start, r.end)
    counts = gpu_state_buckets(ctx.store, r.start, r.end, r.step_s, BUSY, IDLE)
    hours = gpu_hours_of(*counts, r.step_s)
    port_step = max(r.step_s, COUNTER_MIN_STEP)
    ports = link_summaries(
        ctx.store, PORT_COUNTERS, PORT_SPEED, r.start, r.end, port_step, switch_side=True
    )
    services = service_table(totals, series, r.seconds)
    open_incidents = [i for i in incidents if i.end is None]
    return page(
        "Fleet",
        kpis(services, incidents, open_incidents, hours),
        panel(
            "Services",
            services_table(ctx, services, incidents),
            note="Request rate, errors and latency over the range; the latest p99 against the "
            "service's usual p99 (median over the range).",
            wide=True,
        ),
        panel(
            "Incident timeline",
            graph(fig.incident_timeline(incidents, r.start, r.end), "incident-timeline", 260),
            note="Each bar is an incident on its service's row, coloured by its top cause.",
        ),
        panel(
            "p99 latency per service",
            graph(fig.fleet_p99_figure(series, incidents, r.end), "fleet-p99", 260),
            note="Shaded: incidents.",
        ),
        panel(
            "GPU fleet",
            graph(gpu_hours_figure(hours), "gpu-hours", 220),
            note="GPU-hours in the range: busy (≥ 50 % utilized), underutilized (5–50 %), idle (< 5 %).",
        ),
        panel(
            "Incidents",
            incidents_table(ctx, incidents),
            note="Tail-latency spikes in the range, newest first, with the top-ranked cause.",
            wide=True,
        ),
        panel(
            "Worst switch ports",
            ports_table(ctx, worst_ports(ports)),
            note="Peak per-second rates over the range; utilization is the busier direction "
            "against the port speed.",
        ),
        subtitle=f"{when(r.start)} – {when(r.end)}",
    )


def kpis(
    services: Any, incidents: list[Incident], open_incidents: list[Incident], hours: GpuHours
) -> html.Div:
    def kpi(value: str, label: str, bad: bool = False) -> html.Div:
        return html.Div(
            [html.Div(value, className="v"), html.Div(label, className="k")],
            className="kpi bad" if bad else "kpi",
        )

    busy = hours.busy / hours.total if hours.total else float("nan")
    return html.Div(
        [
            kpi(str(len(services)), "services"),
            kpi(str(len(open_incidents)), "incidents ongoing", bad=bool(open_incidents)),
            kpi(str(len(incidents)), "incidents in range"),
            kpi(pct(busy), "GPU-hours busy"),
            kpi(f"{hours.underutilized:,.0f} h", "GPU-hours underutilized"),
        ],
        className="kpis",
        id="kpis",
    )


def services_table(ctx: PageContext, services: Any, incidents: list[Incident]) -> html.Div:
    slo_state = {s.get("service"): s for s in slo_statuses(ctx.slos, ctx.now)}
    rows = []
    for s in services.itertuples():
        ratio = s.p99_ratio
        hot = ratio == ratio and ratio >= 1.5
        count = sum(1 for i in incidents if i.service == s.service)
        slo = slo_state.get(s.service)
        rows.append(
            [
                link(ctx, s.service, f"/services/{s.service}"),
                rate(s.rate),
                pct(s.error_ratio),
                ms(s.p50_ms),
                ms(s.p99_ms),
                ms(s.baseline_p99_ms),
                html.Span(
                    f"{ms(s.latest_p99_ms)} ({ratio:.1f}×)"
                    if ratio == ratio
                    else ms(s.latest_p99_ms),
                    className="hot" if hot else "",
                ),
                str(count) if count else "–",
                slo_cell(slo),
            ]
        )
    return table(
        [
            "service",
            "spans/s",
            "errors",
            "p50",
            "p99",
            "usual p99",
            "latest p99",
            "incidents",
            "SLO",
        ],
        rows,
        "services-table",
        "no requests stored in this range",
    )


def slo_cell(slo: dict[str, Any] | None) -> Any:
    if not slo:
        return "–"
    budget = slo.get("error_budget_remaining")
    firing = slo.get("alerts_firing")
    text = (
        f"{slo.get('name')}: budget {pct(float(budget))}"
        if budget is not None
        else str(slo.get("name"))
    )
    spent = budget is not None and float(budget) <= 0.0  # breached, paging or not
    hot = bool(firing) or spent
    return html.Span(text + (" · firing" if firing else ""), className="hot" if hot else "ok")


def incidents_table(ctx: PageContext, incidents: list[Incident]) -> html.Div:
    rows = []
    for inc in incidents[:50]:
        top = inc.causes[0] if inc.causes else None
        rows.append(
            [
                link(ctx, when(inc.start), f"/incidents/{inc.id}", className="incident-link"),
                link(ctx, inc.service, f"/services/{inc.service}"),
                f"{ms(inc.p99_ms)} (usual {ms(inc.baseline_p99_ms)})",
                cause_badge(top.kind) if top else "–",
                html.Span(top.entity.id if top and top.entity else "–", className="culprit"),
                f"{top.score:.2f}" if top else "–",
                top.summary if top else "",
            ]
        )
    return table(
        ["started", "service", "p99", "top cause", "culprit", "score", "summary"],
        rows,
        "incidents-table",
        "no incidents in this range",
    )


def ports_table(ctx: PageContext, ports: Any) -> html.Div:
    rows = [
        [
            html.Span(f"{p.switch}/{p.interface}", className="culprit"),
            pct(p.util_peak),
            rate(p.ecn_peak),
            rate(p.pfc_peak),
            rate(p.discards_peak),
            rate(p.errors_peak),
        ]
        for p in ports.itertuples()
    ]
    return table(
        ["port", "peak util.", "ECN marks", "PFC pauses", "discards", "errors"],
        rows,
        "worst-ports",
        "no ECN marks, PFC pauses or discards on any port in this range",
    )


def gpu_hours_figure(hours: GpuHours) -> go.Figure:
    if hours.total <= 0:
        return fig.empty_figure("no GPU utilization stored in this range")
    figure = fig.new_figure()
    for value, name, color in (
        (hours.busy, "busy", "#16a34a"),
        (hours.underutilized, "underutilized", "#f59e0b"),
        (hours.idle, "idle", "#9ca3af"),
    ):
        figure.add_bar(
            x=[value],
            y=["GPU-hours"],
            orientation="h",
            name=name,
            marker_color=color,
            text=[f"{name} {value:,.0f} h"],
            textposition="inside",
        )
    figure.update_layout(barmode="stack", hovermode="closest")
    return fig.styled(figure, "")
