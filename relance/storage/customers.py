"""Customers: the newest event wins, so a late `customer.updated` cannot undo a newer one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from relance.contracts.events import Customer
from relance.storage.tables import CustomerRecord, ProcessedEvent, as_utc, utcnow


def record_customer_event(
    session: Session, event_id: str, event_type: str, created: datetime, customer: Customer
) -> bool:
    """Apply the event; returns False when it was a duplicate or older than what we have."""
    if session.get(ProcessedEvent, event_id) is not None:
        return False
    session.add(ProcessedEvent(id=event_id, type=event_type, object_id=customer.id))
    rec = session.get(CustomerRecord, customer.id)
    if rec is not None and rec.last_event_at is not None and as_utc(rec.last_event_at) > created:
        return False
    if rec is None:
        rec = CustomerRecord(id=customer.id)
        session.add(rec)
    rec.email = customer.email
    rec.name = customer.name
    rec.preferred_locales = list(customer.preferred_locales)
    # Absent means "not managed by this event": keep what was set through the API or CLI.
    if customer.invoice_emails is not None:
        rec.invoice_emails = list(customer.invoice_emails)
    if customer.cc_emails is not None:
        rec.cc_emails = list(customer.cc_emails)
    if customer.timezone is not None:
        rec.timezone = customer.timezone
    if customer.einvoice_profile is not None:
        rec.einvoice_profile = None if customer.einvoice_profile == "default" else customer.einvoice_profile
    reference = customer.buyer_reference_set
    if reference is not None:
        rec.buyer_reference = reference.strip()[:100] or None
    rec.address_lines = customer.address.lines() if customer.address else []
    rec.last_event_at = created
    rec.updated_at = utcnow()
    session.flush()
    return True


def get_customer(session: Session, customer_id: str) -> CustomerRecord | None:
    return session.get(CustomerRecord, customer_id)


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_customers(session: Session, q: str, *, offset: int = 0, limit: int = 50) -> list[CustomerRecord]:
    """Customers whose id, email or name contains `q` (any case; `%` and `_` are literal),
    most recently updated first; all of them when `q` is empty."""
    stmt = select(CustomerRecord)
    if q:
        pattern = _like(q)
        stmt = stmt.where(
            or_(
                col(CustomerRecord.id).ilike(pattern, escape="\\"),
                col(CustomerRecord.email).ilike(pattern, escape="\\"),
                col(CustomerRecord.name).ilike(pattern, escape="\\"),
            )
        )
    stmt = stmt.order_by(col(CustomerRecord.updated_at).desc(), col(CustomerRecord.id)).offset(offset).limit(limit)
    return list(session.exec(stmt))
