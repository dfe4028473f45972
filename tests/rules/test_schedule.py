"""Reminder and notice times: local calendar dates, the send hour, DST, and the settings
that move card and trial notices."""

from __future__ import annotations

from datetime import UTC, datetime

from relance.rules.schedule import card_notice, plan_reminders, trial_notice

UTC = UTC


def test_reminder_slots_are_local_dates_at_the_send_hour() -> None:
    # Due 2027-03-30 00:30 Paris (still the 29th in UTC): the local date counts.
    due = datetime(2027, 3, 29, 22, 30, tzinfo=UTC)
    plan = plan_reminders(due, [-3, 0, 1], "Europe/Paris", 9)
    assert [s.at for s in plan.slots] == [
        datetime(2027, 3, 27, 8, 0, tzinfo=UTC),  # before the change to summer time: UTC+1
        datetime(2027, 3, 30, 7, 0, tzinfo=UTC),  # after it: UTC+2
        datetime(2027, 3, 31, 7, 0, tzinfo=UTC),
    ]


def test_send_hour_in_a_spring_forward_gap_lands_after_it() -> None:
    # 02:00 does not exist in Paris on 2027-03-28; the reminder goes at 03:00 local.
    plan = plan_reminders(datetime(2027, 3, 28, 12, tzinfo=UTC), [0], "Europe/Paris", 2)
    assert plan.slots[0].at == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)


def test_send_minute_moves_every_slot_and_notice_within_the_hour() -> None:
    due = datetime(2027, 3, 29, 22, 30, tzinfo=UTC)
    plan = plan_reminders(due, [-3, 0], "Europe/Paris", 9, 45)
    assert [s.at for s in plan.slots] == [
        datetime(2027, 3, 27, 8, 45, tzinfo=UTC),
        datetime(2027, 3, 30, 7, 45, tzinfo=UTC),
    ]
    # The default minute is 0: reminders on the hour.
    assert plan_reminders(due, [-3, 0], "Europe/Paris", 9) == plan_reminders(due, [-3, 0], "Europe/Paris", 9, 0)
    assert card_notice(2, 2027, None, "UTC", 9, 30)[0] == datetime(2027, 2, 1, 9, 30, tzinfo=UTC)
    assert trial_notice(datetime(2027, 5, 20, 12, tzinfo=UTC), 7, "UTC", 9, 5)[0] == datetime(
        2027, 5, 13, 9, 5, tzinfo=UTC
    )


def test_card_notice_first_of_month_or_days_before_its_end() -> None:
    assert card_notice(2, 2027, None, "UTC", 9) == (
        datetime(2027, 2, 1, 9, tzinfo=UTC),
        datetime(2027, 3, 1, tzinfo=UTC),
    )
    at, expires = card_notice(2, 2028, 5, "America/New_York", 9)  # leap year: Feb 29
    assert at == datetime(2028, 2, 24, 14, tzinfo=UTC)
    assert expires == datetime(2028, 3, 1, 5, tzinfo=UTC)


def test_trial_notice_days_before_and_never_after_the_end() -> None:
    end = datetime(2027, 1, 10, 15, tzinfo=UTC)
    assert trial_notice(end, 7, "UTC", 9) == (datetime(2027, 1, 3, 9, tzinfo=UTC), end)
    # A send hour later than the trial's end time on a 0-day notice: not after the end.
    assert trial_notice(datetime(2027, 1, 10, 6, tzinfo=UTC), 0, "UTC", 9)[0] == datetime(2027, 1, 10, 6, tzinfo=UTC)
