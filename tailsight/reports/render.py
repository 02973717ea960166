"""The report as one HTML document (for browsers and email) and as a PDF laid out from it.

The PDF comes from the same HTML through WeasyPrint's CSS paged media: a title page, the
summary alone on the next page, each SLO and each chart kept whole on a page
(``break-inside: avoid``), page numbers in the footer. Statuses are words and charts use
hatching and markers, so a black-and-white print reads the same.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from html import escape
from itertools import repeat
from zoneinfo import ZoneInfo

from tailsight.reports.charts import Chart, gpu_chart, incidents_chart, slo_chart
from tailsight.reports.model import IncidentRow, SloSection, WeeklyReport, slo_title

ImageSrc = Callable[[Chart], str]
MAX_CHART_WORKERS = 8
CHARTS_PER_WORKER = 8  # fewer charts than this per process are not worth starting one for
KEEP_GROUP = 6  # a cause group of this many incidents or fewer is kept on one page
SUMMARY_SLOS = 12  # the summary page lists this many SLOs, least budget left first
STATUS_WORDS = {"met": "MET", "at_risk": "AT RISK", "breached": "BREACHED", "no_data": "NO DATA"}

CSS = """
@page { size: A4; margin: 16mm 14mm 16mm 14mm;
        @bottom-right { content: "page " counter(page) " of " counter(pages); font-size: 8pt; }
        @bottom-left { content: string(week); font-size: 8pt; } }
@page :first { @bottom-right { content: none; } @bottom-left { content: none; } }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 9pt;
       color: #000; max-width: 190mm; margin: auto;
       font-variant-ligatures: none; /* "ffi" stays three letters when text is copied or searched */ }
h1 { font-size: 22pt; margin: 0 0 4mm 0; string-set: week content(); }
h2 { font-size: 14pt; border-bottom: 1.5pt solid #000; padding-bottom: 1mm; margin-top: 6mm; }
h3 { font-size: 10.5pt; margin: 3mm 0 1mm 0; }
.title-page { break-after: page; padding-top: 70mm; text-align: left; }
.title-page .sub { font-size: 13pt; margin: 2mm 0; }
.summary { break-after: page; }
.section { break-before: page; }
.keep, figure, tr { break-inside: avoid; }
figure { margin: 2mm 0 3mm 0; }
figure img { width: 100%; }
figcaption { font-size: 8pt; font-style: italic; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 3mm 0; }
th, td { border-bottom: 0.5pt solid #555; padding: 1mm 1.5mm; text-align: left;
         vertical-align: top; }
th { border-bottom: 1pt solid #000; font-weight: bold; }
td.id { overflow-wrap: anywhere; } /* GPU UUIDs and ports: break inside, nothing else */
table.incidents, table.slos, table.gpus { table-layout: fixed; }
table.incidents th:nth-child(1) { width: 10%; } table.incidents th:nth-child(2) { width: 11%; }
table.incidents th:nth-child(3) { width: 19%; } table.incidents th:nth-child(4) { width: 8%; }
table.incidents th:nth-child(5) { width: 17%; }
table.slos th:nth-child(1) { width: 31%; }
table.gpus th:nth-child(1) { width: 24%; } table.gpus th:nth-child(2) { width: 13%; }
table.gpus th:nth-child(3), table.gpus th:nth-child(4) { width: 13%; }
h3 { break-after: avoid; }
td.n, th.n { text-align: right; white-space: nowrap; }
th.n { white-space: normal; }
.status { font-weight: bold; white-space: nowrap; }
.status-breached { text-decoration: underline; }
.tiles { display: flex; gap: 3mm; margin: 2mm 0 3mm 0; }
.tile { border: 1pt solid #000; padding: 2mm 3mm; flex: 1; }
.tile b { font-size: 16pt; display: block; }
.callout { border: 1.5pt solid #000; border-left-width: 4pt; padding: 2mm 3mm; margin: 2mm 0; }
.slo { border-top: 0.5pt solid #000; padding-top: 1mm; }
.muted { color: #333; }
"""


def data_uri(chart: Chart) -> str:
    return "data:image/png;base64," + base64.b64encode(chart.png).decode()


def chart_pool(slo_count: int) -> ProcessPoolExecutor | None:
    """Processes to draw ``slo_count`` SLO charts, None when too few to be worth starting.

    Started with spawn, not fork, because ``tailsight up`` runs threads (the store engine,
    gRPC) that a forked child would inherit mid-lock. Each is sent an empty task at once,
    so that it imports matplotlib while the report's queries run.
    """
    workers = min(os.cpu_count() or 1, MAX_CHART_WORKERS, slo_count // CHARTS_PER_WORKER)
    if workers <= 1:
        return None
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    for _ in range(workers):
        pool.submit(int)
    return pool


def report_charts(report: WeeklyReport, pool: ProcessPoolExecutor | None = None) -> list[Chart]:
    """Every chart of the report, in the order they appear.

    Many SLOs' charts are drawn by ``pool`` (:func:`chart_pool`: matplotlib draws on one
    core), one started here when none is given.
    """
    sections = list(report.slos)
    own = pool is None
    pool = chart_pool(len(sections)) if own else pool
    if pool is None:
        drawn = [slo_chart(s, report.timezone) for s in sections]
    else:
        try:
            drawn = list(pool.map(slo_chart, sections, repeat(report.timezone), chunksize=4))
        finally:
            if own:
                pool.shutdown()
    return [incidents_chart(report), *drawn, gpu_chart(report.workloads)]


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def _local(ts: datetime, tz: str, fmt: str = "%a %d %b %H:%M") -> str:
    return ts.astimezone(ZoneInfo(tz)).strftime(fmt)


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _status(status: str) -> str:
    return f'<span class="status status-{status}">{STATUS_WORDS[status]}</span>'


def _figure(chart: Chart, src: ImageSrc) -> str:
    return (
        f'<figure class="chart" id="{escape(chart.key)}"><img src="{src(chart)}" '
        f'alt="{escape(chart.title)}"><figcaption>{escape(chart.caption)}</figcaption></figure>'
    )


def render_html(report: WeeklyReport, charts: list[Chart], image_src: ImageSrc = data_uri) -> str:
    """The whole report as an HTML document; ``image_src`` says where each chart's PNG is."""
    by_key = {c.key: c for c in charts}
    tz = report.timezone
    last_day = report.end - timedelta(days=1)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Weekly SLO report {escape(report.week)}</title><style>{CSS}</style></head><body>",
        '<section class="title-page">',
        f"<h1>Weekly SLO report {escape(report.week)}</h1>",
        f'<p class="sub">{_local(report.start, tz, "%d %b %Y")} to '
        f"{_local(last_day, tz, '%d %b %Y')} ({escape(tz)})</p>",
        f'<p class="sub">{len(report.slos)} SLOs, {len(report.incidents)} incidents</p>',
        f'<p class="muted">Generated by tailsight at {_local(report.generated_at, "UTC", "%Y-%m-%d %H:%M")} UTC</p>',
        "</section>",
        _summary(report, by_key, image_src),
        _slo_sections(report, by_key, image_src),
        _incident_section(report),
        _fleet_section(report, by_key, image_src),
        "</body></html>",
    ]
    return "\n".join(parts)


def _summary(report: WeeklyReport, charts: dict[str, Chart], src: ImageSrc) -> str:
    counts = report.status_counts()
    tiles = "".join(
        f'<div class="tile"><b>{counts[s]}</b>{STATUS_WORDS[s].lower()}</div>'
        for s in ("met", "at_risk", "breached")
    )
    if counts["no_data"]:
        tiles += f'<div class="tile"><b>{counts["no_data"]}</b>no data</div>'
    worst = sorted(report.slos, key=lambda s: s.remaining)[:SUMMARY_SLOS]
    rows = "".join(
        f"<tr><td>{escape(slo_title(s.slo))}</td><td class='n'>{_pct(s.slo.target, 2)}</td>"
        f"<td class='n'>{_pct(s.sli_week, 3)}</td><td class='n'>{_pct(s.consumed_week, 1)}</td>"
        f"<td class='n'>{_pct(s.consumed_previous_week, 1)}</td>"
        f"<td class='n'>{_pct(s.remaining, 1)}</td><td>{_status(s.status)}</td></tr>"
        for s in worst
    )
    more = (
        f"<p class='muted'>The {len(worst)} SLOs with the least budget left; all "
        f"{len(report.slos)} follow, one per block.</p>"
        if len(report.slos) > len(worst)
        else ""
    )
    total_now = len(report.incidents)
    total_before = sum(report.previous_kind_counts.values())
    recurring = "".join(
        f"<li><b>{escape(r.culprit_type)} {escape(r.culprit_id)}</b>: {r.count} incidents "
        f"({escape(r.kind.replace('_', ' '))}) of {escape(', '.join(r.services))}</li>"
        for r in report.recurring
    )
    callout = (
        f'<div class="callout"><b>Fix first (recurring culprits)</b><ul>{recurring}</ul></div>'
        if recurring
        else ""
    )
    return (
        '<section class="summary"><h2>Summary</h2>'
        f'<div class="tiles">{tiles}</div>'
        "<table class='slos'><tr><th>SLO</th><th class='n'>target</th><th class='n'>SLI this week</th>"
        "<th class='n'>budget used this week</th><th class='n'>budget used week before</th>"
        "<th class='n'>budget left in window</th><th>status</th></tr>"
        f"{rows}</table>{more}"
        f"<p><b>{total_now}</b> incidents this week, {total_before} the week before.</p>"
        f"{callout}{_figure(charts['incidents'], src)}</section>"
    )


def _slo_sections(report: WeeklyReport, charts: dict[str, Chart], src: ImageSrc) -> str:
    blocks = [_slo_block(s, report, charts[f"slo-{s.slo.name}"], src) for s in report.slos]
    if not blocks:
        blocks = ["<p>No SLOs are defined (slo_dir holds no OpenSLO documents).</p>"]
    return '<section class="section"><h2>SLOs</h2>' + "".join(blocks) + "</section>"


def _slo_block(s: SloSection, report: WeeklyReport, chart: Chart, src: ImageSrc) -> str:
    slo = s.slo
    figures = (
        f"{_status(s.status)} &nbsp; SLI this week {_pct(s.sli_week, 3)} "
        f"({s.total_week:,.0f} events, {s.bad_week:,.0f} bad) against {_pct(slo.target, 2)}; "
        f"budget used this week {_pct(s.consumed_week, 1)}, left in the "
        f"{s.slo.window} window {_pct(s.remaining, 1)}."
    )
    if not s.alerts:
        alerts = "<p>Burn-rate alerts fired: none.</p>"
    else:
        items = "".join(
            f"<li>{_local(a.starts_at, report.timezone)} <b>{escape(a.severity)}</b> "
            f"{escape(a.name)}: {escape(a.summary)}</li>"
            for a in s.alerts
        )
        alerts = f"<p>Burn-rate alerts fired: {len(s.alerts)}</p><ul>{items}</ul>"
    if s.incidents:
        rows = "".join(
            f"<tr><td>{_local(i.incident.start, report.timezone)}</td>"
            f"<td>{escape(i.incident.kind.replace('_', ' '))}</td>"
            f"<td class='id'>{escape(i.incident.culprit)}</td><td class='n'>{i.bad_events:,.0f}</td>"
            f"<td class='n'>{_pct(i.share, 1)}</td></tr>"
            for i in s.incidents
        )
        incidents = (
            "<table><tr><th>incident start</th><th>cause</th><th>culprit</th>"
            "<th class='n'>bad events</th><th class='n'>share of budget</th></tr>"
            f"{rows}</table>"
        )
    else:
        incidents = "<p>No incident of this service consumed its budget this week.</p>"
    return (
        f'<div class="slo keep"><h3>{escape(slo_title(slo))} <span class="muted">'
        f"({escape(slo.name)}, service {escape(slo.service)})</span></h3>"
        f"<p>{figures}</p>{_figure(chart, src)}</div>"
        f'<div class="keep">{alerts}{incidents}</div>'
    )


def _incident_rows(rows: tuple[IncidentRow, ...], report: WeeklyReport) -> str:
    return "".join(
        f"<tr><td>{_local(r.start, report.timezone)}</td><td>{escape(r.service)}</td>"
        f"<td class='id'>{escape(r.culprit)}</td><td class='n'>{_duration(r.duration(report.end))}</td>"
        f"<td class='n'>{r.p99_ms:,.0f} / {r.baseline_p99_ms:,.0f} ms</td>"
        f"<td>{escape(r.summary)}</td></tr>"
        for r in rows
    )


def _incident_section(report: WeeklyReport) -> str:
    parts = ['<section class="section"><h2>Incidents by root cause</h2>']
    if report.recurring:
        items = "".join(
            f"<li><b>{escape(r.culprit_type)} {escape(r.culprit_id)}</b> was the culprit of "
            f"{r.count} incidents ({escape(r.kind.replace('_', ' '))}; "
            f"{escape(', '.join(r.services))}): fix it first.</li>"
            for r in report.recurring
        )
        parts.append(f'<div class="callout"><b>Recurring culprits</b><ul>{items}</ul></div>')
    if not report.groups:
        parts.append("<p>No incidents this week.</p>")
    for group in report.groups:
        keep = " keep" if len(group.incidents) <= KEEP_GROUP else ""  # short: never split
        parts.append(
            f'<div class="group{keep}">'
            f"<h3>{escape(group.kind.replace('_', ' '))}: {len(group.incidents)} incident(s)</h3>"
            "<table class='incidents'><tr><th>start</th><th>service</th><th>culprit</th>"
            "<th class='n'>duration</th><th class='n'>peak p99 / baseline</th>"
            f"<th>summary</th></tr>{_incident_rows(group.incidents, report)}</table></div>"
        )
    parts.append("</section>")
    return "".join(parts)


def _fleet_section(report: WeeklyReport, charts: dict[str, Chart], src: ImageSrc) -> str:
    rows = "".join(
        f"<tr><td>{escape(w.workload)}</td><td class='n'>{w.gpus}</td>"
        f"<td class='n'>{w.busy_h:,.1f}</td><td class='n'>{w.underutilized_h:,.1f}</td>"
        f"<td class='n'>{w.idle_h:,.1f}</td></tr>"
        for w in report.workloads
    )
    under = "".join(
        f"<tr><td class='id'>{escape(g.host)}/{escape(g.hw_id)}</td><td>{escape(g.workload)}</td>"
        f"<td class='n'>{g.underutilized_h:,.1f} h</td><td class='n'>{_pct(g.mean_util, 0)}</td>"
        f"<td>{escape(g.held_back)}</td></tr>"
        for g in report.underused
    )
    return (
        '<section class="section"><h2>Fleet efficiency</h2>'
        f"{_figure(charts['gpus'], src)}"
        "<table class='keep'><tr><th>workload</th><th class='n'>GPUs</th><th class='n'>busy h</th>"
        "<th class='n'>underutilized h</th><th class='n'>idle h</th></tr>"
        f"{rows}</table>"
        "<h3>GPUs underutilized longest</h3>"
        "<table class='gpus'><tr><th>GPU</th><th>workload</th><th class='n'>underutilized</th>"
        "<th class='n'>mean util.</th><th>what held it back</th></tr>"
        f"{under or '<tr><td colspan=5>none</td></tr>'}</table></section>"
    )


def render_pdf(html: str) -> bytes:
    """The PDF of a rendered report (images are data URIs: nothing is fetched)."""
    from weasyprint import HTML  # imported here: loading pango costs ~0.5 s

    return bytes(HTML(string=html).write_pdf())
