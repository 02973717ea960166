"""Service (``/services/<name>``): latency with incidents, traffic, slow replicas, downstream calls."""

from __future__ import annotations

from urllib.parse import unquote

from dash import html

from tailsight.dashboards import figures as fig
from tailsight.dashboards.pages.fleet import incidents_table, slo_cell
from tailsight.dashboards.slo_source import slo_statuses
from tailsight.dashboards.ui import PageContext, graph, link, ms, page, panel, pct, table, when
from tailsight.storage.dashboard_queries import (
    downstream_sample,
    operation_totals,
    replica_series,
    service_series,
)
from tailsight.storage.incidents import list_incidents

ROUTE = r"^/services/(?P<name>[^/]+)/?$"


def render(ctx: PageContext, name: str) -> html.Div:
    service = unquote(name)
    r = ctx.range
    every = service_series(ctx.store, r.start, r.end, r.step_s)
    series = every[every["service"] == service]
    if series.empty and service not in set(every["service"]):
        raise LookupError(
            f"no requests of service {service!r} stored between {when(r.start)} and {when(r.end)}"
        )
    incidents = list_incidents(ctx.store, r.start, r.end, service)
    replicas = replica_series(ctx.store, service, r.start, r.end, r.step_s)
    operations = operation_totals(ctx.store, service, r.start, r.end)
    downstream = downstream_sample(ctx.store, service, r.end)
    slos = [s for s in slo_statuses(ctx.slos, ctx.now) if s.get("service") == service]
    return page(
        service,
        panel(
            "Latency",
            graph(fig.latency_figure(series, incidents, r.end), "latency", 300),
            note="p50 and p99 of the service's server spans; shaded: incidents.",
        ),
        panel(
            "Requests and errors",
            graph(fig.traffic_figure(series, r.step_s), "traffic", 300),
            note="Stored server spans per second, and those that failed (status error or HTTP 5xx).",
        ),
        panel(
            "Replicas",
            graph(
                fig.replica_heatmap(replicas),
                "replicas",
                max(260, 22 * replicas[["host", "pid"]].drop_duplicates().shape[0] + 80),
            ),
            note="p99 per replica (node/pid) over time: a slow replica, GPU or node is a hot row.",
            wide=True,
        ),
        panel(
            "Downstream calls",
            table(
                ["callee", "calls", "p50", "p99"],
                [
                    [
                        link(ctx, d.downstream, f"/services/{d.downstream}"),
                        f"{d.calls:,}",
                        ms(d.p50_ms),
                        ms(d.p99_ms),
                    ]
                    for d in downstream.itertuples()
                ],
                "downstream",
                "no calls to other services in the last 5 minutes of the range",
            ),
            note="From traces in the last 5 minutes of the range: the server time of each service it "
            "calls; a callee whose p99 grew holds the added latency.",
        ),
        panel(
            "Operations",
            table(
                ["operation", "spans", "errors", "p99"],
                [
                    [
                        o.operation,
                        f"{o.requests:,}",
                        pct(o.failures / max(o.requests, 1)),
                        ms(o.p99_ms),
                    ]
                    for o in operations.itertuples()
                ],
                "operations",
            ),
        ),
        panel("Incidents", incidents_table(ctx, incidents), wide=True),
        panel(
            "SLOs",
            table(
                ["SLO", "target", "SLI", "budget"],
                [
                    [
                        link(ctx, str(s["name"]), f"/slos/{s['name']}"),
                        pct(float(s.get("target", float("nan")))),
                        f"{float(s.get('sli', float('nan'))):.4f}",
                        slo_cell(s),
                    ]
                    for s in slos
                ],
                "service-slos",
                "no SLO names this service"
                if ctx.slos is not None
                else "no SLO data source is wired into this server",
            ),
        ),
        subtitle=f"{when(r.start)} – {when(r.end)}",
    )
