"""The alert lifecycle on hand-built conditions: fire once, hold, resolve once, repeat, retry."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tailsight.alerts.lifecycle import Condition, Episode, Timing, advance, due_notifications
from tailsight.alerts.model import Delivery, RootCause
from tailsight.alerts.silences import Matcher, Silence

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # pure functions: no store, no TTL
TIMING = Timing(resolve_delay_s=120, repeat_interval_s=3600, retry_first_s=15, retry_max_s=120)


def cond(service: str = "embedder", summary: str = "embedder p99 900 ms") -> Condition:
    cause = RootCause("noisy_neighbor", service, "process", "node1/4242", "a neighbor", 0.9, "i1")
    return Condition(
        kind="incident",
        name=f"incident:{service}",
        severity="page",
        service=service,
        slo=None,
        summary=summary,
        description="d",
        root_cause=cause,
        incidents=("i1",),
        url="http://ui/incidents/i1",
    )


def step(state: dict[str, Episode], conds: list[Condition], at: datetime) -> list[Episode]:
    changed = advance(state, conds, at, TIMING)
    state.update({e.alert.fingerprint: e for e in changed})
    return changed


def test_fires_once_holds_then_resolves_after_the_delay() -> None:
    state: dict[str, Episode] = {}
    (first,) = step(state, [cond()], T0)
    assert first.alert.state == "firing" and first.alert.starts_at == T0
    step(state, [cond(summary="newer")], T0 + timedelta(seconds=10))
    (ep,) = state.values()
    assert ep.alert.starts_at == T0 and ep.alert.summary == "newer"  # same episode, refreshed
    # Gone for less than the resolve delay: still firing (no flapping).
    assert step(state, [], T0 + timedelta(seconds=100)) == []
    # Back within the delay: the same episode continues.
    step(state, [cond()], T0 + timedelta(seconds=120))
    assert state[first.alert.fingerprint].alert.starts_at == T0
    (resolved,) = step(state, [], T0 + timedelta(seconds=240))
    assert resolved.alert.state == "resolved"
    assert resolved.alert.ends_at == T0 + timedelta(seconds=240)
    # A later condition is a new episode.
    (again,) = step(state, [cond()], T0 + timedelta(seconds=600))
    assert again.alert.state == "firing" and again.alert.starts_at == T0 + timedelta(seconds=600)


def test_episode_times_are_kept_to_the_millisecond_as_the_store_keeps_them() -> None:
    (ep,) = advance({}, [cond()], T0.replace(microsecond=123456), TIMING)
    assert ep.alert.starts_at.microsecond == 123000


def test_fingerprint_is_stable_and_distinct_per_service() -> None:
    assert cond().fingerprint == cond(summary="other").fingerprint
    assert cond("embedder").fingerprint != cond("reranker").fingerprint
    assert len(cond().fingerprint) == 16


def _sent(ep: Episode, notifier: str, state: str, at: datetime, ok: bool = True) -> Delivery:
    culprit = ep.alert.root_cause.culprit if ep.alert.root_cause else ""
    return Delivery(notifier, at, ok, None if ok else "HTTP 500", state, culprit=culprit)


def test_one_page_per_notifier_then_one_resolve() -> None:
    state: dict[str, Episode] = {}
    (ep,) = step(state, [cond()], T0)
    names = {"slack": None, "pagerduty": None}
    due = due_notifications([ep], {}, names, [], T0, TIMING)
    assert [(a.state, n) for a, n in due] == [("firing", "slack"), ("firing", "pagerduty")]
    history = {ep.key: [_sent(ep, "slack", "firing", T0), _sent(ep, "pagerduty", "firing", T0)]}
    later = T0 + timedelta(minutes=30)
    assert due_notifications([ep], history, names, [], later, TIMING) == []
    (res,) = step(state, [], later)
    due = due_notifications([res], history, names, [], later, TIMING)
    assert [(a.state, n) for a, n in due] == [("resolved", "slack"), ("resolved", "pagerduty")]
    history[ep.key] += [_sent(ep, n, "resolved", later) for n in names]
    assert due_notifications([res], history, names, [], later + timedelta(hours=1), TIMING) == []


def test_repeat_interval_and_acknowledgement() -> None:
    (ep,) = advance({}, [cond()], T0, TIMING)
    history = {ep.key: [_sent(ep, "slack", "firing", T0)]}
    at = T0 + timedelta(seconds=3600)
    assert [a.state for a, _ in due_notifications([ep], history, {"slack": None}, [], at, TIMING)] == [
        "firing"
    ]
    acked = Episode(replace(ep.alert, acknowledged=True), ep.last_active_at)
    assert due_notifications([acked], history, {"slack": None}, [], at, TIMING) == []
    # Alertmanager's lease is renewed on its own interval, acknowledged or not.
    history = {ep.key: [_sent(ep, "am", "firing", T0)]}
    soon = T0 + timedelta(seconds=900)
    assert due_notifications([acked], history, {"am": 900.0}, [], soon, TIMING)
    assert not due_notifications([acked], history, {"am": 900.0}, [], soon - timedelta(seconds=1), TIMING)


def test_a_page_sent_before_the_culprit_was_known_is_followed_by_one_naming_it() -> None:
    unknown = replace(cond(), root_cause=RootCause("unknown", "embedder", None, None, "?", 0.0, "i1"))
    (ep,) = advance({}, [unknown], T0, TIMING)
    history = {ep.key: [replace(_sent(ep, "slack", "firing", T0), culprit="unknown")]}
    at = T0 + timedelta(seconds=20)
    assert due_notifications([ep], history, {"slack": None}, [], at, TIMING) == []
    named = Episode(replace(ep.alert, root_cause=cond().root_cause), ep.last_active_at)
    (again,) = due_notifications([named], history, {"slack": None}, [], at, TIMING)
    assert again[0].root_cause is not None and again[0].root_cause.culprit == "process:node1/4242"
    history[ep.key].append(replace(_sent(ep, "slack", "firing", at), culprit="process:node1/4242"))
    assert due_notifications([named], history, {"slack": None}, [], at, TIMING) == []


def test_failed_delivery_is_retried_with_backoff() -> None:
    (ep,) = advance({}, [cond()], T0, TIMING)
    fail1 = _sent(ep, "webhook", "firing", T0, ok=False)
    history = {ep.key: [fail1]}
    assert due_notifications([ep], history, {"webhook": None}, [], T0 + timedelta(seconds=10), TIMING) == []
    assert due_notifications([ep], history, {"webhook": None}, [], T0 + timedelta(seconds=15), TIMING)
    fail2 = _sent(ep, "webhook", "firing", T0 + timedelta(seconds=15), ok=False)
    history = {ep.key: [fail1, fail2]}  # second failure: wait 30 s
    at = T0 + timedelta(seconds=40)
    assert due_notifications([ep], history, {"webhook": None}, [], at, TIMING) == []
    assert due_notifications([ep], history, {"webhook": None}, [], at + timedelta(seconds=5), TIMING)


def test_a_resolve_goes_only_where_the_page_went() -> None:
    state: dict[str, Episode] = {}
    (ep,) = step(state, [cond()], T0)
    history = {ep.key: [_sent(ep, "slack", "firing", T0)]}  # pagerduty never got it
    (res,) = step(state, [], T0 + timedelta(seconds=200))
    due = due_notifications([res], history, {"slack": None, "pagerduty": None}, [], T0 + timedelta(seconds=200), TIMING)
    assert [(a.state, n) for a, n in due] == [("resolved", "slack")]


def test_silence_holds_the_page_until_it_ends() -> None:
    (ep,) = advance({}, [cond()], T0, TIMING)
    silence = Silence("s1", (Matcher.parse("service=embedder"),), T0, T0 + timedelta(hours=1))
    assert due_notifications([ep], {}, {"slack": None}, [silence], T0, TIMING) == []
    other = Silence("s2", (Matcher.parse("service=~rerank.*"),), T0, T0 + timedelta(hours=1))
    assert due_notifications([ep], {}, {"slack": None}, [other], T0, TIMING)
    after = T0 + timedelta(hours=1)
    assert due_notifications([ep], {}, {"slack": None}, [silence], after, TIMING)


def test_matchers() -> None:
    labels = {"service": "embedder", "severity": "page", "alertname": "incident:embedder"}
    assert Matcher.parse("service=embedder").matches(labels)
    assert Matcher.parse("severity!=ticket").matches(labels)
    assert Matcher.parse("alertname=~'incident:.*'").matches(labels)
    assert not Matcher.parse("service!~emb.*").matches(labels)
    for bad in ("service", "=x", "service=~(", "9x=1"):
        try:
            Matcher.parse(bad)
        except ValueError as exc:
            assert "matcher" in str(exc)
        else:
            raise AssertionError(f"{bad!r} parsed")
