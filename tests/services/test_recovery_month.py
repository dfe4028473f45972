"""What the reminders recovered, over a simulated month on the time-skipping server: real
workflows send the invoice emails, reminders, notices and receipts, and the report ties
each payment to the email before it. The right answers are worked out by hand below."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relance.contracts.recovery import MonthRecovery
from relance.platform.clock import advance_to
from relance.services.recovery import recovery_report
from tests.support.events import customer, event, invoice
from tests.support.harness import Harness

DAY, HOUR = timedelta(days=1), timedelta(hours=1)
CUSTOMER = "cus_recovery"


def first_of_next_month(now: datetime) -> datetime:
    return datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)


def paid(obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0, **extra)


def row(month: MonthRecovery) -> dict[str, Any]:
    """The report's numbers, as the hand computation below writes them."""

    def t(tally):
        return (tally.count, tally.amount)

    return {
        "invoiced": t(month.invoiced),
        "paid": t(month.paid),
        "paid_before_due": t(month.paid_before_due),
        "steps": [(s.key, s.count, s.amount) for s in month.paid_after_step],
        "failed": t(month.failed),
        "recovered": t(month.recovered_after_failure),
        "retry_alone": t(month.recovered_by_retry_alone),
        "rate": month.recovery_rate,
        "open": t(month.open),
        "void": t(month.void),
        "uncollectible": t(month.uncollectible),
        "days_to_pay": (month.days_to_pay.p50, month.days_to_pay.p90),
    }


async def simulate_month(h: Harness) -> datetime:
    """Nine invoices finalized on the 1st of a month at 01:00 UTC (T0), due on the 11th at
    12:00 when sent for payment, reminders at -3 and +3 days (09:00 UTC). Returns the 1st."""
    settings: dict[str, Any] = dict(timezone="UTC", send_hour=9, reminders=[-3, 3], attach_pdf=False)
    h.save_settings(**settings)
    base = first_of_next_month(await h.now())
    await h.env.sleep(base - await h.now())  # no workflow yet: a plain jump
    t0, due = base + HOUR, base + 10 * DAY + 12 * HOUR

    async def at(moment: datetime) -> datetime:
        await advance_to(h.env, h.workflow_ids, moment)
        return moment

    send: dict[str, Any] = dict(collection_method="send_invoice", due=due)
    auto: dict[str, Any] = dict(collection_method="charge_automatically", due=None)
    inv = {
        "A": invoice("in_rec_a", CUSTOMER, amount=10000, currency="eur", **send),
        "B": invoice("in_rec_b", CUSTOMER, amount=20000, currency="eur", **send),
        "C": invoice("in_rec_c", CUSTOMER, amount=30000, currency="eur", **auto),
        "D": invoice("in_rec_d", CUSTOMER, amount=40000, currency="usd", **auto),
        "E": invoice("in_rec_e", CUSTOMER, amount=50000, currency="usd", **send),
        "F": invoice("in_rec_f", CUSTOMER, amount=60000, currency="eur", **send),
        "G": invoice("in_rec_g", CUSTOMER, amount=70000, currency="usd", **send),
        "H": invoice("in_rec_h", CUSTOMER, amount=80000, currency="eur", **auto),
        "I": invoice("in_rec_i", CUSTOMER, amount=90000, currency="usd", **auto),
    }
    await at(t0)
    await h.send(event("customer.created", customer(CUSTOMER)))
    await h.send(*(event("invoice.finalized", obj, created=t0) for obj in inv.values()))

    when = await at(base + DAY + HOUR)
    failed1 = {k: dict(inv[k], attempt_count=1) for k in "CDI"}
    await h.send(
        *(event("invoice.payment_failed", obj, created=when) for obj in failed1.values()),
        event("invoice.payment_action_required", dict(inv["H"], attempt_count=1), created=when),
    )
    when = await at(base + 2 * DAY + HOUR)
    await h.send(event("invoice.paid", paid(inv["A"]), created=when))
    when = await at(base + 3 * DAY + HOUR)
    await h.send(
        event("invoice.voided", dict(inv["G"], status="void"), created=when),
        event("invoice.paid", paid(inv["H"], attempt_count=1), created=when),
    )
    when = await at(base + 4 * DAY + HOUR)
    await h.send(event("invoice.paid", paid(inv["C"], attempt_count=2), created=when))
    # D's second attempt fails with failed-payment notices switched off: no email goes out
    # (logged skipped), and the next retry is paid with no email in between.
    h.save_settings(**settings, emails={"payment_failed": False})
    await h.send(event("invoice.payment_failed", dict(inv["D"], attempt_count=2), created=when))
    h.save_settings(**settings)
    when = await at(base + 5 * DAY + HOUR)
    await h.send(event("invoice.paid", paid(inv["D"], attempt_count=3), created=when))
    await h.remind("in_rec_e", CUSTOMER, "manual-e")
    when = await at(base + 6 * DAY + HOUR)
    await h.send(event("invoice.paid", paid(inv["E"]), created=when))
    # Day 7 09:00: the -3 reminders of B and F.
    when = await at(base + 8 * DAY + HOUR)
    await h.send(event("invoice.marked_uncollectible", dict(inv["I"], status="uncollectible"), created=when))
    # Day 13 09:00: the +3 reminders of B and F.
    when = await at(base + 14 * DAY + HOUR)
    await h.send(event("invoice.paid", paid(inv["B"]), created=when))
    await at(base + 20 * DAY)
    return base


async def test_a_simulated_month_by_step_currency_and_outcome(harness: Harness) -> None:
    h = harness
    base = await simulate_month(h)
    month = f"{base:%Y-%m}"

    # What was sent, as the scenario intends (the report reads only `sent` emails).
    reminders = sorted((e.invoice_id, e.idempotency_key.rsplit(":", 1)[-1]) for e in h.sent("invoice_reminder"))
    assert reminders == [
        ("in_rec_b", "+3"),
        ("in_rec_b", "-3"),
        ("in_rec_e", "manual-e"),
        ("in_rec_f", "+3"),
        ("in_rec_f", "-3"),
    ]
    skipped = [(e.invoice_id, e.kind) for e in h.log() if e.status == "skipped"]
    assert skipped == [("in_rec_d", "payment_failed")]

    report = recovery_report(h.engine, base.date(), (base + 27 * DAY).date(), with_payments=True)
    assert [(m.month, m.currency) for m in report.months] == [(month, "eur"), (month, "usd")]
    eur, usd = report.months

    # EUR: A 100.00 paid day 2 (invoice email last), B 200.00 paid day 14 after the +3
    # reminder (day 13 09:00), C 300.00 failed day 1 (notice 1), paid by a retry day 4,
    # F 600.00 still open, H 800.00 3D Secure email day 1, paid day 3.
    # Days from T0 to payment: A 2, H 3, C 4, B 14 -> p50 (2nd of 4) 3, p90 (4th of 4) 14.
    assert row(eur) == {
        "invoiced": (5, 200000),
        "paid": (4, 140000),
        "paid_before_due": (1, 10000),
        "steps": [
            ("invoice_email", 1, 10000),
            ("reminder:+3", 1, 20000),
            ("payment_failed:1", 1, 30000),
            ("payment_action_required", 1, 80000),
        ],
        "failed": (1, 30000),
        "recovered": (1, 30000),
        "retry_alone": (0, 0),
        "rate": 1.0,
        "open": (1, 60000),
        "void": (0, 0),
        "uncollectible": (0, 0),
        "days_to_pay": (3.0, 14.0),
    }
    # USD: D 400.00 failed day 1 (notice 1 sent) and day 4 (notice off), paid day 5 by
    # the retry alone; E 500.00 manual reminder day 5, paid day 6; G 700.00 voided day 3;
    # I 900.00 failed day 1, uncollectible day 8. Rate 40000 / (40000 + 90000) = 0.3077.
    # Days to pay: D 5, E 6 -> p50 (1st of 2) 5, p90 (2nd of 2) 6.
    assert row(usd) == {
        "invoiced": (4, 250000),
        "paid": (2, 90000),
        "paid_before_due": (1, 50000),
        "steps": [("manual_reminder", 1, 50000), ("payment_failed:1", 1, 40000)],
        "failed": (2, 130000),
        "recovered": (1, 40000),
        "retry_alone": (1, 40000),
        "rate": 0.3077,
        "open": (0, 0),
        "void": (1, 70000),
        "uncollectible": (1, 90000),
        "days_to_pay": (5.0, 6.0),
    }

    # Each payment's step and the time from its email: B's +3 reminder went at day 13
    # 09:00, 16 hours before the payment; event-triggered emails go seconds after the event.
    by_id = {p.invoice_id: p for p in report.payments or []}
    assert {i: (p.step_key, p.by_retry_alone) for i, p in by_id.items()} == {
        "in_rec_a": ("invoice_email", False),
        "in_rec_b": ("reminder:+3", False),
        "in_rec_c": ("payment_failed:1", False),
        "in_rec_d": ("payment_failed:1", True),
        "in_rec_e": ("manual_reminder", False),
        "in_rec_h": ("payment_action_required", False),
    }
    assert by_id["in_rec_b"].seconds_from_step == 16 * 3600
    assert by_id["in_rec_b"].step_at == base + 13 * DAY + 9 * HOUR
    assert by_id["in_rec_a"].seconds_from_step == pytest.approx(2 * 86400, abs=120)
    assert by_id["in_rec_d"].seconds_from_step == pytest.approx(4 * 86400, abs=120)
    assert by_id["in_rec_e"].seconds_from_step == pytest.approx(86400, abs=120)
    assert [s.median_hours_from_step for s in eur.paid_after_step][1] == 16.0

    # One currency at a time, and a range that ends before the month holds nothing.
    only_usd = recovery_report(h.engine, base.date(), (base + 27 * DAY).date(), currency="USD")
    assert [m.currency for m in only_usd.months] == ["usd"] and row(only_usd.months[0]) == row(usd)
    before = recovery_report(h.engine, (base - 30 * DAY).date(), (base - DAY).date())
    assert before.months == []
