"""Burn-rate arithmetic (SRE workbook, ch. 5): pure functions, no store.

A burn rate of 1 spends exactly the error budget over the SLO window; 14.4 over one
hour spends 2 % of a 30-day budget in that hour. A rule fires only when both its windows
burn at least ``factor`` times too fast and both saw at least ``min_requests`` requests:
the long window says the burn is significant, the short one that it is still going on,
and the request floor keeps a few failures of a few requests from paging.
"""

from __future__ import annotations

from tailsight.alerts.slo import BurnRateRule, SloStatus, format_duration


def sli(good: float, total: float) -> float | None:
    """Good over total, at most 1; None without traffic."""
    if total <= 0:
        return None
    return min(1.0, max(0.0, good / total))


def burn_rate(good: float, total: float, target: float) -> float | None:
    """(1 - good/total) / (1 - target); None without traffic."""
    ratio = sli(good, total)
    if ratio is None:
        return None
    return (1.0 - ratio) / (1.0 - target)


def error_budget_remaining(good: float, total: float, target: float) -> float | None:
    """Fraction of the window's budget not yet spent: 1 - bad / ((1 - target) * total)."""
    rate = burn_rate(good, total, target)
    return None if rate is None else 1.0 - rate


def rule_breached(status: SloStatus, rule: BurnRateRule) -> bool:
    """Both windows burn at ``rule.factor`` or faster and both saw ``min_requests`` requests."""
    floor = status.slo.min_requests
    for seconds in (rule.long_s, rule.short_s):
        key = format_duration(seconds)
        rate = status.burn_rates.get(key)
        if rate is None or rate < rule.factor:
            return False
        if status.requests.get(key, 0.0) < floor:
            return False
    return True


def breached_rules(status: SloStatus) -> list[BurnRateRule]:
    """The SLO's rules that ``status`` breaches, pages first."""
    found = [r for r in status.slo.rules if rule_breached(status, r)]
    return sorted(found, key=lambda r: (r.severity != "page", -r.factor))
