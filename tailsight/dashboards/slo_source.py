"""Where the SLO pages get their numbers: a source the integrator wires in, shaped like CONTRACT §6.

The dashboards do not evaluate SLOs themselves (``alerts`` does); they read, per SLO,
the object ``GET /api/v1/slos`` returns (``name``, ``service``, ``target``, ``window``,
``sli``, ``error_budget_remaining``, ``burn_rates``, ``alerts_firing``) and, for one
SLO's page, its SLI and remaining budget over time. Without a source the SLO pages
say so and the fleet page leaves its SLO column empty.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from tailsight.alerts.burnrate import error_budget_remaining, sli
from tailsight.alerts.evaluate import sli_series, slo_list
from tailsight.alerts.slo import SloCatalog
from tailsight.storage.slo_queries import ROLLUP_S
from tailsight.storage.store import Store


class SloSource(Protocol):
    """SLO status and history, as the dashboards read them."""

    def statuses(self, now: datetime) -> list[dict[str, Any]]:
        """Every SLO's status now, each a CONTRACT §6 ``/api/v1/slos`` object."""
        ...

    def history(self, name: str, start: datetime, end: datetime, step_s: int) -> pd.DataFrame:
        """One SLO over ``[start, end)``: columns ``t``, ``sli``, ``error_budget_remaining``."""
        ...


def slo_statuses(source: SloSource | None, now: datetime) -> list[dict[str, Any]]:
    """The statuses of ``source``, or none when no source is wired."""
    return [] if source is None else list(source.statuses(now))


class CatalogSloSource:
    """The SLOs of a :class:`~tailsight.alerts.slo.SloCatalog`, evaluated from the store's rollups.

    ``history`` slides the SLO window along the range: the counts in the window at ``t`` are
    those at the range's start, plus what arrived since, minus what left the window since,
    so a day's burn-down reads three series over the range rather than a window per point.
    """

    def __init__(self, store: Store, catalog: SloCatalog) -> None:
        self.store = store
        self.catalog = catalog

    def statuses(self, now: datetime) -> list[dict[str, Any]]:
        self.catalog.reload_if_changed()
        return slo_list(self.store, self.catalog.slos, now)

    def history(self, name: str, start: datetime, end: datetime, step_s: int) -> pd.DataFrame:
        slo = self.catalog.get(name)
        columns = ["t", "sli", "error_budget_remaining"]
        if slo is None or end <= start:
            return pd.DataFrame(columns=columns)
        step = max(ROLLUP_S, step_s // ROLLUP_S * ROLLUP_S)
        start = datetime.fromtimestamp(int(start.timestamp()) // step * step, UTC)
        window = timedelta(seconds=slo.window_s)
        base = sli_series(self.store, slo, start - window, start, slo.window_s)
        good0 = sum(g for _, g, _ in base)
        total0 = sum(t for _, _, t in base)
        entering = sli_series(self.store, slo, start, end, step)
        leaving = sli_series(self.store, slo, start - window, end - window, step)
        good = good0 + np.cumsum([g for _, g, _ in entering]) - np.cumsum([g for _, g, _ in leaving])
        total = total0 + np.cumsum([t for _, _, t in entering]) - np.cumsum([t for _, _, t in leaving])
        rows = []
        for (t, _, _), g, n in zip(entering, good, total, strict=False):
            ratio = sli(float(g), float(n))
            left = error_budget_remaining(float(g), float(n), slo.target)
            rows.append((t + timedelta(seconds=step), ratio, left))
        return pd.DataFrame(rows, columns=columns)
