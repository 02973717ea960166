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

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tailsight.alerts.openslo_fields import (
    Invalid,
    as_list,
    as_map,
    as_number,
    as_str,
    parse_duration,
    parse_indicator,
    required,
    shown,
)
from tailsight.alerts.slo import (
    DEFAULT_MIN_REQUESTS,
    DEFAULT_RULES,
    BurnRateRule,
    Selector,
    Slo,
    SloError,
)

API_VERSION = "openslo/v1"
MIN_REQUESTS_ANNOTATION = "tailsight.io/min-requests"
# Kinds we read, and kinds of OpenSLO that we accept and do not use.
_IGNORED_KINDS = ("Service", "DataSource", "AlertNotificationTarget")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


@dataclass(frozen=True)
class _Doc:
    file: str
    index: int  # from 1
    body: Any

    def error(self, field: str, message: str) -> SloError:
        return SloError(self.file, self.index, field, message)


def _time_window(spec: dict[str, Any]) -> tuple[int, bool, str, str, str]:
    """(seconds, rolling, text, calendar unit, time zone) of ``spec.timeWindow``."""
    windows = as_list(required(spec, "timeWindow", "spec"), "spec.timeWindow")
    if len(windows) != 1:
        raise Invalid("spec.timeWindow", f"must hold exactly one window, not {len(windows)}")
    path = "spec.timeWindow[0]"
    window = as_map(windows[0], path)
    text = as_str(required(window, "duration", path), f"{path}.duration")
    rolling = window.get("isRolling", True)
    if not isinstance(rolling, bool):
        raise Invalid(f"{path}.isRolling", f"must be true or false, not {shown(rolling)}")
    if rolling:
        if "calendar" in window:
            raise Invalid(f"{path}.calendar", "a rolling window has no calendar")
        seconds, _ = parse_duration(text, f"{path}.duration")
        return seconds, True, text, "", "UTC"
    seconds, unit = parse_duration(text, f"{path}.duration", calendar=True)
    calendar = as_map(window.get("calendar") or {}, f"{path}.calendar")
    zone = calendar.get("timeZone", "UTC")
    zone = as_str(zone, f"{path}.calendar.timeZone")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(zone)
    except (ValueError, KeyError, OSError):
        raise Invalid(f"{path}.calendar.timeZone", f"unknown time zone {zone!r}") from None
    return seconds, False, text, unit, zone


def _target(spec: dict[str, Any]) -> float:
    objectives = as_list(required(spec, "objectives", "spec"), "spec.objectives")
    if len(objectives) != 1:
        raise Invalid("spec.objectives", f"must hold exactly one objective, not {len(objectives)}")
    objective = as_map(objectives[0], "spec.objectives[0]")
    if "target" in objective:
        target = as_number(objective["target"], "spec.objectives[0].target")
        field = "spec.objectives[0].target"
    elif "targetPercent" in objective:
        target = as_number(objective["targetPercent"], "spec.objectives[0].targetPercent") / 100
        field = "spec.objectives[0].targetPercent"
    else:
        raise Invalid("spec.objectives[0].target", "is required (or targetPercent)")
    if not 0 < target < 1:
        raise Invalid(field, "must lie strictly between 0 and 1 (0 and 100 for targetPercent)")
    return target


def _condition(body: dict[str, Any], path: str) -> BurnRateRule:
    spec = as_map(required(body, "spec", path), f"{path}.spec")
    severity = spec.get("severity")
    if severity not in ("page", "ticket"):
        raise Invalid(f"{path}.spec.severity", f"must be page or ticket, not {shown(severity)}")
    cpath = f"{path}.spec.condition"
    cond = as_map(required(spec, "condition", f"{path}.spec"), cpath)
    if cond.get("kind") != "burnrate":
        raise Invalid(f"{cpath}.kind", f"must be burnrate, not {shown(cond.get('kind'))}")
    if cond.get("op", "gte") != "gte":
        raise Invalid(f"{cpath}.op", f"must be gte, not {shown(cond.get('op'))}")
    factor = as_number(required(cond, "threshold", cpath), f"{cpath}.threshold")
    if factor <= 0:
        raise Invalid(f"{cpath}.threshold", "must be above 0")
    long_s, _ = parse_duration(required(cond, "lookbackWindow", cpath), f"{cpath}.lookbackWindow")
    short_s, _ = parse_duration(required(cond, "alertAfter", cpath), f"{cpath}.alertAfter")
    if short_s >= long_s:
        raise Invalid(f"{cpath}.alertAfter", "must be shorter than lookbackWindow")
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
            raise Invalid(field, f"no {kind} named {shown(name)} in the SLO directory")
        return doc


def _rules(spec: dict[str, Any], refs: _Refs) -> tuple[BurnRateRule, ...]:
    if "alertPolicies" not in spec:
        return DEFAULT_RULES
    rules: list[BurnRateRule] = []
    for i, item in enumerate(as_list(spec["alertPolicies"] or [], "spec.alertPolicies")):
        path = f"spec.alertPolicies[{i}]"
        policy = as_map(item, path)
        if "alertPolicyRef" in policy:
            policy = refs.get(
                "AlertPolicy", policy["alertPolicyRef"], f"{path}.alertPolicyRef"
            ).body
        elif policy.get("kind") != "AlertPolicy":
            raise Invalid(f"{path}.kind", f"must be AlertPolicy, not {shown(policy.get('kind'))}")
        pspec = as_map(required(policy, "spec", path), f"{path}.spec")
        conditions = as_list(
            required(pspec, "conditions", f"{path}.spec"), f"{path}.spec.conditions"
        )
        for j, cond in enumerate(conditions):
            cpath = f"{path}.spec.conditions[{j}]"
            body = as_map(cond, cpath)
            if "conditionRef" in body:
                body = refs.get(
                    "AlertCondition", body["conditionRef"], f"{cpath}.conditionRef"
                ).body
            elif body.get("kind") != "AlertCondition":
                raise Invalid(
                    f"{cpath}.kind", f"must be AlertCondition, not {shown(body.get('kind'))}"
                )
            rules.append(_condition(body, cpath))
    return tuple(rules)


def _min_requests(metadata: dict[str, Any]) -> int:
    annotations = as_map(metadata.get("annotations") or {}, "metadata.annotations")
    raw = annotations.get(MIN_REQUESTS_ANNOTATION)
    if raw is None:
        return DEFAULT_MIN_REQUESTS
    field = f"metadata.annotations.{MIN_REQUESTS_ANNOTATION}"
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise Invalid(field, f"must be a whole number, not {shown(raw)}") from None
    if value < 0:
        raise Invalid(field, "must be 0 or more")
    return value


def parse_slo(doc: _Doc, refs: _Refs) -> tuple[Slo | None, list[SloError]]:
    """One ``kind: SLO`` document: the SLO, or every error found in its independent parts."""
    errors: list[SloError] = []
    body = doc.body

    def part(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Invalid as exc:
            errors.append(doc.error(exc.field, exc.message))
            return None

    metadata = part(as_map, body.get("metadata"), "metadata") or {}
    name = part(lambda: as_str(required(metadata, "name", "metadata"), "metadata.name"))
    if name is not None and not _NAME.match(name):
        errors.append(doc.error("metadata.name", "use letters, digits, '.', '_' and '-' only"))
    display = metadata.get("displayName")
    spec = part(as_map, body.get("spec"), "spec") or {}
    service = part(lambda: as_str(required(spec, "service", "spec"), "spec.service")) or ""
    method = spec.get("budgetingMethod")
    if method != "Occurrences":
        errors.append(
            doc.error("spec.budgetingMethod", f"must be Occurrences, not {shown(method)}")
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
        raise Invalid("spec.indicator", "give exactly one of indicator or indicatorRef")
    if "indicator" in spec:
        return parse_indicator(
            as_map(spec["indicator"], "spec.indicator"), "spec.indicator", service
        )
    ref = refs.get("SLI", spec["indicatorRef"], "spec.indicatorRef")
    try:
        return parse_indicator(ref.body, "", service)
    except Invalid as exc:
        where = f"{ref.file}: document {ref.index}: {exc.field.lstrip('.')}"
        raise Invalid(
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
                    SloError(file, index, "(document)", f"must be a mapping, not {shown(body)}")
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
            errors.append(doc.error("apiVersion", f"must be {API_VERSION}, not {shown(version)}"))
            continue
        if kind == "SLI":
            try:
                meta = as_map(doc.body.get("metadata"), "metadata")
                as_str(required(meta, "name", "metadata"), "metadata.name")
                parse_indicator(doc.body, "", "")
            except Invalid as exc:
                errors.append(doc.error(exc.field.lstrip("."), exc.message))
            continue
        if kind in ("AlertPolicy", "AlertCondition") or kind in _IGNORED_KINDS:
            continue
        if kind != "SLO":
            errors.append(
                doc.error("kind", f"must be an OpenSLO kind such as SLO or SLI, not {shown(kind)}")
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
