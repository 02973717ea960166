"""Incident (``/incidents/<id>``): what spiked and when, the ranked causes with their evidence
charted on the culprit, the blast radius, and slow example traces. The page alerts link to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from dash import Dash, Input, Output, dcc, html

from tailsight.analysis.attribution import blast_radius
from tailsight.analysis.evidence import Phases
from tailsight.analysis.series import with_values
from tailsight.dashboards import figures as fig
from tailsight.dashboards.evidence import chart_frame, evidence_series
from tailsight.dashboards.ui import (
    PageContext,
    cause_badge,
    graph,
    link,
    ms,
    page,
    panel,
    table,
    when,
)
from tailsight.model import Cause, Evidence, Incident
from tailsight.storage.alerts import alerts_of_incident
from tailsight.storage.dashboard_queries import service_series, slow_traces, trace_spans
from tailsight.storage.incidents import get_incident
from tailsight.storage.queries import replica_latency_windows
from tailsight.storage.queries_metrics import gpu_processes, metric_windows, nic_links
from tailsight.storage.store import Store

ROUTE = r"^/incidents/(?P<incident_id>[0-9a-fA-F]+)/?$"
BEFORE = timedelta(minutes=15)  # the baseline analysis compares against (Phases.baseline_s)
AFTER = timedelta(minutes=5)
MAX_DURING = timedelta(minutes=15)
MAX_CHARTS = 8


def alerts_table(ctx: PageContext, incident_id: str) -> html.Div:
    rows = [
        [
            a.state,
            a.severity,
            link(ctx, a.name, f"/slos/{a.slo}") if a.slo else a.name,
            when(a.starts_at),
            when(a.ends_at) if a.ends_at else "firing",
            ", ".join(sorted({d.notifier for d in a.deliveries if d.ok})) or "–",
        ]
        for a in alerts_of_incident(ctx.store, incident_id)
    ]
    return table(
        ["state", "severity", "alert", "fired", "resolved", "sent to"],
        rows,
        "incident-alerts",
        "no alert carried this incident",
    )


def window(inc: Incident, now: datetime) -> tuple[datetime, datetime, datetime]:
    """Chart range start, spike shown until, chart range end."""
    until = min(inc.end or now, inc.start + MAX_DURING)
    return inc.start - BEFORE, until, min(until + AFTER, now)


def render(ctx: PageContext, incident_id: str) -> html.Div:
    inc = get_incident(ctx.store, incident_id)
    if inc is None:
        raise LookupError(
            f"no incident {incident_id} (it may have been re-analysed away or expired)"
        )
    lo, until, hi = window(inc, ctx.now)
    causes = [
        html.Div(
            [
                html.H3(
                    [
                        f"{n}. ",
                        cause_badge(c.kind),
                        f" score {c.score:.2f} · ",
                        html.Span(c.entity.id if c.entity else "no culprit", className="culprit"),
                        f" (in {c.service})" if c.service != inc.service else "",
                    ]
                ),
                html.P(c.summary),
            ],
            className="cause",
        )
        for n, c in enumerate(inc.causes, 1)
    ]
    traces = slow_traces(ctx.store, inc.service, inc.start, until)
    return page(
        f"Incident: {inc.service}" + (f" {inc.operation}" if inc.operation else ""),
        panel("What happened", html.P(story(inc), className="story"), *causes, wide=True),
        panel(
            "Alerts",
            alerts_table(ctx, incident_id),
            note="The alerts that carried this incident: pages and burn-rate alerts of its SLOs.",
            wide=True,
        ),
        *evidence_panels(ctx.store, inc, lo, until, hi),
        panel(
            "Blast radius",
            blast_table(ctx, inc, lo, until),
            note="Replicas whose own p99 rose 1.5× or more over their baseline, with their GPUs and switch ports.",
        ),
        panel(
            "Latency around the spike",
            graph(
                fig.latency_figure(_service_series(ctx.store, inc.service, lo, hi), [inc], hi),
                "incident-latency",
                280,
            ),
        ),
        panel(
            "Slow example traces",
            dcc.Dropdown(
                id="trace-pick",
                options=[
                    {
                        "label": f"{t.ms:,.0f} ms · {t.operation} · {t.host}/{t.pid} · {t.time:%H:%M:%S}",
                        "value": t.trace_id,
                    }
                    for t in traces.itertuples()
                ],
                value=traces["trace_id"].iloc[0] if not traces.empty else None,
                clearable=False,
            ),
            dcc.Store(id="trace-window", data=[lo.isoformat(), hi.isoformat()]),
            html.Div(id="span-tree"),
            note="The slowest requests of the service during the spike; pick one to see its span tree.",
            wide=True,
        ),
        subtitle=html.Span(
            [
                f"{when(inc.start)} – {when(inc.end)} · id {inc.id} · ",
                link(ctx, "service page", f"/services/{inc.service}"),
            ]
        ),
    )


def story(inc: Incident) -> str:
    """One sentence an on-call engineer reads first."""
    rise = inc.p99_ms / inc.baseline_p99_ms if inc.baseline_p99_ms > 0 else float("nan")
    head = (
        f"The p99 {inc.measure} of {inc.service} rose to {ms(inc.p99_ms)} "
        f"({rise:.1f}× its usual {ms(inc.baseline_p99_ms)}) at {inc.start:%H:%M:%S} UTC"
    )
    head += (
        "; it is still going on."
        if inc.end is None
        else f" and recovered at {inc.end:%H:%M:%S} UTC."
    )
    if inc.causes and inc.causes[0].kind != "unknown":
        top = inc.causes[0]
        head += (
            f" Most likely cause: {top.kind.replace('_', ' ')}"
            + (f" at {top.entity.id}" if top.entity else "")
            + "."
        )
    return head


def evidence_panels(
    store: Store, inc: Incident, lo: datetime, until: datetime, hi: datetime
) -> list[html.Section]:
    """One chart per evidence row of the top causes, on the culprit entity, before and during."""
    rows: list[tuple[Cause, Evidence]] = [(c, e) for c in inc.causes[:3] for e in c.evidence][
        :MAX_CHARTS
    ]
    specs = [(c, e, evidence_series(e.metric, e.entity)) for c, e in rows]
    metrics = sorted({m for *_, s in specs if s for m in s.metrics})
    hosts = sorted({s.host for *_, s in specs if s and s.host})
    switches = sorted({s.switch for *_, s in specs if s and s.switch})
    pod_specs = any(s and not s.host and not s.switch for *_, s in specs)
    if pod_specs:
        hosts = sorted(set(hosts) | {h for h in _replica_hosts(store, inc, lo, until)})
    values = (
        with_values(metric_windows(store, metrics, lo, hi, hosts, switches))
        if metrics
        else pd.DataFrame()
    )
    out = []
    for n, (cause, ev, spec) in enumerate(specs):
        if ev.metric == "requests":
            series = _service_series(store, ev.entity, lo, hi)
            frame = pd.DataFrame(
                {"t": series["t"], "label": "requests/s", "value": series["requests"] / 10.0}
            )
        elif spec is None:
            continue
        else:
            frame = chart_frame(values, spec)
        title = f"{ev.metric} on {ev.entity}"
        out.append(
            panel(
                title,
                graph(
                    fig.evidence_figure(frame, inc.start, until, ev.unit, ev.baseline, ev.during),
                    f"evidence-{n}",
                    240,
                ),
                note=f"Evidence for {cause.kind.replace('_', ' ')}: {_level(ev.baseline, ev.unit)} before, "
                f"{_level(ev.during, ev.unit)} during. Shaded: the spike.",
            )
        )
    return out


def blast_table(ctx: PageContext, inc: Incident, lo: datetime, until: datetime) -> html.Div:
    replicas = replica_latency_windows(ctx.store, [inc.service], lo, until)
    blast = blast_radius(replicas, inc.service, Phases(inc.start, until))
    slow = sorted(blast.slow)
    hosts = sorted({rid.rsplit("/", 1)[0] for rid in slow})
    gpus = (
        gpu_processes(ctx.store, lo, until, hosts)
        if hosts
        else pd.DataFrame(columns=["host", "hw_id", "pid"])
    )
    links = (
        nic_links(ctx.store, lo - timedelta(minutes=10), until, hosts)
        if hosts
        else pd.DataFrame(columns=["host", "interface", "switch", "port"])
    )
    rows = []
    for rid in slow:
        host, pid = rid.rsplit("/", 1)
        mine = gpus[(gpus["host"] == host) & (gpus["pid"] == pid)]
        ports = links[links["host"] == host]
        rows.append(
            [
                html.Span(rid, className="culprit"),
                ", ".join(sorted(set(mine["hw_id"]))) or "–",
                ", ".join(f"{p.interface} → {p.switch}/{p.port}" for p in ports.itertuples())
                or "–",
            ]
        )
    summary = html.P(f"{len(slow)} of {len(blast.seen)} replicas slow", className="note")
    return html.Div(
        [
            summary,
            table(
                ["replica (node/pid)", "GPUs", "NIC → switch port"],
                rows,
                "blast-radius",
                "no replica was slow on its own: the whole service slowed",
            ),
        ]
    )


def register(app: Dash, store: Store) -> None:
    @app.callback(
        Output("span-tree", "children"), Input("trace-pick", "value"), Input("trace-window", "data")
    )
    def show_span_tree(trace_id: str | None, bounds: list[str] | None) -> Any:
        if not trace_id or not bounds:
            return html.Div("no spans of the service stored during the spike", className="empty")
        lo, hi = (datetime.fromisoformat(b) for b in bounds)
        spans = trace_spans(store, [trace_id], lo - timedelta(minutes=5), hi + timedelta(minutes=5))
        return graph(fig.span_tree_figure(spans), "span-tree-graph", 300)


def _service_series(store: Store, service: str, lo: datetime, hi: datetime) -> pd.DataFrame:
    series = service_series(store, lo, hi, 10)
    return series[series["service"] == service]


def _replica_hosts(store: Store, inc: Incident, lo: datetime, until: datetime) -> set[str]:
    replicas = replica_latency_windows(store, [inc.service], lo, until)
    return {str(h) for h in replicas["host"] if h}


def _level(value: float, unit: str) -> str:
    if unit == "1":
        return f"{value:.0%}"
    return (
        f"{value:,.0f} {fig.unit_text(unit)}"
        if value >= 100
        else f"{value:.1f} {fig.unit_text(unit)}"
    )
