"""SLOs: what an objective is, what its evaluation says, and the catalogue read from ``slo_dir``.

An :class:`Slo` is one OpenSLO v1 ``SLO`` document after validation (CONTRACT §6); the
parsing lives in :mod:`tailsight.alerts.openslo`. Good and total events come from a
:class:`SpanSelector` (server spans, CONTRACT §2) or a :class:`MetricSelector` (a stored
histogram). An :class:`SloStatus` is one evaluation: SLI and error budget over the SLO
window, and the burn rate over each alerting window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tailsight.model import iso

log = logging.getLogger(__name__)

# The windows every evaluation reports (CONTRACT §6), in seconds.
STANDARD_WINDOWS: dict[str, int] = {
    "5m": 300,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "6h": 21600,
    "1d": 86400,
    "3d": 259200,
}

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def format_duration(seconds: int) -> str:
    """``300`` → ``5m``, ``86400`` → ``1d``: the largest unit that divides the span evenly."""
    for unit, size in _UNITS:
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class BurnRateRule:
    """Alert when the budget burns ``factor`` times too fast over both windows (SRE workbook)."""

    severity: str  # "page" | "ticket"
    factor: float
    long_s: int
    short_s: int

    @property
    def name(self) -> str:
        """``1h/5m``: the long window, then the short one."""
        return f"{format_duration(self.long_s)}/{format_duration(self.short_s)}"


DEFAULT_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule("page", 14.4, 3600, 300),
    BurnRateRule("page", 6.0, 21600, 1800),
    BurnRateRule("ticket", 3.0, 86400, 7200),
    BurnRateRule("ticket", 1.0, 259200, 21600),
)

# Requests needed in each window of a rule before it may fire: a few failures of a few
# requests must not page. Overridden per SLO by ``tailsight.io/min-requests``.
DEFAULT_MIN_REQUESTS = 20


@dataclass(frozen=True)
class SpanSelector:
    """Server spans of ``service`` (and ``operation``, the span name); optionally fast or ok only."""

    service: str
    operation: str | None = None
    max_duration_ms: float | None = None
    ok: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"service": self.service}
        if self.operation is not None:
            out["operation"] = self.operation
        if self.max_duration_ms is not None:
            out["max_duration_ms"] = self.max_duration_ms
        if self.ok:
            out["ok"] = True
        return {"spans": out}


@dataclass(frozen=True)
class MetricSelector:
    """A stored histogram by name and attributes; ``max_value`` keeps buckets at or under it."""

    name: str
    attributes: tuple[tuple[str, str], ...] = ()
    max_value: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.attributes:
            out["attributes"] = dict(self.attributes)
        if self.max_value is not None:
            out["max_value"] = self.max_value
        return {"metric": out}


Selector = SpanSelector | MetricSelector


@dataclass(frozen=True)
class Slo:
    """One validated OpenSLO ``SLO``.

    ``window_s`` is the rolling window, or for a calendar window (``rolling`` false) the
    nominal length of one period (``1M`` is 30 days); evaluation then uses the calendar
    period that holds the evaluation time (``evaluate.period_start``).
    ``calendar`` holds that period's unit (``d``, ``w``, ``M``, ``Q``, ``Y``) and
    ``time_zone`` its zone; ``window_text`` is the duration as written.
    """

    name: str
    display_name: str
    service: str
    description: str
    target: float
    window_s: int
    rolling: bool
    good: Selector
    total: Selector
    rules: tuple[BurnRateRule, ...] = DEFAULT_RULES
    min_requests: int = DEFAULT_MIN_REQUESTS
    file: str = ""
    window_text: str = ""
    calendar: str = ""
    time_zone: str = "UTC"

    @property
    def window(self) -> str:
        """The window as CONTRACT §6 prints it: ``28d``, or ``1M`` for a calendar month."""
        return self.window_text or format_duration(self.window_s)

    @property
    def windows(self) -> dict[str, int]:
        """The standard windows plus any a custom rule uses, shortest first."""
        found = dict(STANDARD_WINDOWS)
        for rule in self.rules:
            found.setdefault(format_duration(rule.long_s), rule.long_s)
            found.setdefault(format_duration(rule.short_s), rule.short_s)
        return dict(sorted(found.items(), key=lambda kv: kv[1]))


@dataclass(frozen=True)
class SloStatus:
    """One evaluation of an SLO at ``at``.

    ``sli`` and ``error_budget_remaining`` cover the SLO window (None without traffic);
    ``error_budget_remaining`` is the fraction of the window's budget left (below 0 once
    overspent). ``burn_rates``, ``requests`` and ``good`` are keyed by window (``5m`` …
    ``3d`` and any window a custom rule adds); a burn rate is None without traffic.
    """

    slo: Slo
    at: datetime
    sli: float | None
    error_budget_remaining: float | None
    burn_rates: dict[str, float | None]
    requests: dict[str, float]
    good: dict[str, float]
    window_requests: float = 0.0
    window_good: float = 0.0
    window_start: datetime | None = None

    def to_json(self, alerts_firing: int = 0) -> dict[str, Any]:
        """CONTRACT §6's fields, plus display name, window start and counts per window."""
        return {
            "name": self.slo.name,
            "display_name": self.slo.display_name,
            "service": self.slo.service,
            "target": self.slo.target,
            "window": self.slo.window,
            "rolling": self.slo.rolling,
            "window_start": iso(self.window_start) if self.window_start else None,
            "at": iso(self.at),
            "sli": self.sli,
            "error_budget_remaining": self.error_budget_remaining,
            "burn_rates": dict(self.burn_rates),
            "alerts_firing": int(alerts_firing),
            "requests": {"window": self.window_requests, **self.requests},
            "good": {"window": self.window_good, **self.good},
        }


@dataclass(frozen=True)
class SloError:
    """What is wrong with one document of one file, and where."""

    file: str
    document: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: document {self.document}: {self.field}: {self.message}"


def load_slo_file(path: str | Path) -> tuple[list[Slo], list[SloError]]:
    """The SLOs of one YAML file and the errors of its bad documents (which are skipped)."""
    from tailsight.alerts.openslo import load_files

    return load_files([Path(path)])


def check_slo_files(paths: list[Path]) -> tuple[list[Slo], list[SloError]]:
    """The SLOs and errors of ``paths``, references resolved against their directories too."""
    from tailsight.alerts.openslo import load_files

    given = {p.resolve() for p in paths}
    siblings = {s for p in paths for s in slo_files(p.parent) if s.resolve() not in given}
    return load_files(paths, sorted(siblings))


def load_slo_dir(directory: str | Path) -> tuple[list[Slo], list[SloError]]:
    """Every SLO of the ``*.yaml``/``*.yml`` files of ``directory``; bad ones reported, not fatal.

    An ``indicatorRef`` may name a ``kind: SLI`` document of any file of the directory; two
    SLOs with one name are both an error, the first one loaded is kept.
    """
    from tailsight.alerts.openslo import load_files

    return load_files(slo_files(Path(directory)))


def slo_files(directory: Path) -> list[Path]:
    """The YAML files of ``directory`` (not recursive), sorted; none when it does not exist."""
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml")
    )


class SloCatalog:
    """The SLOs of a directory, reloaded when its files change (names, sizes or mtimes)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.slos: list[Slo] = []
        self.errors: list[SloError] = []
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self.reload_if_changed()

    def _current_signature(self) -> tuple[tuple[str, int, int], ...]:
        sig = []
        for p in slo_files(self.directory):
            try:
                st = p.stat()
            except OSError:
                continue
            sig.append((p.name, st.st_size, st.st_mtime_ns))
        return tuple(sig)

    def reload_if_changed(self) -> bool:
        """Reload when a file was added, removed or changed; True when it did."""
        signature = self._current_signature()
        if signature == self._signature:
            return False
        self._signature = signature
        self.slos, self.errors = load_slo_dir(self.directory)
        for error in self.errors:
            log.warning("SLO definition skipped: %s", error)
        return True

    def get(self, name: str) -> Slo | None:
        return next((s for s in self.slos if s.name == name), None)
