"""The weekly report job: generate the last full week's report, keep it, mail it.

This is the job function alone, without the scheduler around it, so the shared
scheduler of ``tailsight up`` (or a test) can call it as it is. It blocks; callers on
the event loop run it in a thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tailsight.alerts.slo import load_slo_dir
from tailsight.config import Settings
from tailsight.reports.archive import RenderedReport, render_report, save
from tailsight.reports.build import AlertSource, Progress, SliSource
from tailsight.reports.mail import report_message, send_mail
from tailsight.reports.week import IsoWeek, last_full_week
from tailsight.storage.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportRun:
    """What one run of the job did."""

    week: str
    html: Path
    pdf: Path | None
    mailed_to: tuple[str, ...]


def reports_dir(settings: Settings) -> Path:
    """Where ``tailsight up`` keeps the reports: ``<data_dir>/reports/``."""
    return settings.data_dir.expanduser() / "reports"


def recipients(settings: Settings) -> list[str]:
    """The addresses of ``report_email_to`` (comma-separated)."""
    return [a.strip() for a in (settings.report_email_to or "").split(",") if a.strip()]


def generate_week(
    store: Store,
    settings: Settings,
    week: IsoWeek,
    sli_source: SliSource | None = None,
    alert_source: AlertSource | None = None,
    progress: Progress | None = None,
    formats: Sequence[str] = ("html", "pdf"),
) -> RenderedReport:
    """One week's report over the SLOs of ``slo_dir``; a file that fails validation is
    skipped with a warning (and a progress line), as SLO evaluation skips it."""
    slos, errors = load_slo_dir(settings.slo_path)
    for error in errors:
        log.warning("SLO definition skipped in the report: %s", error)
        if progress is not None:
            progress(f"skipped: {error}")
    return render_report(
        store,
        slos,
        week,
        formats=formats,
        sli_source=sli_source,
        alert_source=alert_source,
        progress=progress,
    )


def run_weekly_report(
    store: Store,
    settings: Settings,
    now: datetime,
    sli_source: SliSource | None = None,
    alert_source: AlertSource | None = None,
) -> ReportRun:
    """Generate the last full ISO week's report (in ``report_timezone``), keep it and mail it.

    A failed mail is logged and the report stays kept: the files are the record, the
    mail a convenience.
    """
    week = last_full_week(now, settings.report_timezone)
    rendered = generate_week(store, settings, week, sli_source, alert_source)
    html, pdf = save(rendered, reports_dir(settings))
    log.info("weekly report %s written to %s", week, html.parent)
    to = recipients(settings)
    mailed: tuple[str, ...] = ()
    if to and not settings.smtp_url:
        log.warning("report_email_to is set but smtp_url is not: report %s not mailed", week)
    elif to and settings.smtp_url:
        try:
            send_mail(settings.smtp_url, report_message(rendered, settings.smtp_from, to))
            mailed = tuple(to)
            log.info("weekly report %s mailed to %s", week, ", ".join(to))
        except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors
            log.error("weekly report %s could not be mailed: %s", week, exc)
    return ReportRun(str(week), html, pdf, mailed)
