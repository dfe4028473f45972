"""When reminders go out: whole days from the due date, at the account's send hour, on
the local calendar date of the customer's (or account's) time zone.

Local dates are computed with zoneinfo, so "3 days before, at 09:00 Paris time" stays
09:00 across a DST change; the resulting instants are UTC.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from relance.models import ReminderPlan, ReminderSlot


def local_due_date(due: datetime, tz: str):
    return due.astimezone(ZoneInfo(tz)).date()


def send_instant(day, send_hour: int, tz: str) -> datetime:
    """`send_hour` o'clock local on `day`. In a spring-forward gap the wall time does not
    exist; zoneinfo then uses the pre-transition offset, which lands an hour later."""
    local = datetime.combine(day, time(send_hour), tzinfo=ZoneInfo(tz))
    return local.astimezone(timezone.utc)


def plan_reminders(due: datetime, offsets: list[int], tz: str, send_hour: int) -> ReminderPlan:
    due_day = local_due_date(due, tz)
    slots = [
        ReminderSlot(days_from_due=d, at=send_instant(due_day + timedelta(days=d), send_hour, tz))
        for d in offsets
    ]
    slots.sort(key=lambda s: s.at)
    return ReminderPlan(due_date=due, slots=slots)
