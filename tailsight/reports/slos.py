"""The SLOs a report covers, read from the OpenSLO documents of ``slo_dir`` (CONTRACT §6).

Only what the report needs is read: name, display name, service, target, rolling or
calendar window length, and the ``spans:`` selector of the good side. A document that
is not a §6 SLO is an error naming the file, document and field.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from tailsight.reports.model import ReportSlo
from tailsight.timeutil import parse_duration

_CALENDAR = {"week": 7, "month": 30, "quarter": 91, "year": 365}


class SloFileError(ValueError):
    """An SLO document the report cannot read; the message names file, document and field."""


def load_report_slos(directory: Path) -> list[ReportSlo]:
    """Every SLO in the ``*.yaml``/``*.yml`` files of ``directory`` (none if it is missing)."""
    if not directory.is_dir():
        return []
    out: list[ReportSlo] = []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError) as exc:
            raise SloFileError(f"{path}: {exc}") from None
        for i, doc in enumerate(docs, 1):
            if doc is None:
                continue
            try:
                out.append(report_slo(doc))
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise SloFileError(f"{path}: document {i}: {exc}") from None
    return sorted(out, key=lambda s: (s.service, s.name))


def _field(doc: Any, *path: str | int) -> Any:
    node = doc
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            raise KeyError(f"field {'.'.join(str(p) for p in path)} is missing") from None
    return node


def _window(entry: dict[str, Any]) -> timedelta:
    duration = str(_field(entry, "duration"))
    if duration[-1:] in ("M", "Q", "Y"):  # calendar windows: 1M, 1Q, 1Y
        days = {"M": 30, "Q": 91, "Y": 365}[duration[-1]] * int(duration[:-1] or 1)
        return timedelta(days=days)
    if duration[-1:] == "w":
        return timedelta(days=7 * int(duration[:-1]))
    return parse_duration(duration)


def report_slo(doc: dict[str, Any]) -> ReportSlo:
    """One OpenSLO v1 ``kind: SLO`` document as a :class:`ReportSlo`."""
    if doc.get("apiVersion") != "openslo/v1" or doc.get("kind") != "SLO":
        raise ValueError("apiVersion must be openslo/v1 and kind SLO")
    spec = _field(doc, "spec")
    objective = _field(spec, "objectives", 0)
    target = float(_field(objective, "target"))
    if not 0 < target < 1:
        raise ValueError(f"spec.objectives[0].target {target} is not between 0 and 1")
    ratio = _field(spec, "indicator", "spec", "ratioMetric")
    good = _field(ratio, "good", "metricSource", "spec")
    spans = good.get("spans") or {}
    return ReportSlo(
        name=str(_field(doc, "metadata", "name")),
        display_name=str(doc["metadata"].get("displayName") or ""),
        service=str(_field(spec, "service")),
        target=target,
        window=_window(_field(spec, "timeWindow", 0)),
        objective=str(objective.get("displayName") or ""),
        operation=spans.get("operation"),
        max_duration_ms=float(spans["max_duration_ms"]) if "max_duration_ms" in spans else None,
        ok_only=bool(spans.get("ok", False)),
    )
