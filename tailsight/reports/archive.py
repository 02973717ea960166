"""Generating a week's report into files, and the reports kept under ``<data_dir>/reports/``."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailsight.alerts.slo import Slo
from tailsight.reports.build import AlertSource, Progress, SliSource, build_report
from tailsight.reports.model import WeeklyReport
from tailsight.reports.week import IsoWeek
from tailsight.storage.store import Store

if TYPE_CHECKING:  # matplotlib and WeasyPrint load on the first report, not with `up`
    from tailsight.reports.charts import Chart

_NAME = re.compile(r"^(\d{4}-W\d{2})\.(html|pdf)$")


@dataclass(frozen=True)
class RenderedReport:
    """A report, its charts, and its HTML and PDF."""

    report: WeeklyReport
    charts: list[Chart]
    html: str
    pdf: bytes | None


def render_report(
    store: Store,
    slos: Sequence[Slo],
    week: IsoWeek,
    formats: Sequence[str] = ("html", "pdf"),
    sli_source: SliSource | None = None,
    alert_source: AlertSource | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> RenderedReport:
    """Build and render one week's report in the formats asked for."""
    from tailsight.reports.render import chart_pool, render_html, render_pdf, report_charts

    say = progress or (lambda _m: None)
    pool = chart_pool(len(slos))  # its processes start while the queries run
    try:
        report = build_report(
            store, slos, week, now or datetime.now(UTC), sli_source, alert_source, progress
        )
        say(f"charts ({len(report.slos) + 2})")
        charts = report_charts(report, pool)
    finally:
        if pool is not None:
            pool.shutdown()
    html = render_html(report, charts)
    pdf = None
    if "pdf" in formats:
        say("PDF layout")
        pdf = render_pdf(html)
    return RenderedReport(report, charts, html, pdf)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save(rendered: RenderedReport, directory: Path) -> tuple[Path, Path | None]:
    """Keep the report under ``directory`` as ``<week>.html`` and ``<week>.pdf``."""
    week = rendered.report.week
    html = directory / f"{week}.html"
    write_atomic(html, rendered.html.encode())
    pdf = None
    if rendered.pdf is not None:
        pdf = directory / f"{week}.pdf"
        write_atomic(pdf, rendered.pdf)
    return html, pdf


def report_path(directory: Path, name: str) -> Path | None:
    """The kept file ``<week>.html|pdf``, or None when the name is not one or is not kept."""
    if not _NAME.match(name):
        return None
    path = directory / name
    return path if path.is_file() else None


def list_reports(directory: Path, base_url: str = "") -> list[dict[str, Any]]:
    """``[{week, html_url, pdf_url, generated_at}]`` of the kept reports, newest week first."""
    weeks: dict[str, dict[str, Any]] = {}
    if directory.is_dir():
        for path in directory.iterdir():
            match = _NAME.match(path.name)
            if not match:
                continue
            week, fmt = match.groups()
            entry = weeks.setdefault(
                week, {"week": week, "html_url": None, "pdf_url": None, "generated_at": None}
            )
            entry[f"{fmt}_url"] = f"{base_url}/reports/{path.name}"
            mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            stamp = mtime.isoformat(timespec="seconds").replace("+00:00", "Z")
            if entry["generated_at"] is None or stamp > entry["generated_at"]:
                entry["generated_at"] = stamp
    return [weeks[w] for w in sorted(weeks, reverse=True)]
