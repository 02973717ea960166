"""The weekly job inside `tailsight up`: a short schedule fires it, the mail reaches a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tailsight.reports.week import last_full_week
from tailsight.storage import open_store
from tailsight.storage.migrations import migrate
from tests.analysis.telemetry import insert_spans, span
from tests.conftest import UpProcess, free_port
from tests.reports.weekdata import slo_yaml, slos

pytestmark = pytest.mark.integration


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        self.arrived.set()
        return "250 OK"


def _week_of_spans(data_dir: Path) -> str:
    """A few hundred spans of one service spread over the last full week; one slow hour a day."""
    week = last_full_week(datetime.now(UTC))
    store = open_store(f"chdb://{data_dir}")
    try:
        migrate(store, ttl_days=30)
        rows = []
        for day in week.days():
            for minute in range(0, 24 * 60, 10):
                ts = day + timedelta(minutes=minute)
                rows.append(span("llm-gateway", ts, 3000.0 if minute < 60 else 120.0, "h1", "1"))
        insert_spans(store, rows)
    finally:
        store.close()
    (data_dir / "slos").mkdir()
    (data_dir / "slos" / "gw.yaml").write_text(slo_yaml(slos()[0]))
    return str(week)


def test_scheduled_report_is_kept_listed_and_mailed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    week = _week_of_spans(data_dir)
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())  # type: ignore[arg-type]
    smtp.start()
    env = {
        "TAILSIGHT_REPORT_SCHEDULE": "*/3 * * * * *",  # every 3 s: seconds first
        "TAILSIGHT_REPORT_EMAIL_TO": "sre@example.com, ml-platform@example.com",
        "TAILSIGHT_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
        "TAILSIGHT_SMTP_FROM": "tailsight@example.com",
    }
    up = UpProcess(data_dir, env=env)
    try:
        up.wait_healthy(60)
        assert inbox.arrived.wait(90), up.output()
        with urllib.request.urlopen(up.api + "/api/v1/reports", timeout=10) as resp:
            listed = json.loads(resp.read())
    finally:
        up.stop()
        smtp.stop()
    rcpt, msg = inbox.messages[0]
    assert sorted(rcpt) == ["ml-platform@example.com", "sre@example.com"]
    assert msg["From"] == "tailsight@example.com"
    # 1 in 24 spans slow against a 95% target: 83% of the budget used, at risk
    assert week in msg["Subject"] and "1 at risk" in msg["Subject"]
    html = msg.get_body(("html",))
    assert html is not None
    body = html.get_content()
    assert f"Weekly SLO report {week}" in body and "llm-gateway" in body
    related = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert related and all(f"cid:{p['Content-ID'][1:-1]}" in body for p in related)
    pdfs = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].get_filename() == f"{week}.pdf"
    assert pdfs[0].get_content().startswith(b"%PDF")
    assert listed[0]["week"] == week
    assert (data_dir / "reports" / f"{week}.pdf").read_bytes().startswith(b"%PDF")
    assert (data_dir / "reports" / f"{week}.html").is_file()


def test_a_bad_schedule_stops_up_at_startup(tmp_path: Path) -> None:
    up = UpProcess(tmp_path / "data", env={"TAILSIGHT_REPORT_SCHEDULE": "every monday"})
    try:
        deadline = time.monotonic() + 60
        while up.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert up.proc.returncode == 2
        assert "report_schedule 'every monday'" in up.output()
    finally:
        up.stop()
