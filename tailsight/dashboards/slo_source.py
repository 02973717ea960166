"""Where the SLO pages get their numbers: a source the integrator wires in, shaped like CONTRACT §6.

The dashboards do not evaluate SLOs themselves (``alerts`` does); they read, per SLO,
the object ``GET /api/v1/slos`` returns (``name``, ``service``, ``target``, ``window``,
``sli``, ``error_budget_remaining``, ``burn_rates``, ``alerts_firing``) and, for one
SLO's page, its SLI and remaining budget over time. Without a source the SLO pages
say so and the fleet page leaves its SLO column empty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import pandas as pd


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
