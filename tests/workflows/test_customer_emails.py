"""Customer-level lifecycles on the time-skipping server: card expiring, trial ending,
subscription canceled, credit notes, refunds (one email per refund, not two)."""

from __future__ import annotations

import asyncio
import copy
import logging
from datetime import UTC, datetime, time, timedelta

import pytest

from activities.emails import CUSTOMER_WAIT
from tests.support.events import customer, event, invoice, stripe_fixtures
from tests.support.harness import Harness
from tests.support.mail import body_text

DAY = timedelta(days=1)


def card_pm(pm_id: str, exp_month: int, exp_year: int, customer_id: str = "cus_test") -> dict:
    obj = copy.deepcopy(stripe_fixtures()["payment_method"])
    obj.update(id=pm_id, customer=customer_id)
    obj["card"].update(exp_month=exp_month, exp_year=exp_year, last4="4242", brand="visa")
    return obj


def subscription(sub_id: str, trial_end: datetime | None, status: str = "trialing") -> dict:
    obj = copy.deepcopy(stripe_fixtures()["subscription"])
    obj.update(
        id=sub_id, customer="cus_test", status=status, trial_end=int(trial_end.timestamp()) if trial_end else None
    )
    obj["items"]["data"][0]["price"]["nickname"] = "Pro plan"
    return obj


def next_month(now: datetime, months: int = 1) -> tuple[int, int]:
    m = now.month - 1 + months
    return now.year + m // 12, m % 12 + 1


async def with_customer(h: Harness) -> None:
    await h.send(event("customer.created", customer("cus_test"), created=await h.now() - DAY))


def the_card_email(h: Harness, year: int, month: int):
    """The one card email sent: at 09:00 UTC on the 1st of the expiry month, naming the card."""
    [sent] = h.sent("card_expiring")
    assert sent.scheduled_at.replace(tzinfo=UTC) == datetime(year, month, 1, 9, tzinfo=UTC)
    [msg] = h.outbox_messages()
    assert "4242" in body_text(msg, "plain")
    return sent


async def test_card_expiring_on_first_of_expiry_month(harness: Harness) -> None:
    h = harness
    h.save_settings(timezone="UTC", send_hour=9)
    await with_customer(h)
    now = await h.now()
    year, month = next_month(now, 2)
    await h.send(event("payment_method.attached", card_pm("pm_exp1", month, year), created=now))
    await h.advance(timedelta(days=70), step=timedelta(days=5))
    the_card_email(h, year, month)


async def test_card_notice_cancelled_by_detach_and_moved_by_new_expiry(harness: Harness) -> None:
    h = harness
    await with_customer(h)
    now = await h.now()
    y1, m1 = next_month(now, 1)
    y2, m2 = next_month(now, 3)
    await h.send(event("payment_method.attached", card_pm("pm_det1", m1, y1), created=now))
    await h.send(
        event(
            "payment_method.detached",
            dict(card_pm("pm_det1", m1, y1), customer=None),
            created=now + timedelta(seconds=1),
        )
    )
    await h.send(event("payment_method.attached", card_pm("pm_upd1", m1, y1), created=now))
    await h.send(event("payment_method.updated", card_pm("pm_upd1", m2, y2), created=now + timedelta(seconds=1)))
    await h.advance(timedelta(days=100), step=timedelta(days=5))
    sent = h.sent("card_expiring")
    assert [e.idempotency_key for e in sent] == [f"pm_upd1:card_expiring:{y2}-{m2:02d}"]


async def test_card_updated_by_the_network_gets_its_notice_for_the_new_expiry(harness: Harness) -> None:
    """payment_method.automatically_updated: the card network renewed the card (same id,
    new expiry). No notice for the old expiry, and one for the new, since no other event
    will come for this card (ending the card's workflow here would mean no notice ever)."""
    h = harness
    h.save_settings(timezone="UTC", send_hour=9)
    await with_customer(h)
    now = await h.now()
    y1, m1 = next_month(now, 1)
    y2, m2 = next_month(now, 4)
    await h.send(event("payment_method.attached", card_pm("pm_auto1", m1, y1), created=now))
    await h.send(
        event("payment_method.automatically_updated", card_pm("pm_auto1", m2, y2), created=now + timedelta(seconds=1))
    )
    await h.send(event("payment_method.attached", card_pm("pm_auto1", m1, y1), created=now))  # late duplicate
    await h.advance(timedelta(days=70), step=timedelta(days=5))
    assert h.sent("card_expiring") == []
    await h.advance(timedelta(days=70), step=timedelta(days=5))
    assert the_card_email(h, y2, m2).idempotency_key == f"pm_auto1:card_expiring:{y2}-{m2:02d}"


async def test_trial_ending_seven_days_before_and_rescheduled(harness: Harness) -> None:
    h = harness
    h.save_settings(timezone="UTC", send_hour=9)
    await with_customer(h)
    now = await h.now()
    trial_end = datetime.combine((now + 20 * DAY).date(), time(15), tzinfo=UTC)
    await h.send(event("customer.subscription.created", subscription("sub_t1", trial_end), created=now))
    await h.advance(5 * DAY)
    moved = trial_end + 10 * DAY
    await h.send(event("customer.subscription.updated", subscription("sub_t1", moved), created=await h.now()))
    await h.advance(30 * DAY, step=DAY)
    [sent] = h.sent("trial_ending")
    expected = datetime.combine((moved - 7 * DAY).date(), time(9), tzinfo=UTC)
    assert sent.scheduled_at.replace(tzinfo=UTC) == expected


async def test_no_trial_email_when_canceled_first_and_canceled_email_sent(harness: Harness) -> None:
    h = harness
    await with_customer(h)
    now = await h.now()
    sub = subscription("sub_c1", now + 30 * DAY)
    await h.send(event("customer.subscription.created", sub, created=now))
    await h.send(event("customer.subscription.deleted", dict(sub, status="canceled"), created=now + DAY))
    await h.advance(40 * DAY, step=5 * DAY)
    assert [e.kind for e in h.sent()] == ["subscription_canceled"]


async def test_credit_note_with_pdf(harness: Harness) -> None:
    h = harness
    await with_customer(h)
    cn = dict(stripe_fixtures()["credit_note"], customer="cus_test", id="cn_t1")
    created = event("credit_note.created", cn, created=await h.now())
    await h.send(created, created)
    [sent] = h.sent("credit_note_created")
    assert [a["kind"] for a in sent.attachments] == ["credit_note"]
    [msg] = h.outbox_messages()
    [pdf] = [p for p in msg.iter_attachments()]
    assert pdf.get_content().startswith(b"%PDF")


async def test_refund_reported_twice_is_emailed_once(harness: Harness) -> None:
    h = harness
    await with_customer(h)
    now = await h.now()
    refund = dict(stripe_fixtures()["refund"], id="re_t1", charge="ch_t1", customer=None, amount=500, currency="eur")
    charge = dict(
        stripe_fixtures()["charge"],
        id="ch_t1",
        customer="cus_test",
        amount_refunded=500,
        currency="eur",
        refunds={"object": "list", "data": [], "has_more": False},
    )
    await h.send(event("refund.created", refund, created=now), event("charge.refunded", charge, created=now))
    await h.advance(DAY)
    # A second refund on the same charge, reported charge first this time.
    refund2 = dict(refund, id="re_t2", amount=300)
    await h.send(event("charge.refunded", dict(charge, amount_refunded=800), created=await h.now()))
    await h.send(event("refund.created", refund2, created=await h.now()))
    await h.advance(2 * DAY)
    sent = h.sent("refund_issued")
    assert sorted(e.idempotency_key for e in sent) == ["refund:re_t1:refund_issued", "refund:re_t2:refund_issued"]


async def test_refund_known_only_from_charge_is_emailed_after_pairing_window(harness: Harness) -> None:
    h = harness
    await with_customer(h)
    charge = dict(
        stripe_fixtures()["charge"], id="ch_t3", customer="cus_test", amount_refunded=250, currency="usd", refunds=None
    )
    await h.send(event("charge.refunded", charge, created=await h.now()))
    assert h.sent("refund_issued") == []
    await h.advance(DAY, step=timedelta(minutes=30))
    [sent] = h.sent("refund_issued")
    assert "2.50" in body_text(h.outbox_messages()[0], "plain")


async def test_trial_ending_and_canceled_emails_carry_the_customer_cc(harness: Harness) -> None:
    h = harness
    now = await h.now()
    # The To address in the CC list too: kept in To only.
    cust = customer("cus_test", cc_emails=["cfo@customer.test", "ada@customer.test", "ops@customer.test"])
    await h.send(event("customer.created", cust, created=now - DAY))
    sub = subscription("sub_cc1", now + 10 * DAY)
    await h.send(event("customer.subscription.created", sub, created=now))
    await h.advance(5 * DAY)  # the trial notice is due 7 days before the trial ends
    await h.send(event("customer.subscription.deleted", dict(sub, status="canceled"), created=await h.now()))
    assert [e.kind for e in h.sent()] == ["trial_ending", "subscription_canceled"]
    messages = h.outbox_messages()
    assert len(messages) == 2
    for msg in messages:
        assert [a.addr_spec for a in msg["To"].addresses] == ["ada@customer.test"]
        assert [a.addr_spec for a in msg["Cc"].addresses] == ["cfo@customer.test", "ops@customer.test"]
    assert all(e.cc == ["cfo@customer.test", "ops@customer.test"] for e in h.sent())


async def test_legacy_card_source_expiring_sends_the_card_email(harness: Harness) -> None:
    h = harness
    h.save_settings(timezone="UTC", send_hour=9)
    now = await h.now()
    year, month = next_month(now)
    first = datetime(year, month, 1, 0, 30, tzinfo=UTC)
    await h.env.sleep(first - now)  # Stripe sends customer.source.expiring early in the expiry month
    await with_customer(h)
    source = dict(stripe_fixtures()["card"], id="card_src1", customer="cus_test", exp_month=month, exp_year=year)
    await h.send(event("customer.source.expiring", source, created=await h.now()))
    assert h.sent() == []  # before the send time
    await h.advance(DAY, step=timedelta(hours=3))
    assert the_card_email(h, year, month).idempotency_key == f"card_src1:card_expiring:{year}-{month:02d}"


async def test_trial_will_end_sends_trial_ending_once(harness: Harness) -> None:
    h = harness
    await with_customer(h)
    now = await h.now()
    # Known only from trial_will_end (3 days before the end, past the 7-day notice): sent at once.
    late = subscription("sub_twe1", now + 3 * DAY)
    will_end = event("customer.subscription.trial_will_end", late, created=now)
    await h.send(will_end, will_end)
    assert [e.idempotency_key for e in h.sent("trial_ending")] == [f"sub_twe1:trial_ending:{late['trial_end']}"]
    # Known from its creation: the notice went out 7 days before; trial_will_end adds nothing.
    early = subscription("sub_twe2", now + 10 * DAY)
    await h.send(event("customer.subscription.created", early, created=now))
    await h.advance(7 * DAY)
    await h.send(event("customer.subscription.trial_will_end", early, created=await h.now()))
    await h.advance(5 * DAY)
    assert sorted(e.idempotency_key for e in h.sent()) == [
        f"sub_twe1:trial_ending:{late['trial_end']}",
        f"sub_twe2:trial_ending:{early['trial_end']}",
    ]
    assert all("Pro plan" in body_text(m, "plain") for m in h.outbox_messages())


async def test_customer_never_seen_gets_emails_at_the_address_of_its_invoices(harness: Harness) -> None:
    """A customer that existed before Relance was plugged in: no customer event, so no
    customer record. Emails with no invoice of their own go to the address its invoices
    carry (the related invoice's for a credit note, else the newest); none at all is
    still a failure with its reason, never a crash."""
    h = harness
    h.save_settings(reminders=[])
    now = await h.now()
    old = invoice("in_old1", "cus_legacy", email="old@legacy.test", status="paid")
    new = invoice("in_new1", "cus_legacy", email="ap@legacy.test", status="paid")
    await h.send(event("invoice.paid", old, created=now - 40 * DAY), event("invoice.paid", new, created=now - DAY))
    sub = dict(subscription("sub_legacy", None, status="active"), customer="cus_legacy")
    await h.send(event("customer.subscription.deleted", dict(sub, status="canceled"), created=now))
    cn = dict(stripe_fixtures()["credit_note"], customer="cus_legacy", id="cn_legacy", invoice="in_old1")
    await h.send(event("credit_note.created", cn, created=now))
    orphan = dict(subscription("sub_orphan", None, status="active"), customer="cus_nobody")
    await h.send(event("customer.subscription.deleted", dict(orphan, status="canceled"), created=now), settle_all=False)
    # No address anywhere for cus_nobody: its email waits for a customer event that may be
    # late (CUSTOMER_WAIT), then fails. One step: the workflow is busy until then.
    await h.advance(CUSTOMER_WAIT + timedelta(minutes=10), step=CUSTOMER_WAIT + timedelta(minutes=10))
    by_kind = {(e.customer_id, e.kind): e for e in h.log()}
    canceled = by_kind[("cus_legacy", "subscription_canceled")]
    assert canceled.status == "sent" and canceled.to == ["ap@legacy.test"]  # the newest invoice's
    credit = by_kind[("cus_legacy", "credit_note_created")]
    assert credit.status == "sent" and credit.to == ["old@legacy.test"]  # the invoice it credits
    nobody = by_kind[("cus_nobody", "subscription_canceled")]
    assert nobody.status == "failed" and nobody.error == "the customer has no email address"


async def _prepare_failure(h: Harness, workflow_id: str) -> str:
    """The pending prepare_email's last failure, once it has failed."""
    handle = h.temporal.get_workflow_handle(workflow_id)
    for _ in range(300):
        desc = await handle.describe()
        pending = [a for a in desc.raw_description.pending_activities if a.activity_type.name == "prepare_email"]
        if pending and pending[0].attempt > 1:
            return pending[0].last_failure.message
        await asyncio.sleep(0.1)
    raise AssertionError("prepare_email never retried")


async def test_an_invoice_before_its_customer_waits_for_the_customer_address(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Out of order: an invoice with no address of its own, then its customer's
    customer.created minutes later (a backend sending concurrently, a redelivered
    event). The invoice email waits for the customer, with nothing logged, instead of
    failing for want of a recipient, and goes to the customer's address."""
    h = harness
    caplog.set_level(logging.INFO)
    h.save_settings(reminders=[], attach_pdf=False)
    now = await h.now()
    await h.send(
        event("invoice.finalized", invoice("in_early", "cus_late", due=now + 30 * DAY, email=None), created=now),
        settle_all=False,
    )
    failure = await _prepare_failure(h, "invoice-in_early")
    assert "customer cus_late is not known yet" in failure
    assert h.log() == []
    await h.env.sleep(timedelta(minutes=20))  # the customer event is late
    await h.send(
        event("customer.created", customer("cus_late", email="late@customer.test"), created=now), settle_all=False
    )
    # One step: the workflow is busy (retrying) until the next attempt, at most 5 min away.
    await h.advance(timedelta(minutes=10), step=timedelta(minutes=10))
    [entry] = h.log()
    assert (entry.kind, entry.status, entry.to) == ("invoice_finalized", "sent", ["late@customer.test"])
    [msg] = h.outbox_messages()
    assert msg["To"] == "late@customer.test"
    # An expected wait: said once, by Relance, not as a warning for every retry.
    waits = [r for r in caplog.records if "not known yet" in r.getMessage()]
    assert [(r.name, r.levelno) for r in waits if r.levelno > logging.DEBUG] == [("relance.delivery", logging.INFO)]
