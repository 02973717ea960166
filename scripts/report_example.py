"""Writes the example weekly report shown in the README: `make report-example` → docs/report-example/.

The week is the acceptance test's sparse simulated week (tests/reports/weekdata.py: seven
faults on seven days, a neighbor process back three times, one SLO per service), built in
a temporary embedded store; the PDF's pages are turned into PNGs with poppler's pdftoppm.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tailsight.reports.archive import render_report  # noqa: E402
from tailsight.storage import open_store  # noqa: E402
from tailsight.storage.migrations import migrate  # noqa: E402
from tests.reports.weekdata import build_week  # noqa: E402


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"chdb://{tmp}/store")
        try:
            migrate(store, ttl_days=30)
            print("simulating the week and analysing it (about a minute)", file=sys.stderr)
            sim = build_week(store, datetime.now(UTC))
            rendered = render_report(
                store, sim.slos, sim.week, progress=lambda m: print(m, file=sys.stderr)
            )
        finally:
            store.close()
    assert rendered.pdf is not None
    for old in out.glob("page-*.png"):
        old.unlink()
    (out / "report.html").write_text(rendered.html)
    (out / "report.pdf").write_bytes(rendered.pdf)
    subprocess.run(
        ["pdftoppm", "-r", "70", "-png", str(out / "report.pdf"), str(out / "page")], check=True
    )
    pages = sorted(out.glob("page-*.png"))
    print(f"wrote {out}/report.pdf, report.html and {len(pages)} page PNGs", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/report-example"))
