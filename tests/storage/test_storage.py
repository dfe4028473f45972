"""The database merges events in any order into one truth, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relance.contracts.events import CustomerEvent
from relance.storage import email_log
from relance.storage.customers import get_customer, record_customer_event
from relance.storage.database import get_engine, session_scope
from relance.storage.invoices import load_invoice_document, record_invoice_event
from relance.storage.tables import InvoiceRecord, as_utc
from tests.support.events import customer, event, invoice, invoice_signal, parse_one

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        return get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    return get_engine(request.getfixturevalue("postgres_url"))


def test_status_only_moves_forward_and_newest_fields_win(engine) -> None:
    inv_id = f"in_store_{id(engine)}"
    due1, due2 = T0 + timedelta(days=10), T0 + timedelta(days=20)
    paid = event("invoice.paid", invoice(inv_id, status="paid", due=due1), created=T0 + timedelta(hours=2))
    finalized = event("invoice.finalized", invoice(inv_id, status="open", due=due1), created=T0)
    updated = event("invoice.updated", invoice(inv_id, status="open", due=due2), created=T0 + timedelta(hours=1))
    with session_scope(engine) as s:
        assert record_invoice_event(s, invoice_signal(paid)).status == "paid"
    with session_scope(engine) as s:
        state = record_invoice_event(s, invoice_signal(finalized))
        assert state.status == "paid" and not state.duplicate
    with session_scope(engine) as s:
        state = record_invoice_event(s, invoice_signal(updated))
        assert state.status == "paid"
        assert state.due_date == due1  # the paid event is newer than the update
    with session_scope(engine) as s:
        assert record_invoice_event(s, invoice_signal(paid)).duplicate
        doc = load_invoice_document(s, inv_id, state.revision)
        assert doc.status == "paid"


def test_uncollectible_can_still_be_paid_but_void_is_final(engine) -> None:
    a, b = f"in_unc_{id(engine)}", f"in_void_{id(engine)}"
    with session_scope(engine) as s:
        record_invoice_event(
            s, invoice_signal(event("invoice.marked_uncollectible", invoice(a, status="uncollectible"), created=T0))
        )
        assert (
            record_invoice_event(
                s, invoice_signal(event("invoice.paid", invoice(a, status="paid"), created=T0 + timedelta(1)))
            ).status
            == "paid"
        )
        record_invoice_event(s, invoice_signal(event("invoice.voided", invoice(b, status="void"), created=T0)))
        assert (
            record_invoice_event(
                s, invoice_signal(event("invoice.paid", invoice(b, status="paid"), created=T0 + timedelta(1)))
            ).status
            == "void"
        )


def test_customer_newest_event_wins_and_lists_survive_partial_updates(engine) -> None:
    cid = f"cus_store_{id(engine)}"
    newer = parse_one(
        event(
            "customer.updated",
            customer(cid, email="new@x.test", invoice_emails=["ap@x.test"]),
            created=T0 + timedelta(hours=1),
        ),
        CustomerEvent,
    )
    older = parse_one(event("customer.updated", customer(cid, email="old@x.test"), created=T0), CustomerEvent)
    partial = parse_one(
        event("customer.updated", customer(cid, email="newest@x.test"), created=T0 + timedelta(hours=2)),
        CustomerEvent,
    )
    with session_scope(engine) as s:
        assert record_customer_event(s, newer.id, newer.type, newer.created, newer.customer)
        assert not record_customer_event(s, older.id, older.type, older.created, older.customer)
        assert not record_customer_event(s, newer.id, newer.type, newer.created, newer.customer)
        assert record_customer_event(s, partial.id, partial.type, partial.created, partial.customer)
        rec = get_customer(s, cid)
        assert rec is not None and rec.email == "newest@x.test"
        assert rec.invoice_emails == ["ap@x.test"]


def test_email_log_idempotency_key_is_unique(engine) -> None:
    from sqlalchemy.exc import IntegrityError

    key = f"in_log_{id(engine)}:receipt:paid"
    with session_scope(engine) as s:
        email_log.new_entry(
            s,
            key=key,
            kind="receipt",
            customer_id="cus_log",
            invoice_id="in_log",
            scheduled_at=T0,
            status=email_log.PENDING,
        )
    with pytest.raises(IntegrityError):
        with session_scope(engine) as s:
            email_log.new_entry(
                s,
                key=key,
                kind="receipt",
                customer_id="cus_log",
                invoice_id="in_log",
                scheduled_at=T0,
                status=email_log.PENDING,
            )
    with session_scope(engine) as s:
        entry = email_log.get_entry(s, key)
        assert entry is not None and entry.status == email_log.PENDING


def test_revision_of_an_invoice_is_unchanged_by_fields_added_later_while_unset() -> None:
    """An invoice stored before `subscription`/`parent` existed keeps its revision (its PDF
    is not rendered again after an upgrade); setting them is a new revision."""
    import hashlib
    import json

    from relance.contracts.events import Invoice
    from relance.storage.invoices import revision_of
    from tests.support.events import invoice

    inv = Invoice.model_validate({**invoice("in_rev", "cus_rev"), "parent": None, "subscription": None})
    before = inv.model_dump(mode="json")
    before.pop("subscription"), before.pop("parent")  # the document as an older release hashed it
    old = hashlib.sha256(json.dumps(before, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert revision_of(inv) == old
    assert revision_of(inv.model_copy(update={"subscription": "sub_1"})) != old


def test_payment_times_are_the_events_own_whatever_order_they_arrive_in(engine) -> None:
    """The recovery report's times: the earliest finalization and payment seen, Stripe's
    status_transitions first; failed attempts counted once per event, duplicates not."""
    t = datetime(2026, 5, 1, 8, tzinfo=UTC)
    obj = invoice("in_times", due=t + timedelta(days=10))
    paid = dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)
    failed = event("invoice.payment_failed", dict(obj, attempt_count=1), created=t + timedelta(days=2))
    stripe_paid_at = int((t + timedelta(days=3)).timestamp())
    with session_scope(engine) as s:
        record_invoice_event(
            s,
            invoice_signal(
                event(
                    "invoice.paid",
                    dict(paid, status_transitions={"paid_at": stripe_paid_at}),
                    created=t + timedelta(days=3, hours=1),
                )
            ),
        )
        record_invoice_event(s, invoice_signal(event("invoice.finalized", obj, created=t)))
        record_invoice_event(s, invoice_signal(failed))
        record_invoice_event(s, invoice_signal(failed))  # the same event again
        record_invoice_event(
            s,
            invoice_signal(event("invoice.payment_failed", dict(obj, attempt_count=2), created=t + timedelta(days=1))),
        )
    with session_scope(engine) as s:
        rec = s.get(InvoiceRecord, "in_times")
        assert rec is not None
        assert as_utc(rec.finalized_at) == t
        assert as_utc(rec.paid_at) == t + timedelta(days=3)  # status_transitions.paid_at, not the event's time
        assert rec.payment_failures == 2
        assert as_utc(rec.last_payment_failed_at) == t + timedelta(days=2)
