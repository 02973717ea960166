"""Reading OpenSLO v1 YAML into :class:`~tailsight.alerts.slo.Slo` values, with errors that say where.

What is honoured (README "SLOs"): ``kind: SLO`` with ``budgetingMethod: Occurrences``;
``timeWindow`` rolling (``5m`` … ``4w``) or calendar (``isRolling: false``, one ``d``,
``w``, ``M``, ``Q`` or ``Y`` in ``calendar.timeZone``, default UTC); one objective with
``target`` (0..1) or ``targetPercent``; an inline ``indicator`` or an ``indicatorRef`` to
a ``kind: SLI`` document of the same directory, ``ratioMetric`` with ``counter: true`` and
``good``/``total`` from ``metricSource: {type: tailsight, spec: {spans|metric: …}}``;
``alertPolicies`` inline or by ``alertPolicyRef``, their conditions inline or by
``conditionRef``, each ``{kind: burnrate, op: gte, threshold, lookbackWindow, alertAfter}``
with ``spec.severity`` ``page`` or ``ticket``; and the annotation
``tailsight.io/min-requests``. Anything else that would change the meaning is an error
rather than silently ignored. Documents are numbered from 1 in each file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tailsight.alerts.slo import (
    DEFAULT_MIN_REQUESTS,
    DEFAULT_RULES,
    BurnRateRule,
    MetricSelector,
    Selector,
    Slo,
    SloError,
    SpanSelector,
)

API_VERSION = "openslo/v1"
MIN_REQUESTS_ANNOTATION = "tailsight.io/min-requests"
# Kinds we read, and kinds of OpenSLO that we accept and do not use.
_IGNORED_KINDS = ("Service", "DataSource", "AlertNotificationTarget")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
_DURATION = re.compile(r"^(\d+)([smhdwMQY])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# A calendar period's nominal length, for the budget's scale only.
_CALENDAR_S = {"d": 86400, "w": 604800, "M": 30 * 86400, "Q": 91 * 86400, "Y": 365 * 86400}
_SPAN_KEYS = {"service", "operation", "max_duration_ms", "ok"}
_METRIC_KEYS = {"name", "attributes", "max_value"}


class _Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class _Doc:
    file: str
    index: int  # from 1
    body: Any

    def error(self, field: str, message: str) -> SloError:
        return SloError(self.file, self.index, field, message)


def _map(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(field, f"must be a mapping, not {_shown(value)}")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Invalid(field, f"must be a list, not {_shown(value)}")
    return value


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(field, f"must be a non-empty string, not {_shown(value)}")
    return value.strip()


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Invalid(field, f"must be a number, not {_shown(value)}")
    return float(value)


def _shown(value: Any) -> str:
    if value is None:
        return "missing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _required(obj: dict[str, Any], key: str, path: str) -> Any:
    if key not in obj or obj[key] is None:
        raise _Invalid(f"{path}.{key}" if path else key, "is required")
    return obj[key]


def _unknown_keys(obj: dict[str, Any], allowed: set[str], path: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise _Invalid(
            f"{path}.{extra[0]}", f"unknown field (allowed: {', '.join(sorted(allowed))})"
        )


def parse_duration(text: Any, field: str, *, calendar: bool = False) -> tuple[int, str]:
    """``5m`` → (300, ``m``); calendar units ``M``, ``Q``, ``Y`` only where ``calendar``."""
    if not isinstance(text, str) or not _DURATION.match(text.strip()):
        raise _Invalid(field, f"must be a duration such as 5m, 1h or 28d, not {_shown(text)}")
    match = _DURATION.match(text.strip())
    assert match is not None
    count, unit = int(match.group(1)), match.group(2)
    if count <= 0:
        raise _Invalid(field, f"must be longer than zero, not {text!r}")
    if calendar:
        if unit not in _CALENDAR_S or count != 1:
            raise _Invalid(field, f"a calendar window is 1d, 1w, 1M, 1Q or 1Y, not {text!r}")
        return _CALENDAR_S[unit], unit
    if unit not in _SECONDS:
        raise _Invalid(field, f"{text!r}: months, quarters and years need a calendar window")
    return count * _SECONDS[unit], unit


def _time_window(spec: dict[str, Any]) -> tuple[int, bool, str, str, str]:
    """(seconds, rolling, text, calendar unit, time zone) of ``spec.timeWindow``."""
    windows = _list(_required(spec, "timeWindow", "spec"), "spec.timeWindow")
    if len(windows) != 1:
        raise _Invalid("spec.timeWindow", f"must hold exactly one window, not {len(windows)}")
    path = "spec.timeWindow[0]"
    window = _map(windows[0], path)
    text = _str(_required(window, "duration", path), f"{path}.duration")
    rolling = window.get("isRolling", True)
    if not isinstance(rolling, bool):
        raise _Invalid(f"{path}.isRolling", f"must be true or false, not {_shown(rolling)}")
    if rolling:
        if "calendar" in window:
            raise _Invalid(f"{path}.calendar", "a rolling window has no calendar")
        seconds, _ = parse_duration(text, f"{path}.duration")
        return seconds, True, text, "", "UTC"
    seconds, unit = parse_duration(text, f"{path}.duration", calendar=True)
    calendar = _map(window.get("calendar") or {}, f"{path}.calendar")
    zone = calendar.get("timeZone", "UTC")
    zone = _str(zone, f"{path}.calendar.timeZone")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(zone)
    except (ValueError, KeyError, OSError):
        raise _Invalid(f"{path}.calendar.timeZone", f"unknown time zone {zone!r}") from None
    return seconds, False, text, unit, zone


def _target(spec: dict[str, Any]) -> float:
    objectives = _list(_required(spec, "objectives", "spec"), "spec.objectives")
    if len(objectives) != 1:
        raise _Invalid("spec.objectives", f"must hold exactly one objective, not {len(objectives)}")
    objective = _map(objectives[0], "spec.objectives[0]")
    if "target" in objective:
        target = _number(objective["target"], "spec.objectives[0].target")
        field = "spec.objectives[0].target"
    elif "targetPercent" in objective:
        target = _number(objective["targetPercent"], "spec.objectives[0].targetPercent") / 100
        field = "spec.objectives[0].targetPercent"
    else:
        raise _Invalid("spec.objectives[0].target", "is required (or targetPercent)")
    if not 0 < target < 1:
        raise _Invalid(field, "must lie strictly between 0 and 1 (0 and 100 for targetPercent)")
    return target


def _selector(value: Any, path: str, service: str) -> Selector:
    side = _map(value, path)
    if "metricSourceRef" in side:
        raise _Invalid(f"{path}.metricSourceRef", "is not supported: give metricSource inline")
    source = _map(_required(side, "metricSource", path), f"{path}.metricSource")
    path = f"{path}.metricSource"
    kind = source.get("type")
    if kind != "tailsight":
        raise _Invalid(f"{path}.type", f"must be tailsight, not {_shown(kind)}")
    spec = _map(_required(source, "spec", path), f"{path}.spec")
    path = f"{path}.spec"
    if ("spans" in spec) == ("metric" in spec):
        raise _Invalid(path, "must hold exactly one of spans or metric")
    if "spans" in spec:
        return _spans(_map(spec["spans"] or {}, f"{path}.spans"), f"{path}.spans", service)
    return _metric(_map(spec["metric"], f"{path}.metric"), f"{path}.metric")


def _spans(spans: dict[str, Any], path: str, service: str) -> SpanSelector:
    _unknown_keys(spans, _SPAN_KEYS, path)
    svc = _str(spans["service"], f"{path}.service") if "service" in spans else service
    op = _str(spans["operation"], f"{path}.operation") if "operation" in spans else None
    threshold = None
    if spans.get("max_duration_ms") is not None:
        threshold = _number(spans["max_duration_ms"], f"{path}.max_duration_ms")
        if threshold <= 0:
            raise _Invalid(f"{path}.max_duration_ms", "must be above 0")
    ok = spans.get("ok", False)
    if not isinstance(ok, bool):
        raise _Invalid(f"{path}.ok", f"must be true or false, not {_shown(ok)}")
    return SpanSelector(svc, op, threshold, ok)


def _metric(metric: dict[str, Any], path: str) -> MetricSelector:
    _unknown_keys(metric, _METRIC_KEYS, path)
    name = _str(_required(metric, "name", path), f"{path}.name")
    attrs = _map(metric.get("attributes") or {}, f"{path}.attributes")
    for key, val in attrs.items():
        if not isinstance(val, str | int | float | bool):
            raise _Invalid(f"{path}.attributes.{key}", f"must be a scalar, not {_shown(val)}")
    pairs = tuple(sorted((str(k), _scalar_text(v)) for k, v in attrs.items()))
    max_value = None
    if metric.get("max_value") is not None:
        max_value = _number(metric["max_value"], f"{path}.max_value")
    return MetricSelector(name, pairs, max_value)


def _scalar_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def parse_indicator(
    indicator: dict[str, Any], path: str, service: str
) -> tuple[Selector, Selector]:
    """(good, total) of an SLI body (``{metadata, spec: {ratioMetric}}``)."""
    spec = _map(_required(indicator, "spec", path), f"{path}.spec")
    if "thresholdMetric" in spec:
        raise _Invalid(f"{path}.spec.thresholdMetric", "is not supported: use ratioMetric")
    ratio = _map(_required(spec, "ratioMetric", f"{path}.spec"), f"{path}.spec.ratioMetric")
    rpath = f"{path}.spec.ratioMetric"
    if ratio.get("counter") is not True:
        raise _Invalid(f"{rpath}.counter", "must be true (good and total are event counts)")
    if "bad" in ratio or "rawType" in ratio or "raw" in ratio:
        raise _Invalid(rpath, "only good and total are supported (not bad or raw)")
    good = _selector(_required(ratio, "good", rpath), f"{rpath}.good", service)
    total = _selector(_required(ratio, "total", rpath), f"{rpath}.total", service)
    return good, total


def _condition(body: dict[str, Any], path: str) -> BurnRateRule:
    spec = _map(_required(body, "spec", path), f"{path}.spec")
    severity = spec.get("severity")
    if severity not in ("page", "ticket"):
        raise _Invalid(f"{path}.spec.severity", f"must be page or ticket, not {_shown(severity)}")
    cpath = f"{path}.spec.condition"
    cond = _map(_required(spec, "condition", f"{path}.spec"), cpath)
    if cond.get("kind") != "burnrate":
        raise _Invalid(f"{cpath}.kind", f"must be burnrate, not {_shown(cond.get('kind'))}")
    if cond.get("op", "gte") != "gte":
        raise _Invalid(f"{cpath}.op", f"must be gte, not {_shown(cond.get('op'))}")
    factor = _number(_required(cond, "threshold", cpath), f"{cpath}.threshold")
    if factor <= 0:
        raise _Invalid(f"{cpath}.threshold", "must be above 0")
    long_s, _ = parse_duration(_required(cond, "lookbackWindow", cpath), f"{cpath}.lookbackWindow")
    short_s, _ = parse_duration(_required(cond, "alertAfter", cpath), f"{cpath}.alertAfter")
    if short_s >= long_s:
        raise _Invalid(f"{cpath}.alertAfter", "must be shorter than lookbackWindow")
    return BurnRateRule(str(severity), factor, long_s, short_s)


class _Refs:
    """Documents that others may refer to by name: SLIs, alert policies and conditions."""

    def __init__(self, docs: list[_Doc]) -> None:
        self.by_kind: dict[str, dict[str, _Doc]] = {}
        for doc in docs:
            kind = doc.body.get("kind")
            meta = doc.body.get("metadata")
            name = meta.get("name") if isinstance(meta, dict) else None
            if kind in ("SLI", "AlertPolicy", "AlertCondition") and isinstance(name, str):
                self.by_kind.setdefault(kind, {}).setdefault(name, doc)

    def get(self, kind: str, name: Any, field: str) -> _Doc:
        doc = self.by_kind.get(kind, {}).get(name) if isinstance(name, str) else None
        if doc is None:
            raise _Invalid(field, f"no {kind} named {_shown(name)} in the SLO directory")
        return doc


def _rules(spec: dict[str, Any], refs: _Refs) -> tuple[BurnRateRule, ...]:
    if "alertPolicies" not in spec:
        return DEFAULT_RULES
    rules: list[BurnRateRule] = []
    for i, item in enumerate(_list(spec["alertPolicies"] or [], "spec.alertPolicies")):
        path = f"spec.alertPolicies[{i}]"
        policy = _map(item, path)
        if "alertPolicyRef" in policy:
            policy = refs.get(
                "AlertPolicy", policy["alertPolicyRef"], f"{path}.alertPolicyRef"
            ).body
        elif policy.get("kind") != "AlertPolicy":
            raise _Invalid(f"{path}.kind", f"must be AlertPolicy, not {_shown(policy.get('kind'))}")
        pspec = _map(_required(policy, "spec", path), f"{path}.spec")
        conditions = _list(
            _required(pspec, "conditions", f"{path}.spec"), f"{path}.spec.conditions"
        )
        for j, cond in enumerate(conditions):
            cpath = f"{path}.spec.conditions[{j}]"
            body = _map(cond, cpath)
            if "conditionRef" in body:
                body = refs.get(
                    "AlertCondition", body["conditionRef"], f"{cpath}.conditionRef"
                ).body
            elif body.get("kind") != "AlertCondition":
                raise _Invalid(
                    f"{cpath}.kind", f"must be AlertCondition, not {_shown(body.get('kind'))}"
                )
            rules.append(_condition(body, cpath))
    return tuple(rules)


def _min_requests(metadata: dict[str, Any]) -> int:
    annotations = _map(metadata.get("annotations") or {}, "metadata.annotations")
    raw = annotations.get(MIN_REQUESTS_ANNOTATION)
    if raw is None:
        return DEFAULT_MIN_REQUESTS
    field = f"metadata.annotations.{MIN_REQUESTS_ANNOTATION}"
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise _Invalid(field, f"must be a whole number, not {_shown(raw)}") from None
    if value < 0:
        raise _Invalid(field, "must be 0 or more")
    return value


def parse_slo(doc: _Doc, refs: _Refs) -> tuple[Slo | None, list[SloError]]:
    """One ``kind: SLO`` document: the SLO, or every error found in its independent parts."""
    errors: list[SloError] = []
    body = doc.body

    def part(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except _Invalid as exc:
            errors.append(doc.error(exc.field, exc.message))
            return None

    metadata = part(_map, body.get("metadata"), "metadata") or {}
    name = part(lambda: _str(_required(metadata, "name", "metadata"), "metadata.name"))
    if name is not None and not _NAME.match(name):
        errors.append(doc.error("metadata.name", "use letters, digits, '.', '_' and '-' only"))
    display = metadata.get("displayName")
    spec = part(_map, body.get("spec"), "spec") or {}
    service = part(lambda: _str(_required(spec, "service", "spec"), "spec.service")) or ""
    method = spec.get("budgetingMethod")
    if method != "Occurrences":
        errors.append(
            doc.error("spec.budgetingMethod", f"must be Occurrences, not {_shown(method)}")
        )
    window = part(_time_window, spec)
    target = part(_target, spec)
    indicator = part(_indicator_of, doc, spec, service, refs)
    rules = part(_rules, spec, refs)
    min_requests = part(_min_requests, metadata)
    if errors or None in (name, window, target, indicator, rules, min_requests):
        return None, errors
    seconds, rolling, text, unit, zone = window
    good, total = indicator
    slo = Slo(
        name=name,
        display_name=str(display) if display else name,
        service=service,
        description=str(spec.get("description") or ""),
        target=target,
        window_s=seconds,
        rolling=rolling,
        good=good,
        total=total,
        rules=rules,
        min_requests=min_requests,
        file=doc.file,
        window_text=text,
        calendar=unit,
        time_zone=zone,
    )
    return slo, []


def _indicator_of(
    doc: _Doc, spec: dict[str, Any], service: str, refs: _Refs
) -> tuple[Selector, Selector]:
    if ("indicator" in spec) == ("indicatorRef" in spec):
        raise _Invalid("spec.indicator", "give exactly one of indicator or indicatorRef")
    if "indicator" in spec:
        return parse_indicator(_map(spec["indicator"], "spec.indicator"), "spec.indicator", service)
    ref = refs.get("SLI", spec["indicatorRef"], "spec.indicatorRef")
    try:
        return parse_indicator(ref.body, "", service)
    except _Invalid as exc:
        where = f"{ref.file}: document {ref.index}: {exc.field.lstrip('.')}"
        raise _Invalid(
            "spec.indicatorRef", f"SLI {spec['indicatorRef']!r} is invalid ({where}: {exc.message})"
        ) from None


def _documents(path: Path) -> tuple[list[_Doc], list[SloError]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [SloError(file, 0, "(file)", f"cannot read: {exc}")]
    docs: list[_Doc] = []
    errors: list[SloError] = []
    index = 0
    try:
        for body in yaml.safe_load_all(text):
            index += 1
            if body is None:
                continue
            if not isinstance(body, dict):
                errors.append(
                    SloError(file, index, "(document)", f"must be a mapping, not {_shown(body)}")
                )
                continue
            docs.append(_Doc(file, index, body))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        errors.append(SloError(file, index + 1, "(yaml)", f"not valid YAML{where}: {problem}"))
    return docs, errors


def load_files(
    paths: Iterable[Path], ref_paths: Iterable[Path] = ()
) -> tuple[list[Slo], list[SloError]]:
    """The SLOs of ``paths`` and every error found in them.

    References (``indicatorRef``, ``alertPolicyRef``, ``conditionRef``) resolve across
    ``paths`` and ``ref_paths``, whose own documents are otherwise not checked.
    """
    docs: list[_Doc] = []
    errors: list[SloError] = []
    for path in paths:
        found, bad = _documents(path)
        docs.extend(found)
        errors.extend(bad)
    others: list[_Doc] = []
    for path in ref_paths:
        others.extend(_documents(path)[0])
    refs = _Refs(docs + others)
    slos: list[Slo] = []
    seen: dict[str, _Doc] = {}
    for doc in docs:
        version, kind = doc.body.get("apiVersion"), doc.body.get("kind")
        if version != API_VERSION:
            errors.append(doc.error("apiVersion", f"must be {API_VERSION}, not {_shown(version)}"))
            continue
        if kind == "SLI":
            try:
                meta = _map(doc.body.get("metadata"), "metadata")
                _str(_required(meta, "name", "metadata"), "metadata.name")
                parse_indicator(doc.body, "", "")
            except _Invalid as exc:
                errors.append(doc.error(exc.field.lstrip("."), exc.message))
            continue
        if kind in ("AlertPolicy", "AlertCondition") or kind in _IGNORED_KINDS:
            continue
        if kind != "SLO":
            errors.append(
                doc.error("kind", f"must be an OpenSLO kind such as SLO or SLI, not {_shown(kind)}")
            )
            continue
        slo, bad = parse_slo(doc, refs)
        errors.extend(bad)
        if slo is None:
            continue
        if slo.name in seen:
            first = seen[slo.name]
            errors.append(
                doc.error(
                    "metadata.name",
                    f"{slo.name!r} is already defined in {first.file} document {first.index}",
                )
            )
            continue
        seen[slo.name] = doc
        slos.append(slo)
    return slos, errors
