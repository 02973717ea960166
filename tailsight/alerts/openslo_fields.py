"""Checking YAML values field by field, and the SLI part of OpenSLO: indicators and their sources.

Every check raises :class:`Invalid` naming the field path (``spec.timeWindow[0].duration``)
and what is wrong with the value; :mod:`tailsight.alerts.openslo` adds file and document.
"""

from __future__ import annotations

import math
import re
from typing import Any

from tailsight.alerts.slo import MetricSelector, Selector, SpanSelector

_DURATION = re.compile(r"^(\d+)([smhdwMQY])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# A calendar period's nominal length, for the budget's scale only.
_CALENDAR_S = {"d": 86400, "w": 604800, "M": 30 * 86400, "Q": 91 * 86400, "Y": 365 * 86400}
_SPAN_KEYS = {"service", "operation", "max_duration_ms", "ok"}
_METRIC_KEYS = {"name", "attributes", "max_value"}


class Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def as_map(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(field, f"must be a mapping, not {shown(value)}")
    return value


def as_list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise Invalid(field, f"must be a list, not {shown(value)}")
    return value


def as_str(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(field, f"must be a non-empty string, not {shown(value)}")
    return value.strip()


def as_number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid(field, f"must be a number, not {shown(value)}")
    return float(value)


def shown(value: Any) -> str:
    if value is None:
        return "missing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def required(obj: dict[str, Any], key: str, path: str) -> Any:
    if key not in obj or obj[key] is None:
        raise Invalid(f"{path}.{key}" if path else key, "is required")
    return obj[key]


def unknown_keys(obj: dict[str, Any], allowed: set[str], path: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise Invalid(
            f"{path}.{extra[0]}", f"unknown field (allowed: {', '.join(sorted(allowed))})"
        )


def parse_duration(text: Any, field: str, *, calendar: bool = False) -> tuple[int, str]:
    """``5m`` → (300, ``m``); calendar units ``M``, ``Q``, ``Y`` only where ``calendar``."""
    if not isinstance(text, str) or not _DURATION.match(text.strip()):
        raise Invalid(field, f"must be a duration such as 5m, 1h or 28d, not {shown(text)}")
    match = _DURATION.match(text.strip())
    assert match is not None
    count, unit = int(match.group(1)), match.group(2)
    if count <= 0:
        raise Invalid(field, f"must be longer than zero, not {text!r}")
    if calendar:
        if unit not in _CALENDAR_S or count != 1:
            raise Invalid(field, f"a calendar window is 1d, 1w, 1M, 1Q or 1Y, not {text!r}")
        return _CALENDAR_S[unit], unit
    if unit not in _SECONDS:
        raise Invalid(field, f"{text!r}: months, quarters and years need a calendar window")
    return count * _SECONDS[unit], unit


def _selector(value: Any, path: str, service: str) -> Selector:
    side = as_map(value, path)
    if "metricSourceRef" in side:
        raise Invalid(f"{path}.metricSourceRef", "is not supported: give metricSource inline")
    source = as_map(required(side, "metricSource", path), f"{path}.metricSource")
    path = f"{path}.metricSource"
    kind = source.get("type")
    if kind != "tailsight":
        raise Invalid(f"{path}.type", f"must be tailsight, not {shown(kind)}")
    spec = as_map(required(source, "spec", path), f"{path}.spec")
    path = f"{path}.spec"
    if ("spans" in spec) == ("metric" in spec):
        raise Invalid(path, "must hold exactly one of spans or metric")
    if "spans" in spec:
        return _spans(as_map(spec["spans"] or {}, f"{path}.spans"), f"{path}.spans", service)
    return _metric(as_map(spec["metric"], f"{path}.metric"), f"{path}.metric")


def _spans(spans: dict[str, Any], path: str, service: str) -> SpanSelector:
    unknown_keys(spans, _SPAN_KEYS, path)
    svc = as_str(spans["service"], f"{path}.service") if "service" in spans else service
    op = as_str(spans["operation"], f"{path}.operation") if "operation" in spans else None
    threshold = None
    if spans.get("max_duration_ms") is not None:
        threshold = as_number(spans["max_duration_ms"], f"{path}.max_duration_ms")
        if threshold <= 0:
            raise Invalid(f"{path}.max_duration_ms", "must be above 0")
    ok = spans.get("ok", False)
    if not isinstance(ok, bool):
        raise Invalid(f"{path}.ok", f"must be true or false, not {shown(ok)}")
    return SpanSelector(svc, op, threshold, ok)


def _metric(metric: dict[str, Any], path: str) -> MetricSelector:
    unknown_keys(metric, _METRIC_KEYS, path)
    name = as_str(required(metric, "name", path), f"{path}.name")
    attrs = as_map(metric.get("attributes") or {}, f"{path}.attributes")
    for key, val in attrs.items():
        if not isinstance(val, str | int | float | bool):
            raise Invalid(f"{path}.attributes.{key}", f"must be a scalar, not {shown(val)}")
    pairs = tuple(sorted((str(k), _scalar_text(v)) for k, v in attrs.items()))
    max_value = None
    if metric.get("max_value") is not None:
        max_value = as_number(metric["max_value"], f"{path}.max_value")
    return MetricSelector(name, pairs, max_value)


def _scalar_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def parse_indicator(
    indicator: dict[str, Any], path: str, service: str
) -> tuple[Selector, Selector]:
    """(good, total) of an SLI body (``{metadata, spec: {ratioMetric}}``)."""
    spec = as_map(required(indicator, "spec", path), f"{path}.spec")
    if "thresholdMetric" in spec:
        raise Invalid(f"{path}.spec.thresholdMetric", "is not supported: use ratioMetric")
    ratio = as_map(required(spec, "ratioMetric", f"{path}.spec"), f"{path}.spec.ratioMetric")
    rpath = f"{path}.spec.ratioMetric"
    if ratio.get("counter") is not True:
        raise Invalid(f"{rpath}.counter", "must be true (good and total are event counts)")
    if "bad" in ratio or "rawType" in ratio or "raw" in ratio:
        raise Invalid(rpath, "only good and total are supported (not bad or raw)")
    good = _selector(required(ratio, "good", rpath), f"{rpath}.good", service)
    total = _selector(required(ratio, "total", rpath), f"{rpath}.total", service)
    return good, total
