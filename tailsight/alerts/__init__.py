"""Alerts: SLO definitions (OpenSLO), multi-window burn-rate rules, and notifiers.

Alerts carry the root cause found by ``analysis`` to on-call engineers through
webhook, Alertmanager, Slack, PagerDuty or email notifiers, and the scheduler that
runs analysis and SLO evaluation inside ``tailsight up`` lives here.
"""
