"""Refunds and credit notes name the invoice they belong to, in the email and in the email
log, whichever event says it first; a refund no event has tied to a customer yet is
logged and listed by the API. On the time-skipping server with a real worker."""

from __future__ import annotations

import logging
from datetime import timedelta

from tests.api.test_api import app_for, http_for
from tests.support.events import customer, event, invoice, stripe_fixtures
from tests.support.harness import Harness
from tests.support.mail import body_text

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def refund(refund_id: str, charge_id: str, customer_id: str | None = None, amount: int = 500) -> dict:
    return dict(
        stripe_fixtures()["refund"], id=refund_id, charge=charge_id, customer=customer_id, amount=amount, currency="eur"
    )


def charge(charge_id: str, invoice_id: str | None, amount_refunded: int = 500) -> dict:
    return dict(
        stripe_fixtures()["charge"],
        id=charge_id,
        customer="cus_test",
        invoice=invoice_id,
        amount_refunded=amount_refunded,
        currency="eur",
        refunds={"object": "list", "data": [], "has_more": False},
    )


async def with_invoice(h: Harness, invoice_id: str, number: str) -> None:
    now = await h.now()
    await h.send(
        event("customer.created", customer("cus_test"), created=now - DAY),
        event("invoice.finalized", invoice(invoice_id, due=now + 30 * DAY, number=number), created=now),
    )


def the_refund_email(h: Harness) -> tuple[str | None, str]:
    [entry] = h.sent("refund_issued")
    [msg] = [m for m in h.outbox_messages() if "refund" in m["Subject"].lower()]
    return entry.invoice_id, body_text(msg, "plain")


async def test_refund_created_first_names_the_charge_invoice(harness: Harness) -> None:
    h = harness
    await with_invoice(h, "in_r1", "INV-R1")
    now = await h.now()
    await h.send(event("refund.created", refund("re_r1", "ch_r1"), created=now))
    await h.send(event("charge.refunded", charge("ch_r1", "in_r1"), created=now))
    await h.advance(DAY, step=timedelta(hours=6))
    invoice_id, text = the_refund_email(h)
    assert invoice_id == "in_r1"
    assert "for invoice INV-R1" in text


async def test_charge_refunded_first_names_the_invoice(harness: Harness) -> None:
    h = harness
    await with_invoice(h, "in_r2", "INV-R2")
    now = await h.now()
    await h.send(event("charge.refunded", charge("ch_r2", "in_r2"), created=now))
    await h.send(event("refund.created", refund("re_r2", "ch_r2"), created=now))
    await h.advance(DAY, step=timedelta(hours=6))
    invoice_id, text = the_refund_email(h)
    assert invoice_id == "in_r2"
    assert "for invoice INV-R2" in text


async def test_refund_with_its_customer_waits_for_the_charge_to_name_the_invoice(harness: Harness) -> None:
    h = harness
    await with_invoice(h, "in_r3", "INV-R3")
    await h.send(event("refund.created", refund("re_r3", "ch_r3", customer_id="cus_test"), created=await h.now()))
    assert h.sent("refund_issued") == []  # inside the pairing window: the charge may still come
    await h.env.sleep(MINUTE)
    await h.send(event("charge.refunded", charge("ch_r3", "in_r3"), created=await h.now()))
    await h.advance(DAY, step=timedelta(hours=6))
    invoice_id, text = the_refund_email(h)
    assert invoice_id == "in_r3"
    assert "for invoice INV-R3" in text


async def test_refund_without_a_charge_is_emailed_after_the_window_without_an_invoice(harness: Harness) -> None:
    h = harness
    await with_invoice(h, "in_r4", "INV-R4")
    await h.send(event("refund.created", refund("re_r4", "ch_r4", customer_id="cus_test"), created=await h.now()))
    await h.advance(DAY, step=timedelta(minutes=30))
    invoice_id, text = the_refund_email(h)
    assert invoice_id is None
    assert "has refunded €5.00 to your original payment method" in text


async def test_unattributed_refund_is_logged_and_listed_until_its_charge_comes(harness: Harness, caplog) -> None:
    h = harness
    caplog.set_level(logging.INFO, logger="relance.refunds")
    await with_invoice(h, "in_r5", "INV-R5")
    await h.send(event("refund.created", refund("re_r5", "ch_r5", amount=700), created=await h.now()))
    await h.advance(timedelta(hours=2), step=timedelta(minutes=30))
    assert h.sent("refund_issued") == []
    said = [r.getMessage() for r in caplog.records if r.name == "relance.refunds"]
    assert len(said) == 1 and "re_r5" in said[0] and "ch_r5" in said[0], said
    async with http_for(app_for(h)) as http:
        listed = await http.get("/v1/refunds", params={"unattributed": "true"})
        assert listed.status_code == 200, listed.text
        [held] = listed.json()
        assert held["charge_id"] == "ch_r5"
        assert [(r["id"], r["amount"], r["currency"]) for r in held["refunds"]] == [("re_r5", 700, "eur")]
        assert (await http.get("/v1/refunds", params={"unattributed": "false"})).status_code == 400
        assert (await http_for(app_for(h), key=None).get("/v1/refunds?unattributed=true")).status_code == 401

        await h.send(event("charge.refunded", charge("ch_r5", "in_r5", amount_refunded=700), created=await h.now()))
        await h.advance(DAY, step=timedelta(hours=6))
        invoice_id, text = the_refund_email(h)
        assert invoice_id == "in_r5"
        assert "for invoice INV-R5" in text
        assert (await http.get("/v1/refunds", params={"unattributed": "true"})).json() == []


async def test_credit_note_names_its_invoice_in_the_email_and_the_log(harness: Harness) -> None:
    h = harness
    await with_invoice(h, "in_c1", "INV-C1")
    cn = dict(stripe_fixtures()["credit_note"], customer="cus_test", id="cn_c1", invoice="in_c1")
    await h.send(event("credit_note.created", cn, created=await h.now()))
    [entry] = h.sent("credit_note_created")
    assert entry.invoice_id == "in_c1"
    [msg] = [m for m in h.outbox_messages() if "credit note" in m["Subject"].lower()]
    assert "for invoice INV-C1" in body_text(msg, "plain")
