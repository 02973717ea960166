"""``report_schedule`` as an APScheduler cron trigger: 5 fields (crontab) or 6 (seconds first)."""

from __future__ import annotations

from apscheduler.triggers.cron import CronTrigger

from tailsight.reports.week import zone


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """The trigger of a cron expression in ``timezone``; ``ValueError`` naming both otherwise.

    Six fields put seconds first (``*/5 * * * * *``), for tests and short demos.
    """
    tz = zone(timezone)
    fields = expression.split()
    try:
        if len(fields) == 5:
            return CronTrigger.from_crontab(expression, timezone=tz)
        if len(fields) == 6:
            second, minute, hour, day, month, dow = fields
            return CronTrigger(
                second=second,
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=dow,
                timezone=tz,
            )
    except ValueError as exc:
        raise ValueError(
            f"report_schedule {expression!r} is not a cron expression: {exc}"
        ) from None
    raise ValueError(
        f"report_schedule {expression!r} is not a cron expression of 5 fields "
        "(minute hour day month weekday) or 6 (seconds first)"
    )
