"""Payment events parse from Stripe's own example objects (fixtures3.json) into the attempt
they report, and a bad one is refused naming its field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from relance.contracts.events import SUPPORTED_EVENT_TYPES, InvalidEvent, InvoiceEvent, PaymentEvent, parse_event
from tests.support.events import charge, event, invoice, invoice_payment, payment_intent_failed, stripe_fixtures

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def parse(event_type: str, obj: dict) -> PaymentEvent:
    parsed = parse_event(event(event_type, obj, created=T0, event_id="evt_pay"))
    assert isinstance(parsed, PaymentEvent)
    return parsed


def test_the_four_types_are_supported() -> None:
    assert {"charge.succeeded", "charge.failed", "payment_intent.payment_failed", "invoice_payment.paid"} <= (
        SUPPORTED_EVENT_TYPES
    )


def test_stripes_charge_fixture_as_is() -> None:
    attempt = parse("charge.succeeded", stripe_fixtures()["charge"]).attempt
    assert attempt.key == attempt.charge_id == "ch_1PgafuB7WZ01zgkWXYmPNZs8"
    assert attempt.outcome == "succeeded"
    assert (attempt.method_type, attempt.brand, attempt.last4) == ("card", "visa", "4242")
    assert attempt.invoice_id is None and attempt.payment_intent_id is None
    assert attempt.failure_code is None
    assert attempt.paid_at == datetime.fromtimestamp(1234567890, tz=UTC)  # the charge's own time


def test_a_declined_charge_gives_the_banks_code() -> None:
    obj = charge("ch_1", invoice_id="in_1", payment_intent="pi_1", decline_code="insufficient_funds")
    attempt = parse("charge.failed", obj).attempt
    assert (attempt.outcome, attempt.failure_code) == ("failed", "insufficient_funds")
    assert (attempt.invoice_id, attempt.payment_intent_id) == ("in_1", "pi_1")
    assert attempt.paid_at is None and attempt.failure_message == "Your card was declined."
    blocked = dict(obj, outcome={"type": "blocked", "reason": "highest_risk_level"})
    assert parse("charge.failed", blocked).attempt.failure_code == "blocked"
    plain = dict(obj, outcome=None, failure_code="processing_error")
    assert parse("charge.failed", plain).attempt.failure_code == "processing_error"


def test_a_sepa_debit_and_a_wallet() -> None:
    sepa = parse("charge.succeeded", charge("ch_2", method="sepa_debit", last4="3000")).attempt
    assert (sepa.method_type, sepa.last4) == ("sepa_debit", "3000")
    paypal = parse("charge.succeeded", charge("ch_3", method="paypal")).attempt
    assert (paypal.method_type, paypal.last4) == ("paypal", None)


def test_stripes_payment_intent_fixture_and_a_failed_one() -> None:
    bare = parse("payment_intent.payment_failed", stripe_fixtures()["payment_intent"]).attempt
    assert bare.key == bare.payment_intent_id == "pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert bare.outcome == "failed" and not bare.has_details()
    failed = parse(
        "payment_intent.payment_failed", payment_intent_failed("pi_9", charge_id="ch_9", decline_code="expired_card")
    ).attempt
    # Keyed by its charge, so charge.failed of the same attempt merges into it.
    assert (failed.key, failed.charge_id, failed.payment_intent_id) == ("ch_9", "ch_9", "pi_9")
    assert (failed.failure_code, failed.brand, failed.last4) == ("expired_card", "mastercard", "4444")
    code_only = payment_intent_failed("pi_8", code="authentication_required")
    assert parse("payment_intent.payment_failed", code_only).attempt.failure_code == "authentication_required"


def test_stripes_invoice_payment_fixture_and_a_paid_one() -> None:
    fixture = parse("invoice_payment.paid", stripe_fixtures()["invoice_payment"]).attempt
    assert (fixture.invoice_id, fixture.outcome, fixture.paid_at) == ("invoice", "succeeded", T0)
    paid = parse("invoice_payment.paid", invoice_payment("inpay_1", "in_1", "pi_1")).attempt
    assert (paid.key, paid.invoice_id, paid.payment_intent_id) == ("pi_1", "in_1", "pi_1")
    assert not paid.has_details()


def payments_of(payments: object) -> list[str]:
    parsed = parse_event(event("invoice.payment_failed", dict(invoice("in_1"), payments=payments), created=T0))
    assert isinstance(parsed, InvoiceEvent)
    return parsed.invoice.payment_intent_ids


def test_the_invoices_payments_list_names_its_payment_intents() -> None:
    """API versions from 2025-03-31: `invoice.payments`, when expanded, lists the invoice
    payments; each names a payment intent, or a charge."""
    listed = {
        "object": "list",
        "data": [
            dict(invoice_payment("inpay_1", "in_1", "pi_1"), amount_paid=None, is_default=False, status="canceled"),
            {
                "id": "inpay_2",
                "object": "invoice_payment",
                "payment": {"type": "payment_intent", "payment_intent": {"id": "pi_2", "object": "payment_intent"}},
                "status": "open",
                "amount_paid": 0,
                "is_default": True,
                "status_transitions": {"paid_at": None},
            },
            {"id": "inpay_3", "payment": {"type": "charge", "charge": "ch_3"}, "status": "paid"},
            dict(invoice_payment("inpay_4", "in_1", "pi_1")),
        ],
        "has_more": False,
        "url": "/v1/invoice_payments?invoice=in_1",
    }
    assert payments_of(listed) == ["pi_1", "pi_2"]
    assert payments_of(listed["data"]) == ["pi_1", "pi_2"]


@pytest.mark.parametrize(
    "payments",
    [None, "/v1/invoice_payments?invoice=in_1", {"object": "list", "url": "/v1/invoice_payments"}, ["inpay_1"], []],
)
def test_an_absent_or_unexpanded_payments_list_names_none(payments: object) -> None:
    assert payments_of(payments) == []
    bare = parse_event(event("invoice.finalized", invoice("in_1", payment_intent="pi_old")))
    assert isinstance(bare, InvoiceEvent) and bare.invoice.payment_intent_ids == ["pi_old"]


@pytest.mark.parametrize(
    ("event_type", "change", "field"),
    [
        ("charge.failed", {"id": ""}, "data.object.id"),
        (
            "charge.failed",
            {"payment_method_details": {"type": "card", "card": {"last4": 4242}}},
            "data.object.payment_method_details.last4",
        ),
        ("charge.succeeded", {"created": "yesterday"}, "data.object.created"),
        ("invoice_payment.paid", {"invoice": None}, "data.object.invoice"),
        ("payment_intent.payment_failed", {"last_payment_error": "declined"}, "data.object.last_payment_error"),
    ],
)
def test_a_bad_object_names_its_field(event_type: str, change: dict, field: str) -> None:
    base = {
        "charge.failed": charge("ch_x", decline_code="card_declined"),
        "charge.succeeded": charge("ch_x"),
        "invoice_payment.paid": invoice_payment("inpay_x", "in_x", "pi_x"),
        "payment_intent.payment_failed": payment_intent_failed("pi_x"),
    }[event_type]
    obj = copy.deepcopy(base)
    obj.update(change)
    with pytest.raises(InvalidEvent) as err:
        parse_event(event(event_type, obj))
    assert err.value.field == field
