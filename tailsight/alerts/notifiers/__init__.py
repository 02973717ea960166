"""Notifiers: deliver an alert, firing or resolved, to Alertmanager, a webhook receiver,
Slack, PagerDuty or email (CONTRACT §7), one module each behind the :class:`Notifier`
Protocol, and :func:`deliver` to send to all of them at once with retries.
"""

from __future__ import annotations

from tailsight.alerts.notifiers.base import Notifier, NotifyError, build_notifiers
from tailsight.alerts.notifiers.dispatch import OnDelivery, deliver

__all__ = ["Notifier", "NotifyError", "OnDelivery", "build_notifiers", "deliver"]
