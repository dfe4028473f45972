"""Invoices: events merged into one record, whatever order they arrive in.

The status only moves forward (draft -> open -> uncollectible -> paid | void), so a late
`invoice.finalized` cannot reopen a paid invoice; every other field comes from the newest
event. Documents are kept per revision (content hash) so PDFs render once per revision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from relance.contracts.events import Invoice
from relance.contracts.models import TERMINAL_STATUSES, InvoiceSignal, InvoiceState
from relance.storage.tables import InvoiceRecord, InvoiceRevision, ProcessedEvent, as_utc, utcnow
from relance.storage.tax_rates import record_invoice_tax_rates

STATUS_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}

# The event type says what happened even when the object's status lags behind it.
STATUS_IMPLIED_BY_TYPE = {
    "invoice.finalized": "open",
    "invoice.paid": "paid",
    "invoice.payment_succeeded": "paid",
    "invoice.voided": "void",
    "invoice.marked_uncollectible": "uncollectible",
}


def _event_status(signal: InvoiceSignal) -> str:
    candidates = [s for s in (signal.invoice.status, STATUS_IMPLIED_BY_TYPE.get(signal.type)) if s]
    return max(candidates, key=STATUS_RANK.__getitem__, default="draft")


def merge_status(current: str, incoming: str) -> str:
    if current in TERMINAL_STATUSES:
        return current
    return incoming if STATUS_RANK[incoming] > STATUS_RANK[current] else current


# Fields the Invoice model learnt after invoices were first stored: left out of the hash
# while unset, so an upgrade does not give every open invoice a new revision (and a PDF
# rendered again) on its next event.
_LATER_FIELDS = ("subscription", "parent")


def revision_of(invoice: Invoice) -> str:
    data = invoice.model_dump(mode="json")
    for name in _LATER_FIELDS:
        if data.get(name) is None:
            data.pop(name, None)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _earliest(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate < as_utc(current) else current


def _note_times(rec: InvoiceRecord, signal: InvoiceSignal, status: str) -> None:
    """Finalization, payment and failed attempts, for the recovery report. Times are the
    events' own (Stripe's clock, or the simulator's), never when Relance received them."""
    transitions = signal.invoice.status_transitions
    finalized = transitions.finalized_at if transitions else None
    if finalized is None and (signal.type == "invoice.finalized" or status != "draft"):
        finalized = signal.created  # it was finalized by the time of this event
    rec.finalized_at = _earliest(rec.finalized_at, finalized)
    if status == "paid":
        paid = signal.invoice.paid_at or signal.created
        rec.paid_at = _earliest(rec.paid_at, paid)
    if signal.type == "invoice.payment_failed":
        rec.payment_failures += 1
        latest = as_utc(rec.last_payment_failed_at)
        rec.last_payment_failed_at = signal.created if latest is None or signal.created > latest else latest


def _state(rec: InvoiceRecord, duplicate: bool) -> InvoiceState:
    return InvoiceState(
        invoice_id=rec.id,
        customer_id=rec.customer_id,
        status=rec.status,
        collection_method=rec.collection_method,
        due_date=as_utc(rec.due_date),
        attempt_count=rec.attempt_count,
        revision=rec.revision,
        duplicate=duplicate,
    )


def _apply_snapshot(rec: InvoiceRecord, inv: Invoice, revision: str) -> None:
    rec.customer_id = inv.customer
    rec.collection_method = inv.collection_method
    rec.currency = inv.currency
    rec.number = inv.number
    rec.amount_due = inv.amount_due
    rec.amount_paid = inv.amount_paid
    rec.amount_remaining = inv.amount_remaining
    rec.due_date = inv.due_date
    rec.attempt_count = inv.attempt_count
    rec.next_payment_attempt = inv.next_payment_attempt
    rec.hosted_invoice_url = inv.hosted_invoice_url
    rec.customer_email = inv.customer_email
    rec.customer_name = inv.customer_name
    rec.revision = revision


def record_invoice_event(session: Session, signal: InvoiceSignal, run_id: str | None = None) -> InvoiceState:
    """`run_id`: the workflow run applying it. The same run finding the event processed is
    a retry of its own activity (whose result was lost with a crashed worker): the state
    is returned as applied, not as a duplicate, so the emails it owes still go out."""
    inv = signal.invoice
    processed = session.get(ProcessedEvent, signal.event_id)
    if processed is not None:
        rec = session.get(InvoiceRecord, inv.id)
        if rec is not None:
            return _state(rec, duplicate=not (run_id and processed.run_id == run_id))
    revision = revision_of(inv)
    if session.get(InvoiceRevision, (inv.id, revision)) is None:
        session.add(InvoiceRevision(invoice_id=inv.id, revision=revision, document=inv.model_dump(mode="json")))
        record_invoice_tax_rates(session, inv, signal.created)
    rec = session.get(InvoiceRecord, inv.id)
    status = _event_status(signal)
    if rec is None:
        rec = InvoiceRecord(
            id=inv.id,
            customer_id=inv.customer,
            status=status,
            collection_method=inv.collection_method,
            currency=inv.currency,
            revision=revision,
            last_event_at=signal.created,
        )
        _apply_snapshot(rec, inv, revision)
        _note_times(rec, signal, status)
        session.add(rec)
    else:
        rec.status = merge_status(rec.status, status)
        if signal.created >= as_utc(rec.last_event_at):
            _apply_snapshot(rec, inv, revision)
            rec.last_event_at = signal.created
        _note_times(rec, signal, status)
        rec.updated_at = utcnow()
    if processed is None:
        session.add(ProcessedEvent(id=signal.event_id, type=signal.type, object_id=inv.id, run_id=run_id))
    session.flush()
    return _state(rec, duplicate=False)


def load_invoice_state(session: Session, invoice_id: str) -> InvoiceState | None:
    rec = session.get(InvoiceRecord, invoice_id)
    return _state(rec, duplicate=False) if rec else None


def load_invoice_document(session: Session, invoice_id: str, revision: str) -> Invoice:
    row = session.get(InvoiceRevision, (invoice_id, revision))
    if row is None:
        raise LookupError(f"invoice {invoice_id} revision {revision[:12]} is not stored")
    return Invoice.model_validate(row.document)


def load_current_invoice(session: Session, invoice_id: str) -> Invoice | None:
    """The invoice's newest revision, when Relance has it (a credit note names it)."""
    rec = session.get(InvoiceRecord, invoice_id)
    return load_invoice_document(session, invoice_id, rec.revision) if rec is not None else None


def billing_email_from_invoices(session: Session, customer_id: str, prefer_invoice_id: str | None = None) -> str | None:
    """The address Stripe billed this customer at: the related invoice's `customer_email`
    if given, else the newest invoice's that has one. For emails with no invoice of their
    own (card, trial, cancellation, credit note, refund) to a customer Relance has had no
    customer event for, typically one that existed before Relance was plugged in."""
    if prefer_invoice_id:
        rec = session.get(InvoiceRecord, prefer_invoice_id)
        if rec is not None and rec.customer_id == customer_id and rec.customer_email:
            return rec.customer_email
    return session.exec(
        select(InvoiceRecord.customer_email)
        .where(InvoiceRecord.customer_id == customer_id, InvoiceRecord.customer_email.is_not(None))  # type: ignore[union-attr]
        .order_by(InvoiceRecord.last_event_at.desc())  # type: ignore[attr-defined]
        .limit(1)
    ).first()


def customer_invoices(
    session: Session, customer_id: str, *, limit: int = 50, also: Iterable[str] = ()
) -> list[InvoiceRecord]:
    """The customer's `limit` most recently changed invoices, then those of `also` (ids, e.g.
    the invoices its recent emails name) that are older than that."""
    invoices = list(
        session.exec(
            select(InvoiceRecord)
            .where(InvoiceRecord.customer_id == customer_id)
            .order_by(col(InvoiceRecord.last_event_at).desc(), col(InvoiceRecord.id))
            .limit(limit)
        )
    )
    known = {inv.id for inv in invoices}
    for invoice_id in dict.fromkeys(also):
        if invoice_id not in known and (rec := session.get(InvoiceRecord, invoice_id)) is not None:
            invoices.append(rec)
            known.add(invoice_id)
    return invoices
