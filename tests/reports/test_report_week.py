"""Acceptance: a simulated week with known faults, its report checked against the ground truth.

The week (tests/reports/weekdata.py) is built once for the module: seven faults on seven
days, one of them a neighbor process that comes back three times, and one fault the week
before. The report must list every fault's incident with its cause and culprit, call
out the recurring neighbor, and give budget figures equal to a count of the raw spans.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from tailsight.alerts.slo import load_slo_dir
from tailsight.cli import main
from tailsight.reports.archive import RenderedReport, render_report
from tailsight.reports.model import IncidentRow
from tailsight.storage import open_store
from tailsight.storage.migrations import migrate
from tests.conftest import UpProcess
from tests.reports.weekdata import SimWeek, build_week, slo_yaml

# The module's first test builds the simulated week (its fixture); the timeout, a bound on
# a hang, covers that build with the suite's other workers sharing the CPUs.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@dataclass(frozen=True)
class Built:
    data_dir: Path
    sim: SimWeek
    rendered: RenderedReport
    raw: dict[str, dict[str, float]]  # per SLO: figures counted from raw spans


def _weight(tracestate: str) -> float:
    """Requests a sampled span stands for: 1/p, p from ``ot=th:<hex>`` (OTEP 235)."""
    for member in tracestate.split(","):
        key, _, value = member.strip().partition("=")
        if key == "ot":
            for part in value.split(";"):
                if part.startswith("th:"):
                    return 1.0 / (1.0 - int(part[3:].ljust(14, "0"), 16) / 2**56)
    return 1.0


def _raw_figures(store: object, sim: SimWeek) -> dict[str, dict[str, float]]:
    """Budget figures counted span by span in Python from ``otel_traces``, independently of
    the rollups the report reads: each span weighs 1/p of its sampling probability."""
    out = {}
    week = sim.week
    for slo in sim.slos:
        start = week.end - timedelta(seconds=slo.window_s)
        rows = store.rows(  # type: ignore[attr-defined]
            "SELECT Timestamp, Duration, TraceState FROM otel_traces "
            "WHERE ServiceName = {s:String} AND SpanKind = 'Server' "
            "AND Timestamp >= {a:DateTime64(9)} AND Timestamp < {b:DateTime64(9)}",
            {"s": slo.service, "a": start, "b": week.end},
        )
        limit_ns = slo.good.max_duration_ms * 1e6  # type: ignore[union-attr]
        week_start = week.start.replace(tzinfo=None)
        spans = [(t, d > limit_ns, _weight(ts)) for t, d, ts in rows]
        total = sum(w for _, _, w in spans)
        bad = sum(w for _, slow, w in spans if slow)
        bad_week = sum(w for t, slow, w in spans if slow and t >= week_start)
        total_week = sum(w for t, _, w in spans if t >= week_start)
        allowed = (1 - slo.target) * total
        out[slo.name] = {
            "consumed_week": bad_week / allowed,
            "remaining": 1 - bad / allowed,
            "sli_week": 1 - bad_week / total_week,
        }
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    data_dir = tmp_path_factory.mktemp("report") / "data"
    store = open_store(f"chdb://{data_dir}")
    try:
        migrate(store, ttl_days=30)
        sim = build_week(store, datetime.now(UTC))
        (data_dir / "slos").mkdir()
        for slo in sim.slos:
            (data_dir / "slos" / f"{slo.name}.yaml").write_text(slo_yaml(slo))
        slos, errors = load_slo_dir(data_dir / "slos")
        assert not errors and {s.name for s in slos} == {s.name for s in sim.slos}
        rendered = render_report(store, slos, sim.week)
        raw = _raw_figures(store, sim)
    finally:
        store.close()
    yield Built(data_dir, sim, rendered, raw)


def _matches(row: IncidentRow, truth: dict[str, object], start: float, end: float) -> bool:
    services = set(truth["affected_services"]) | set(truth["upstream_services"])  # type: ignore[call-overload]
    good = [truth["culprit"], *truth["accepted"]]  # type: ignore[misc]
    entity = {"type": row.culprit_type, "id": row.culprit_id} if row.culprit_type else None
    return (
        row.service in services
        and start - 30 <= row.start.timestamp() <= end + 60
        and row.kind == truth["cause_kind"]
        and entity in good
    )


def test_every_fault_is_listed_with_its_cause_and_culprit(built: Built) -> None:
    report = built.rendered.report
    html = built.rendered.html
    for fault, truth in zip(built.sim.faults, built.sim.truths, strict=True):
        found = [r for r in report.incidents if _matches(r, truth, fault.start, fault.end)]
        assert found, f"{fault.kind} on {fault.target}: not in {report.incidents}"
        culprit = truth["culprit"]["id"]  # type: ignore[index]
        assert culprit in html, f"{culprit} missing from the HTML"
        groups = {g.kind: g.incidents for g in report.groups}
        assert found[0] in groups[str(truth["cause_kind"])]
    # The neighbor that came back three times is called out as the thing to fix.
    neighbor = built.sim.truths[1]["culprit"]["id"]  # type: ignore[index]
    recurring = [r for r in report.recurring if r.culprit_id == neighbor]
    assert recurring and recurring[0].count >= 3 and recurring[0].kind == "noisy_neighbor"
    assert "Recurring culprits" in html
    # The fault of the week before shows in the week-over-week counts.
    assert report.previous_kind_counts.get("network_congestion", 0) >= 1
    for inc in report.incidents:
        assert built.sim.week.start <= inc.start < built.sim.week.end


def test_budget_figures_equal_a_count_of_the_raw_spans(built: Built) -> None:
    for section in built.rendered.report.slos:
        raw = built.raw[section.slo.name]
        assert abs(section.consumed_week - raw["consumed_week"]) < 0.001, section.slo.name
        assert abs(section.remaining - raw["remaining"]) < 0.001, section.slo.name
        assert section.sli_week is not None
        assert abs(section.sli_week - raw["sli_week"]) < 0.001
        assert section.burn_down[-1].remaining == pytest.approx(section.remaining)
        assert section.burn_down[0].remaining == pytest.approx(1.0)
        assert sum(d.total for d in section.days) == pytest.approx(section.total_week)
        # Incidents of the service consumed budget, each its share, together no more than all.
        assert section.incidents, f"{section.slo.name}: no incident consumed budget"
        assert sum(i.share for i in section.incidents) <= section.consumed_week + 1e-9
    statuses = {s.status for s in built.rendered.report.slos}
    assert "breached" in statuses and statuses - {"breached"}, statuses


def test_pdf_has_title_summary_text_and_every_chart(built: Built) -> None:
    pdf = built.rendered.pdf
    assert pdf is not None
    reader = PdfReader(io.BytesIO(pdf))
    week = built.sim.week
    pages = [p.extract_text() for p in reader.pages]
    assert len(pages) >= 5
    assert f"Weekly SLO report {week}" in pages[0]
    assert pages[1].startswith("Summary") or "Summary" in pages[1].split("\n")[0]
    text = "\n".join(pages)
    for slo in built.sim.slos:
        assert slo.name in text
    for truth in built.sim.truths:
        assert str(truth["culprit"]["id"]).split("/")[0] in text  # type: ignore[index]
    assert "Fleet efficiency" in text and "GPUs underutilized longest" in text
    # WeasyPrint shares one resource dictionary between pages: count distinct images, and
    # find each chart among them by its pixel size and content.
    images = {hashlib.sha1(i.data).hexdigest(): i.image for p in reader.pages for i in p.images}
    assert len(images) == len(built.rendered.charts) == len(built.sim.slos) + 2
    in_pdf = sorted((im.size, im.convert("L").histogram()[:8]) for im in images.values() if im)
    charts = [Image.open(io.BytesIO(c.png)) for c in built.rendered.charts]
    assert in_pdf == sorted((c.size, c.convert("L").histogram()[:8]) for c in charts)


def test_cli_writes_the_report_from_the_store(
    built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "week.pdf"
    week = str(built.sim.week)
    assert (
        main(["report", "--data-dir", str(built.data_dir), "--week", week, "--out", str(out)]) == 0
    )
    assert out.read_bytes().startswith(b"%PDF")
    err = capsys.readouterr().err
    assert "SLO 4/4" in err and "PDF layout" in err  # progress on the terminal
    html = tmp_path / "week.html"
    assert main(["report", "--data-dir", str(built.data_dir), "--out", str(html)]) == 0
    assert f"Weekly SLO report {week}" in html.read_text()  # default: the last full week
    bad = main(
        ["report", "--data-dir", str(built.data_dir), "--week", "2026-W60", "--out", str(html)]
    )
    assert bad == 2
    assert "2026-W60" in capsys.readouterr().err


def test_cli_asks_a_running_up_and_up_serves_the_report(built: Built, tmp_path: Path) -> None:
    up = UpProcess(built.data_dir)
    try:
        up.wait_healthy(60)
        out = tmp_path / "via-up.html"
        week = str(built.sim.week)
        code = main(
            ["report", "--data-dir", str(built.data_dir), "--week", week, "--out", str(out)]
        )
        assert code == 0, up.output()
        assert "Recurring culprits" in out.read_text()
        with urllib.request.urlopen(up.api + "/api/v1/reports", timeout=10) as resp:
            listed = json.loads(resp.read())
        assert listed[0]["week"] == week and listed[0]["generated_at"]
        assert listed[0]["pdf_url"].endswith(f"/reports/{week}.pdf")
        with urllib.request.urlopen(up.api + f"/reports/{week}.pdf", timeout=10) as resp:
            assert resp.headers["Content-Type"] == "application/pdf"
            assert resp.read().startswith(b"%PDF")
    finally:
        up.stop()
