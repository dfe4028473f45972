"""Payment attempts merge in any order and repeat harmlessly, and are found for their
invoice however they were tied to it, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from relance.contracts.events import Invoice, PaymentEvent, parse_event
from relance.contracts.models import PaymentSignal
from relance.services.payments import failed_payment_facts, receipt_payment_facts
from relance.storage.database import get_engine, session_scope
from relance.storage.payments import (
    link_payment_intent,
    payment_details_known,
    payment_facts_for,
    receives_payment_events,
    record_payment_event,
)
from tests.support.events import charge, event, invoice, invoice_payment, payment_intent_failed

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        return get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    return get_engine(request.getfixturevalue("postgres_url"))


def signal(event_type: str, obj: dict, created: datetime, event_id: str) -> PaymentSignal:
    parsed = parse_event(event(event_type, obj, created=created, event_id=event_id))
    assert isinstance(parsed, PaymentEvent)
    return PaymentSignal(event_id=parsed.id, type=parsed.type, created=parsed.created, attempt=parsed.attempt)


# One failed attempt told three ways: the charge (names the invoice, older API), the
# payment intent (a different card detail shape, the same charge), and a later retry.
ATTEMPT = [
    signal(
        "charge.failed",
        charge("ch_1", invoice_id="in_1", payment_intent="pi_1", decline_code="insufficient_funds"),
        T0,
        "evt_1",
    ),
    signal(
        "payment_intent.payment_failed",
        payment_intent_failed("pi_1", charge_id="ch_1", decline_code="insufficient_funds"),
        T0 + SECOND,
        "evt_2",
    ),
    signal(
        "charge.failed",
        charge("ch_2", payment_intent="pi_1", decline_code="expired_card"),
        T0 + timedelta(days=3),
        "evt_3",
    ),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_any_order_and_duplicates_give_the_same_facts(engine, order) -> None:
    with session_scope(engine) as session:
        for i in order:
            record_payment_event(session, ATTEMPT[i])
        again = record_payment_event(session, ATTEMPT[order[0]])
        assert again.duplicate
    with session_scope(engine) as session:
        latest = failed_payment_facts(session, "in_1", T0 + timedelta(days=3))
        first = failed_payment_facts(session, "in_1", T0 + 2 * SECOND)
        assert receives_payment_events(session)
    assert latest is not None and first is not None
    assert (latest.failure_code, latest.brand, latest.last4) == ("expired_card", "visa", "4242")
    # The first attempt's own record: its newest event (the payment intent's) told the card.
    assert first.failure_code == "insufficient_funds"
    assert (first.brand, first.last4) == ("mastercard", "4444")


def test_a_charge_stored_before_its_invoice_is_found_once_the_intent_is_tied(engine) -> None:
    succeeded = signal("charge.succeeded", charge("ch_5", payment_intent="pi_5"), T0, "evt_5")
    with session_scope(engine) as session:
        assert record_payment_event(session, succeeded).invoice_id is None
        assert payment_facts_for(session, "in_5", "succeeded") is None
        link_payment_intent(session, "pi_5", "in_5")
        link_payment_intent(session, "pi_5", "in_other")  # the first tie is kept
    with session_scope(engine) as session:
        facts = payment_facts_for(session, "in_5", "succeeded")
        assert payment_details_known(session, "in_5", "succeeded")
        assert not payment_details_known(session, "in_5", "failed")
        # A later event of the intent now names its invoice.
        later = signal("charge.succeeded", charge("ch_5b", payment_intent="pi_5"), T0 + SECOND, "evt_5b")
        assert record_payment_event(session, later).invoice_id == "in_5"
    assert facts is not None and (facts.method_type, facts.last4) == ("card", "4242")


def test_an_invoice_payment_ties_the_intent_and_the_receipt_combines_what_each_said(engine) -> None:
    inv = Invoice.model_validate(
        invoice("in_7", status="paid", receipt_number="2711-4455", collection_method="charge_automatically")
    )
    with session_scope(engine) as session:
        assert receipt_payment_facts(session, inv) is not None  # paid: the invoice's own facts
        record_payment_event(
            session, signal("invoice_payment.paid", invoice_payment("inpay_7", "in_7", "pi_7", paid_at=T0), T0, "evt_7")
        )
        assert not payment_details_known(session, "in_7", "succeeded")
        record_payment_event(
            session,
            signal(
                "charge.succeeded",
                charge("ch_7", payment_intent="pi_7", method="sepa_debit", last4="3000"),
                T0,
                "evt_8",
            ),
        )
    with session_scope(engine) as session:
        facts = receipt_payment_facts(session, inv)
    assert facts is not None
    assert (facts.method_type, facts.last4, facts.receipt_number) == ("sepa_debit", "3000", "2711-4455")
    assert facts.paid_at is not None


def test_an_open_invoice_with_no_payment_has_no_receipt_facts(engine) -> None:
    inv = Invoice.model_validate(invoice("in_8"))
    with session_scope(engine) as session:
        assert receipt_payment_facts(session, inv) is None
        assert failed_payment_facts(session, "in_8", T0) is None
        assert not receives_payment_events(session)
