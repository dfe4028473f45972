"""When reminders go out: whole days from the due date, at the account's send time
(send_hour:send_minute), on
the local calendar date of the customer's (or account's) time zone.

Local dates are computed with zoneinfo, so "3 days before, at 09:00 Paris time" stays
09:00 across a DST change; the resulting instants are UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from relance.contracts.models import ReminderPlan, ReminderSlot


def local_due_date(due: datetime, tz: str) -> date:
    return due.astimezone(ZoneInfo(tz)).date()


def send_instant(day: date, send_hour: int, tz: str, send_minute: int = 0) -> datetime:
    """`send_hour:send_minute` local on `day`. In a spring-forward gap the wall time does
    not exist; zoneinfo then uses the pre-transition offset, which lands an hour later."""
    local = datetime.combine(day, time(send_hour, send_minute), tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC)


def plan_reminders(due: datetime, offsets: list[int], tz: str, send_hour: int, send_minute: int = 0) -> ReminderPlan:
    due_day = local_due_date(due, tz)
    slots = []
    for d in offsets:
        at = send_instant(due_day + timedelta(days=d), send_hour, tz, send_minute)
        local = f"{at.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} {tz}"
        slots.append(ReminderSlot(days_from_due=d, at=at, local=local))
    slots.sort(key=lambda s: s.at)
    return ReminderPlan(due_date=due, slots=slots)


def _month_end(year: int, month: int) -> date:
    from calendar import monthrange

    return date(year, month, monthrange(year, month)[1])


def card_notice(
    exp_month: int, exp_year: int, days_before_month_end: int | None, tz: str, send_hour: int, send_minute: int = 0
) -> tuple[datetime, datetime]:
    """(send at, pointless after): the 1st of the expiry month, or N days before its end;
    a card works until the end of its expiry month, local time."""
    last = _month_end(exp_year, exp_month)
    day = (
        date(exp_year, exp_month, 1) if days_before_month_end is None else last - timedelta(days=days_before_month_end)
    )
    return send_instant(day, send_hour, tz, send_minute), send_instant(last + timedelta(days=1), 0, tz)


def trial_notice(
    trial_end: datetime, days_before: int, tz: str, send_hour: int, send_minute: int = 0
) -> tuple[datetime, datetime]:
    day = local_due_date(trial_end - timedelta(days=days_before), tz)
    at = send_instant(day, send_hour, tz, send_minute)
    return min(at, trial_end), trial_end
