"""The incident and burn-rate rules on hand-built SLO states and incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tailsight.alerts.rules import burn_rate_conditions, incident_conditions
from tailsight.alerts.slo import Slo, SloStatus, SpanSelector
from tailsight.model import Cause, Entity, Incident

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # pure functions: no store
UI = "http://ui"


def incident(service: str, start: datetime, end: datetime | None, score: float = 0.9,
             cause_service: str | None = None) -> Incident:  # fmt: skip
    cause = Cause(
        "noisy_neighbor",
        score,
        cause_service or service,
        Entity("process", "node2/777"),
        "a second process on GPU-1 took 60% of its SMs",
    )
    return Incident(service, start, end, 800.0, 150.0, causes=(cause,))


def test_incident_rule_pages_open_and_just_ended_incidents_of_slo_services() -> None:
    found = incident_conditions(
        [
            incident("embedder", NOW - timedelta(minutes=2), None),
            incident("asr", NOW - timedelta(minutes=2), None),  # no SLO
            incident("reranker", NOW - timedelta(minutes=5), NOW - timedelta(seconds=30)),
            incident("llm-gateway", NOW - timedelta(minutes=9), NOW - timedelta(minutes=3)),
            incident("embedder", NOW - timedelta(hours=7), None),  # stale: open for 7 h
        ],
        {"embedder", "reranker", "llm-gateway"},
        NOW,
        UI,
    )
    assert [c.service for c in found] == ["embedder", "reranker"]
    emb = found[0]
    assert emb.severity == "page" and emb.kind == "incident"
    assert emb.root_cause is not None and emb.root_cause.culprit == "process:node2/777"
    assert "embedder p99 800 ms (baseline 150 ms): noisy_neighbor at process node2/777" in emb.summary
    assert emb.url == f"{UI}/incidents/{emb.incidents[-1]}"
    everything = incident_conditions(
        [incident("asr", NOW - timedelta(minutes=2), None)], None, NOW, UI
    )
    assert [c.service for c in everything] == ["asr"]


def test_a_young_incident_with_no_culprit_waits_for_one_then_pages_anyway() -> None:
    def unknown(start: datetime) -> Incident:
        cause = Cause("unknown", 0.0, "embedder", None, "no attribution has explained this")
        return Incident("embedder", start, None, 800.0, 150.0, causes=(cause,))

    slos = {"embedder"}
    # 20 s after its onset the cause is unknown: no page yet ...
    assert incident_conditions([unknown(NOW - timedelta(seconds=20))], slos, NOW, UI) == []
    # ... named, it pages at once ...
    named = incident("embedder", NOW - timedelta(seconds=20), None)
    assert [c.service for c in incident_conditions([named], slos, NOW, UI)] == ["embedder"]
    # ... and still unknown past the grace, it pages saying so.
    (late,) = incident_conditions([unknown(NOW - timedelta(seconds=50))], slos, NOW, UI)
    assert late.root_cause is not None and late.root_cause.kind == "unknown"
    assert "cause unknown" in late.summary


def slo(min_requests: int = 20) -> Slo:
    spans = SpanSelector("llm-gateway", None, 2000.0, False)
    return Slo(
        name="gw-latency",
        display_name="",
        service="llm-gateway",
        description="",
        target=0.99,
        window_s=28 * 86400,
        rolling=True,
        good=spans,
        total=SpanSelector("llm-gateway", None, None, False),
        min_requests=min_requests,
    )


def status(rates: dict[str, float | None], requests: float = 1000.0, s: Slo | None = None) -> SloStatus:
    keys = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    return SloStatus(
        slo=s or slo(),
        at=NOW,
        sli=0.995,
        error_budget_remaining=0.4,
        burn_rates={k: rates.get(k, 0.5) for k in keys},
        requests={k: requests for k in keys},
        good={k: requests for k in keys},
    )


def test_burn_rate_page_needs_both_windows_and_enough_requests() -> None:
    fast = {"1h": 15.0, "5m": 20.0}
    (page,) = burn_rate_conditions([status(fast)], [], NOW, UI)
    assert page.severity == "page" and page.slo == "gw-latency" and page.name == "gw-latency:page"
    assert page.url == f"{UI}/slos/gw-latency"  # no incident to point at
    assert "15.0x over 1h and 20.0x over 5m (limit 14.4x)" in page.summary
    assert burn_rate_conditions([status({"1h": 15.0, "5m": 3.0})], [], NOW, UI) == []  # recovered
    assert burn_rate_conditions([status({"1h": 15.0})], [], NOW, UI) == []  # short window calm
    thin = status(fast, requests=5)  # a few failures of a few requests
    assert burn_rate_conditions([thin], [], NOW, UI) == []
    assert burn_rate_conditions([status({"1h": None, "5m": None})], [], NOW, UI) == []


def test_ticket_and_page_are_separate_alerts() -> None:
    rates = {"1h": 15.0, "5m": 20.0, "1d": 4.0, "2h": 5.0}
    found = burn_rate_conditions([status(rates)], [], NOW, UI)
    assert sorted(c.severity for c in found) == ["page", "ticket"]
    assert len({c.fingerprint for c in found}) == 2


def test_burn_rate_alert_names_the_incident_downstream() -> None:
    # llm-gateway's incident blames embedder; embedder has its own, better-scored incident.
    gw = incident("llm-gateway", NOW - timedelta(minutes=20), None, 0.6, cause_service="embedder")
    emb = incident("embedder", NOW - timedelta(minutes=21), None, 0.95)
    old = incident("llm-gateway", NOW - timedelta(hours=3), NOW - timedelta(hours=2), 0.99)
    unrelated = incident("asr", NOW - timedelta(minutes=5), None, 0.99)
    (page,) = burn_rate_conditions([status({"1h": 15.0, "5m": 20.0})], [gw, emb, old, unrelated], NOW, UI)
    assert page.root_cause is not None and page.root_cause.incident_id == emb.id
    assert set(page.incidents) == {gw.id, emb.id}  # the one from 3 h ago is outside the 1 h window
    assert page.url == f"{UI}/incidents/{emb.id}"
