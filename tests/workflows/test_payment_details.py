"""The method and outcome of each payment attempt, in the failure notice and the receipt,
whichever of the charge's and the invoice's events comes first. Real workflows and
activities on the time-skipping server; the emails read from the outbox."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from email.message import EmailMessage

import pytest
from pypdf import PdfReader

from relance.rules.payment_attempts import DETAILS_WAIT
from tests.support.events import charge, customer, event, invoice, invoice_payment, payment_intent_failed
from tests.support.harness import Harness

SECOND = timedelta(seconds=1)


def auto_invoice(inv_id: str, **kw) -> dict:
    return invoice(inv_id, collection_method="charge_automatically", **kw)


def paid(obj: dict) -> dict:
    return dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def messages_of(h: Harness, kind_subject: str) -> list[EmailMessage]:
    return [m for m in h.outbox_messages() if kind_subject in str(m["Subject"])]


async def with_customer(h: Harness, locale: str = "en") -> datetime:
    await h.send(event("customer.created", customer("cus_test", locales=[locale])))
    return await h.now()


async def primed(h: Harness, inv_id: str, retry_in: timedelta | None = None, **kw) -> tuple[datetime, dict]:
    """A customer, and a deployment that is sent payment events (an earlier invoice's
    charge); then an automatically charged invoice, retried after `retry_in`."""
    now = await with_customer(h, kw.pop("locale", "en"))
    await prime(h, now)
    retry = now + retry_in if retry_in else None
    return now, auto_invoice(inv_id, next_payment_attempt=retry, **kw)


async def prime(h: Harness, now: datetime) -> None:
    """This deployment is sent payment events: an earlier invoice's charge."""
    await h.send(
        event("charge.succeeded", charge("ch_earlier", invoice_id="in_earlier"), created=now - timedelta(days=30))
    )


async def test_charge_before_the_invoice_event_names_the_card_and_the_reason(harness: Harness) -> None:
    h = harness
    now = await with_customer(h)
    inv = auto_invoice("in_pay1", attempt_count=1, next_payment_attempt=now + timedelta(days=3))
    await h.send(
        event("invoice.finalized", inv, created=now),
        event(
            "charge.failed",
            charge("ch_pay1", invoice_id="in_pay1", decline_code="insufficient_funds"),
            created=now + SECOND,
        ),
        event("invoice.payment_failed", inv, created=now + 2 * SECOND),
    )
    [sent] = h.sent("payment_failed")
    [message] = h.outbox_messages()
    body = text_of(message)
    assert "with Visa •••• 4242." in body
    assert "Your bank declined the payment because of insufficient funds." in body
    assert "We'll try again on" in body
    assert str(message["Subject"]) == "Payment failed for invoice INV-n_pay1"
    assert "Final" not in str(message["Subject"])
    assert sent.scheduled_at is not None


async def test_charge_after_the_invoice_event_is_waited_for(harness: Harness) -> None:
    h = harness
    now, inv = await primed(h, "in_pay2", attempt_count=4, payment_intent="pi_pay2")
    await h.send(
        event("invoice.finalized", inv, created=now), event("invoice.payment_failed", inv, created=now + SECOND)
    )
    assert h.sent("payment_failed") == []  # waiting for the charge's own event
    pending = await h.temporal.get_workflow_handle("invoice-in_pay2").query("pending_emails")
    assert [p["kind"] for p in pending] == ["payment_failed"]
    # A newer API's charge: it names the payment intent only, not the invoice.
    await h.send(
        event(
            "charge.failed",
            charge("ch_pay2", payment_intent="pi_pay2", decline_code="expired_card"),
            created=now + 3 * SECOND,
        )
    )
    [message] = h.outbox_messages()
    body = text_of(message)
    assert str(message["Subject"]) == "Final payment attempt failed for invoice INV-n_pay2"
    assert "Your final payment attempt didn't go through" in body
    assert "This was our final automatic attempt to collect this payment." in body
    assert "with Visa •••• 4242." in body
    assert "The card has expired." in body


async def test_no_details_in_time_sends_the_generic_wording(harness: Harness) -> None:
    h = harness
    now, inv = await primed(h, "in_pay3", timedelta(days=3), attempt_count=1)
    await h.send(
        event("invoice.finalized", inv, created=now), event("invoice.payment_failed", inv, created=now + SECOND)
    )
    assert h.sent("payment_failed") == []
    await h.advance(DETAILS_WAIT + 10 * SECOND, step=DETAILS_WAIT)
    [message] = h.outbox_messages()
    body = text_of(message)
    assert "We couldn't process your payment of" in body and "••••" not in body
    # A charge that comes later still finds its invoice, for the next email.
    await h.send(
        event(
            "charge.failed",
            charge("ch_pay3", invoice_id="in_pay3", decline_code="do_not_honor"),
            created=now + 5 * SECOND,
        )
    )
    assert len(h.outbox_messages()) == 1


async def test_payment_intent_failure_and_a_sepa_receipt(harness: Harness) -> None:
    h = harness
    now, inv = await primed(h, "in_pay4", timedelta(days=2), locale="fr-FR", attempt_count=1, payment_intent="pi_pay4")
    await h.send(
        event("invoice.finalized", inv, created=now),
        event(
            "payment_intent.payment_failed",
            payment_intent_failed("pi_pay4", decline_code="incorrect_cvc"),
            created=now + SECOND,
        ),
        event("invoice.payment_failed", inv, created=now + 2 * SECOND),
    )
    [failure] = h.outbox_messages()
    body = text_of(failure)
    assert "Mastercard •••• 4444" in body
    assert "(CVC)" in body
    later = now + timedelta(days=2)
    await h.send(
        event("invoice.paid", paid(dict(inv, receipt_number="2711-4455")), created=later),
        event(
            "charge.succeeded",
            charge("ch_pay4", payment_intent="pi_pay4", method="sepa_debit", last4="3000"),
            created=later + SECOND,
        ),
    )
    receipt = h.outbox_messages()[-1]
    text = text_of(receipt)
    assert "SEPA Debit •••• 3000" in text
    assert "2711-4455" in text


async def test_receipt_waits_for_the_charge_tied_through_the_invoice_payment(harness: Harness) -> None:
    """API versions from 2025-03-31: the invoice names no payment intent and the charge
    no invoice; the invoice payment ties them."""
    h = harness
    now, inv = await primed(h, "in_pay5", locale="de-DE", receipt_number="1234-5678")
    await h.send(event("invoice.finalized", inv, created=now), event("invoice.paid", paid(inv), created=now + SECOND))
    assert h.sent("receipt") == []
    await h.send(
        event("invoice_payment.paid", invoice_payment("inpay_5", "in_pay5", "pi_pay5"), created=now + 2 * SECOND)
    )
    assert h.sent("receipt") == []  # it says that it was paid, not how
    await h.send(event("charge.succeeded", charge("ch_pay5", payment_intent="pi_pay5"), created=now + 3 * SECOND))
    [receipt] = h.outbox_messages()
    text = text_of(receipt)
    assert "Visa •••• 4242" in text
    assert "1234-5678" in text
    # The receipt PDF states it too, from the same payment facts.
    pdfs = {
        part.get_filename(): part.get_payload(decode=True)
        for part in receipt.iter_attachments()
        if part.get_content_type() == "application/pdf"
    }
    receipt_pdf = next(body for name, body in pdfs.items() if name.lower().startswith(("quittung", "receipt")))
    page = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(receipt_pdf)).pages)
    assert "Visa •••• 4242" in page and "1234-5678" in page, page


async def test_duplicate_and_reordered_payment_events_send_one_email(harness: Harness) -> None:
    h = harness
    now, inv = await primed(h, "in_pay6", timedelta(days=3), attempt_count=1)
    failed = event(
        "charge.failed", charge("ch_pay6", invoice_id="in_pay6", decline_code="lost_card"), created=now + SECOND
    )
    await h.send(
        event("invoice.finalized", inv, created=now), event("invoice.payment_failed", inv, created=now + 2 * SECOND)
    )
    await h.send(failed, failed)
    [message] = h.outbox_messages()
    body = text_of(message)
    assert "Your bank can't accept payments with this card at the moment." in body
    assert "lost" not in body.lower() and "stolen" not in body.lower()


def payments_list(inv_id: str, intent_id: str) -> dict:
    """`invoice.payments` as an API version from 2025-03-31 sends it, expanded."""
    entry = dict(invoice_payment(f"inpay_{inv_id}", inv_id, intent_id), status="open", amount_paid=None)
    return {"object": "list", "data": [dict(entry, is_default=True)], "has_more": False}


@pytest.mark.parametrize("charge_first", [True, False], ids=["charge_first", "invoice_first"])
async def test_the_invoices_payments_list_ties_a_charge_that_names_only_its_intent(
    harness: Harness, charge_first: bool
) -> None:
    """Neither the invoice (no `payment_intent`) nor the charge (no `invoice`) names the
    other, and no invoice_payment event comes: the invoice's own payments list ties them,
    whichever comes first; the invoice's repeated event changes nothing."""
    h = harness
    now, inv = await primed(h, "in_pay7", timedelta(days=3), attempt_count=1)
    failed_inv = dict(inv, payments=payments_list("in_pay7", "pi_pay7"))
    failed_charge = event(
        "charge.failed",
        charge("ch_pay7", payment_intent="pi_pay7", decline_code="insufficient_funds", last4="0341"),
        created=now + 2 * SECOND,
    )
    invoice_failed = event("invoice.payment_failed", failed_inv, created=now + 3 * SECOND)
    await h.send(event("invoice.finalized", inv, created=now))
    if charge_first:
        await h.send(failed_charge, invoice_failed, invoice_failed)
    else:
        await h.send(invoice_failed)
        assert h.sent("payment_failed") == []  # waiting for the charge's own event
        await h.send(failed_charge, invoice_failed)
    [message] = h.outbox_messages()
    body = text_of(message)
    assert "with Visa •••• 0341." in body
    assert "Your bank declined the payment because of insufficient funds." in body


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


async def test_the_3d_secure_notice_names_the_method_to_confirm(harness: Harness) -> None:
    """invoice.payment_action_required: the off-session try failed with
    authentication_required; its charge names the card to confirm, in the HTML and the
    text part. Another invoice's notice, whose charge never comes, keeps the generic
    sentence once the wait for it is over."""
    h = harness
    now, inv = await primed(h, "in_pay8", timedelta(days=3), locale="fr-FR", attempt_count=1)
    await h.send(
        event("invoice.finalized", inv, created=now),
        event(
            "charge.failed",
            charge("ch_pay8", payment_intent="pi_pay8", decline_code="authentication_required", last4="3184"),
            created=now + SECOND,
        ),
        event(
            "invoice.payment_action_required",
            dict(inv, payments=payments_list("in_pay8", "pi_pay8")),
            created=now + 2 * SECOND,
        ),
    )
    [message] = h.outbox_messages()
    text, html = text_of(message), html_of(message)
    assert "Votre banque vous demande de confirmer le paiement de" in text
    assert "pour la facture INV-n_pay8 avec Visa •••• 3184." in text
    assert "Visa •••• 3184" in html and "avec" in html
    assert "Moyen de paiement" in text

    other = auto_invoice("in_pay9", attempt_count=1)
    later = now + timedelta(hours=3)
    await h.send(
        event("invoice.finalized", other, created=later),
        event("invoice.payment_action_required", other, created=later + SECOND),
    )
    await h.advance(DETAILS_WAIT + 10 * SECOND, step=DETAILS_WAIT)  # no charge of its own comes
    [_, generic] = h.outbox_messages()
    text = text_of(generic)
    assert "pour la facture INV-n_pay9." in text and "••••" not in text
    assert "••••" not in html_of(generic)


async def test_the_3d_secure_notice_waits_for_a_charge_that_comes_after_it(harness: Harness) -> None:
    h = harness
    now, inv = await primed(h, "in_pay10", timedelta(days=3), attempt_count=1, payment_intent="pi_pay10")
    await h.send(
        event("invoice.finalized", inv, created=now),
        event("invoice.payment_action_required", inv, created=now + SECOND),
    )
    assert h.sent("payment_action_required") == []  # waiting for the charge's own event
    await h.send(
        event(
            "charge.failed",
            charge("ch_pay10", payment_intent="pi_pay10", decline_code="authentication_required", last4="3220"),
            created=now + 2 * SECOND,
        )
    )
    [message] = h.outbox_messages()
    text = text_of(message)
    assert "for invoice INV-_pay10 with Visa •••• 3220." in text, text
    assert "Visa •••• 3220" in html_of(message)
