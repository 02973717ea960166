"""OpenSLO v1 files: what loads, and the errors that name file, document and field."""

from __future__ import annotations

import os
from pathlib import Path

from tailsight.alerts.slo import (
    DEFAULT_RULES,
    BurnRateRule,
    MetricSelector,
    SloCatalog,
    SpanSelector,
    load_slo_dir,
    load_slo_file,
)

GOOD = """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: llm-gateway-latency, displayName: LLM gateway under 2 s}
spec:
  service: llm-gateway
  budgetingMethod: Occurrences
  timeWindow: [{duration: 28d, isRolling: true}]
  objectives: [{displayName: 99% under 2 s, target: 0.99}]
  indicator:
    metadata: {name: llm-gateway-fast}
    spec:
      ratioMetric:
        counter: true
        good:  {metricSource: {type: tailsight, spec: {spans: {service: llm-gateway, max_duration_ms: 2000}}}}
        total: {metricSource: {type: tailsight, spec: {spans: {service: llm-gateway}}}}
"""

REF_AND_POLICY = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: embedder-ok
  annotations: {tailsight.io/min-requests: "50"}
spec:
  service: embedder
  budgetingMethod: Occurrences
  timeWindow: [{duration: 1M, isRolling: false, calendar: {startTime: "2026-01-01 00:00:00", timeZone: Europe/Paris}}]
  objectives: [{targetPercent: 99.5}]
  indicatorRef: embedder-availability
  alertPolicies:
    - kind: AlertPolicy
      metadata: {name: fast-burn}
      spec:
        conditions:
          - kind: AlertCondition
            metadata: {name: c1}
            spec:
              severity: page
              condition: {kind: burnrate, op: gte, threshold: 10, lookbackWindow: 4h, alertAfter: 15m}
          - conditionRef: slow-burn
---
apiVersion: openslo/v1
kind: AlertCondition
metadata: {name: slow-burn}
spec:
  severity: ticket
  condition: {kind: burnrate, op: gte, threshold: 2, lookbackWindow: 1d, alertAfter: 2h}
"""

SLI = """\
apiVersion: openslo/v1
kind: SLI
metadata: {name: embedder-availability}
spec:
  ratioMetric:
    counter: true
    good: {metricSource: {type: tailsight, spec: {spans: {ok: true, operation: embed}}}}
    total: {metricSource: {type: tailsight, spec: {spans: {operation: embed}}}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: ttft}
spec:
  service: llm-gateway
  budgetingMethod: Occurrences
  timeWindow: [{duration: 7d}]
  objectives: [{target: 0.95}]
  alertPolicies: []
  indicator:
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: tailsight
            spec:
              metric:
                name: gen_ai.server.time_to_first_token
                attributes: {gen_ai.request.model: llama}
                max_value: 0.5
        total:
          metricSource:
            type: tailsight
            spec:
              metric:
                name: gen_ai.server.time_to_first_token
                attributes: {gen_ai.request.model: llama}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_contract_example_loads_with_default_rules(tmp_path: Path) -> None:
    slos, errors = load_slo_file(write(tmp_path, "a.yaml", GOOD))
    assert errors == []
    (slo,) = slos
    assert (slo.name, slo.display_name, slo.service) == (
        "llm-gateway-latency",
        "LLM gateway under 2 s",
        "llm-gateway",
    )
    assert (slo.target, slo.window_s, slo.rolling, slo.window) == (0.99, 28 * 86400, True, "28d")
    assert slo.good == SpanSelector("llm-gateway", None, 2000.0, False)
    assert slo.total == SpanSelector("llm-gateway", None, None, False)
    assert slo.rules == DEFAULT_RULES
    assert [r.name for r in DEFAULT_RULES] == ["1h/5m", "6h/30m", "1d/2h", "3d/6h"]
    assert slo.min_requests == 20


def test_refs_policies_calendar_and_metric_sources(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", REF_AND_POLICY)
    write(tmp_path, "b.yml", SLI)
    write(tmp_path, "notes.txt", "not yaml: [")
    slos, errors = load_slo_dir(tmp_path)
    assert errors == []
    by = {s.name: s for s in slos}
    emb = by["embedder-ok"]
    assert emb.target == 0.995 and not emb.rolling and emb.window == "1M"
    assert (emb.calendar, emb.time_zone, emb.min_requests) == ("M", "Europe/Paris", 50)
    assert emb.good == SpanSelector("embedder", "embed", None, True)
    assert emb.rules == (
        BurnRateRule("page", 10.0, 4 * 3600, 900),
        BurnRateRule("ticket", 2.0, 86400, 7200),
    )
    assert "4h" in emb.windows and "15m" in emb.windows
    ttft = by["ttft"]
    assert ttft.rules == () and ttft.window_s == 7 * 86400
    assert ttft.good == MetricSelector(
        "gen_ai.server.time_to_first_token", (("gen_ai.request.model", "llama"),), 0.5
    )


BAD = """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: broken}
spec:
  service: x
  budgetingMethod: Timeslices
  timeWindow: [{duration: 1M, isRolling: true}]
  objectives: [{target: 1.5}]
  indicatorRef: nope
  alertPolicies:
    - kind: AlertPolicy
      spec:
        conditions:
          - kind: AlertCondition
            spec:
              severity: critical
              condition: {kind: burnrate, op: gte, threshold: 2, lookbackWindow: 1h, alertAfter: 5m}
---
apiVersion: openslo/v2
kind: SLO
metadata: {name: v2}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: spans-typo}
spec:
  service: x
  budgetingMethod: Occurrences
  timeWindow: [{duration: 7d, isRolling: true}]
  objectives: [{target: 0.9}]
  indicator:
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: tailsight, spec: {spans: {max_duration: 20}}}}
        total: {metricSource: {type: tailsight, spec: {spans: {}}}}
"""


def test_every_error_names_file_document_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", BAD)
    slos, errors = load_slo_file(path)
    assert slos == []
    lines = [str(e) for e in errors]
    p = str(path)
    assert f"{p}: document 1: spec.budgetingMethod: must be Occurrences, not 'Timeslices'" in lines
    assert any(x.startswith(f"{p}: document 1: spec.timeWindow[0].duration: ") for x in lines)
    assert any(x.startswith(f"{p}: document 1: spec.objectives[0].target: ") for x in lines)
    assert any(
        x.startswith(f"{p}: document 1: spec.indicatorRef: no SLI named 'nope'") for x in lines
    )
    assert any(
        x.startswith(f"{p}: document 1: spec.alertPolicies[0].spec.conditions[0].spec.severity:")
        for x in lines
    )
    assert f"{p}: document 2: apiVersion: must be openslo/v1, not 'openslo/v2'" in lines
    assert any(
        x.startswith(
            f"{p}: document 3: spec.indicator.spec.ratioMetric.good.metricSource.spec.spans.max_duration: unknown field"
        )
        for x in lines
    )


def test_bad_file_and_duplicates_never_stop_the_others(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD)  # the same name again
    write(tmp_path, "c.yaml", "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: [\n")
    write(tmp_path, "d.yaml", REF_AND_POLICY + "---\n" + SLI)
    slos, errors = load_slo_dir(tmp_path)
    assert sorted(s.name for s in slos) == ["embedder-ok", "llm-gateway-latency", "ttft"]
    text = [str(e) for e in errors]
    assert any(
        "b.yaml: document 1: metadata.name: 'llm-gateway-latency' is already defined" in t
        for t in text
    )
    assert any("c.yaml: document 1: (yaml): not valid YAML" in t for t in text)
    assert len(errors) == 2


def test_catalog_reloads_when_files_change(tmp_path: Path) -> None:
    catalog = SloCatalog(tmp_path / "slos")
    assert catalog.slos == [] and catalog.errors == []
    (tmp_path / "slos").mkdir()
    path = write(tmp_path / "slos", "a.yaml", GOOD)
    assert catalog.reload_if_changed() is True
    assert [s.name for s in catalog.slos] == ["llm-gateway-latency"]
    assert catalog.reload_if_changed() is False
    path.write_text(GOOD.replace("target: 0.99", "target: 0.999"))
    os.utime(path, ns=(1, 1))  # a changed mtime even on coarse-clock file systems
    assert catalog.reload_if_changed() is True
    assert catalog.slos[0].target == 0.999
    path.unlink()
    assert catalog.reload_if_changed() is True and catalog.slos == []
