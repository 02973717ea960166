"""The SLO pages' source: the sliding-window history agrees with an evaluation at each point."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tailsight.alerts.evaluate import evaluate_slos
from tailsight.alerts.slo import SloCatalog
from tailsight.dashboards.slo_source import CatalogSloSource
from tailsight.storage import Store
from tests.alerts.live import write_slos
from tests.alerts.simspans import store_sim_spans
from tests.alerts.test_slo_rollup import DURATION, START, scenario


def test_history_slides_the_window_like_an_evaluation_at_each_point(
    store: Store, tmp_path: Path
) -> None:
    assert store_sim_spans(store, scenario()) > 10_000
    write_slos(tmp_path / "slos", ["llm-gateway"], max_ms=300.0)
    catalog = SloCatalog(tmp_path / "slos")
    (slo,) = catalog.slos
    # A one-hour window, so the range's start has both data in it and data leaving it.
    short = replace(slo, window_s=3600, window_text="1h")
    catalog.slos = [short]
    source = CatalogSloSource(store, catalog)
    start = datetime.fromtimestamp(START + 1200, UTC)
    end = datetime.fromtimestamp(START + DURATION + 1800, UTC)
    history = source.history(short.name, start, end, 300)
    assert len(history) == (end - start) // timedelta(seconds=300)
    for _, row in history.iloc[::3].iterrows():
        at = row["t"].to_pydatetime()
        # An evaluation just before t covers the window ending at t, as the point does.
        (status,) = evaluate_slos(store, [short], at - timedelta(milliseconds=1))
        if status.sli is None:
            assert row["sli"] is None or row["sli"] != row["sli"]
            continue
        assert row["sli"] == pytest.approx(status.sli, abs=1e-9)
        assert row["error_budget_remaining"] == pytest.approx(status.error_budget_remaining, abs=1e-6)
    statuses = source.statuses(end)
    assert [s["name"] for s in statuses] == [short.name]
