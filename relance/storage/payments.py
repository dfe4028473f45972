"""Payment attempts: the events about each one merged into one record, in any order.

Each field comes from the newest event that carried it, so a late or repeated event
changes nothing it should not. Attempts are tied to their invoice when read, through the
attempt's own invoice id or its payment intent's (`payment_intent_invoices`), so a charge
stored before its invoice was ever heard of is found once the invoice names the intent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from relance.contracts.documents import PaymentFacts
from relance.contracts.models import PaymentSignal, RecordedPayment
from relance.contracts.payments import PaymentOutcome
from relance.storage.tables import PaymentAttemptRecord, PaymentIntentLink, ProcessedEvent, as_utc, utcnow

_MERGED = (
    "charge_id",
    "payment_intent_id",
    "invoice_id",
    "customer_id",
    "outcome",
    "method_type",
    "brand",
    "last4",
    "failure_code",
    "failure_message",
    "receipt_number",
    "paid_at",
)


def link_payment_intent(session: Session, payment_intent_id: str, invoice_id: str) -> None:
    """An intent collects one invoice: the first event naming the pair is kept."""
    if session.get(PaymentIntentLink, payment_intent_id) is None:
        session.add(PaymentIntentLink(payment_intent_id=payment_intent_id, invoice_id=invoice_id))
        session.flush()


def invoice_of_payment_intent(session: Session, payment_intent_id: str) -> str | None:
    link = session.get(PaymentIntentLink, payment_intent_id)
    return link.invoice_id if link else None


def record_payment_event(session: Session, signal: PaymentSignal) -> RecordedPayment:
    attempt = signal.attempt
    duplicate = session.get(ProcessedEvent, signal.event_id) is not None
    if not duplicate:
        rec = session.get(PaymentAttemptRecord, attempt.key)
        newest = rec is None or signal.created >= as_utc(rec.attempted_at)
        if rec is None:
            rec = PaymentAttemptRecord(key=attempt.key, attempted_at=signal.created)
            session.add(rec)
        for name in _MERGED:
            value = getattr(attempt, name)
            if value is not None and (newest or getattr(rec, name) is None):
                setattr(rec, name, value)
        if newest:
            rec.attempted_at = signal.created
        rec.updated_at = utcnow()
        session.add(ProcessedEvent(id=signal.event_id, type=signal.type, object_id=attempt.key))
        if attempt.payment_intent_id and attempt.invoice_id:
            link_payment_intent(session, attempt.payment_intent_id, attempt.invoice_id)
        session.flush()
    invoice_id = attempt.invoice_id
    if invoice_id is None and attempt.payment_intent_id:
        invoice_id = invoice_of_payment_intent(session, attempt.payment_intent_id)
    return RecordedPayment(invoice_id=invoice_id, duplicate=duplicate)


Window = tuple[datetime, datetime]


def attempts_of(
    session: Session, invoice_id: str, *, outcome: PaymentOutcome | None = None, within: Window | None = None
) -> list[PaymentAttemptRecord]:
    """The invoice's attempts, newest first; `within`: attempted between those times."""
    intents = select(PaymentIntentLink.payment_intent_id).where(PaymentIntentLink.invoice_id == invoice_id)
    query = select(PaymentAttemptRecord).where(
        or_(
            col(PaymentAttemptRecord.invoice_id) == invoice_id,
            col(PaymentAttemptRecord.payment_intent_id).in_(intents),
        )
    )
    if outcome is not None:
        query = query.where(PaymentAttemptRecord.outcome == outcome)
    if within is not None:
        query = query.where(col(PaymentAttemptRecord.attempted_at).between(*within))
    return list(session.exec(query.order_by(col(PaymentAttemptRecord.attempted_at).desc())))


def payment_facts_for(
    session: Session, invoice_id: str, outcome: PaymentOutcome, *, within: Window | None = None
) -> PaymentFacts | None:
    """What the invoice's attempts of this outcome say, newest first: each fact from the
    newest record that has it (a charge gives the card, an invoice payment only the
    time). None when no event told of such an attempt."""
    records = attempts_of(session, invoice_id, outcome=outcome, within=within)
    if not records:
        return None

    def first(name: str) -> str | None:
        return next((getattr(r, name) for r in records if getattr(r, name) is not None), None)

    # The method and the reason are told together, by the record that has them.
    described = next((r for r in records if r.method_type is not None), None)
    paid = [as_utc(r.paid_at) for r in records if r.paid_at is not None]
    return PaymentFacts(
        method_type=described.method_type if described else None,
        brand=described.brand if described else None,
        last4=described.last4 if described else None,
        paid_at=min(paid) if paid else None,
        receipt_number=first("receipt_number"),
        outcome=outcome,
        failure_code=first("failure_code"),
        failure_message=first("failure_message"),
    )


def payment_details_known(
    session: Session, invoice_id: str, outcome: PaymentOutcome, *, within: Window | None = None
) -> bool:
    facts = payment_facts_for(session, invoice_id, outcome, within=within)
    return facts is not None and (facts.method_type is not None or facts.failure_code is not None)


def receives_payment_events(session: Session) -> bool:
    """Whether this deployment is sent payment events at all: until it is, no email waits
    for them."""
    return session.exec(select(PaymentAttemptRecord.key).limit(1)).first() is not None
