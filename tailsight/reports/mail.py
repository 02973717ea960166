"""Mailing a report: the HTML inline (charts as related parts), the PDF attached.

Charts are ``cid:`` parts of a ``multipart/related`` body rather than data URIs, which
most mail clients refuse to show. SMTP uses the shared ``smtp_url`` setting
(``smtp://user:pass@host:port``) and STARTTLS whenever the server offers it.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from tailsight.reports.archive import RenderedReport
    from tailsight.reports.charts import Chart


def report_message(rendered: RenderedReport, sender: str, to: Sequence[str]) -> EmailMessage:
    """The email of a report: text, HTML with inline charts, and the PDF attached."""
    from tailsight.reports.render import render_html

    report = rendered.report
    counts = report.status_counts()
    msg = EmailMessage()
    msg["Subject"] = (
        f"Weekly SLO report {report.week}: {counts['met']} met, {counts['at_risk']} at risk, "
        f"{counts['breached']} breached, {len(report.incidents)} incidents"
    )
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg.set_content(
        f"The weekly SLO report of {report.week} is attached as a PDF; "
        "an HTML mail client shows it inline.\n"
    )
    ids = {c.key: make_msgid(domain="tailsight") for c in rendered.charts}

    def cid(chart: Chart) -> str:
        return "cid:" + ids[chart.key][1:-1]

    msg.add_alternative(render_html(report, rendered.charts, cid), subtype="html")
    html_part = msg.get_body(("html",))
    assert html_part is not None
    for chart in rendered.charts:
        html_part.add_related(
            chart.png,
            maintype="image",
            subtype="png",
            cid=ids[chart.key],
            filename=f"{chart.key}.png",
        )
    if rendered.pdf is not None:
        msg.add_attachment(
            rendered.pdf, maintype="application", subtype="pdf", filename=f"{report.week}.pdf"
        )
    return msg


def send_mail(smtp_url: str, message: EmailMessage, timeout_s: float = 30.0) -> None:
    """Send ``message`` through the server of ``smtp_url``; ``OSError``/``SMTPException`` on failure."""
    url = urlsplit(smtp_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise ValueError(f"smtp_url {smtp_url!r} is not smtp://[user:pass@]host[:port]")
    cls = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    port = url.port or (465 if url.scheme == "smtps" else 25)
    with cls(url.hostname, port, timeout=timeout_s) as smtp:
        smtp.ehlo()
        if url.scheme == "smtp" and smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)
