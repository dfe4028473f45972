"""Reads for the recovery report: invoices finalized in a time range and the emails of
step kinds sent for them. Two range scans (ix_invoices_finalized_at, then the email log
by invoice through a join), only the columns the report uses."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, Select, select
from sqlmodel import Session, col

from relance.storage.email_log import SENT
from relance.storage.tables import EmailLogEntry, InvoiceRecord

INVOICE_COLUMNS = (
    InvoiceRecord.id,
    InvoiceRecord.customer_id,
    InvoiceRecord.currency,
    InvoiceRecord.status,
    InvoiceRecord.amount_due,
    InvoiceRecord.amount_paid,
    InvoiceRecord.amount_remaining,
    InvoiceRecord.finalized_at,
    InvoiceRecord.due_date,
    InvoiceRecord.paid_at,
    InvoiceRecord.payment_failures,
    InvoiceRecord.last_payment_failed_at,
)


_S = TypeVar("_S", bound=Select)


def _finalized_between(stmt: _S, start: datetime, end: datetime, currency: str | None) -> _S:
    stmt = stmt.where(col(InvoiceRecord.finalized_at) >= start, col(InvoiceRecord.finalized_at) < end)
    return stmt.where(col(InvoiceRecord.currency) == currency) if currency else stmt


def finalized_invoices(session: Session, start: datetime, end: datetime, currency: str | None) -> list[Row[Any]]:
    """Rows of INVOICE_COLUMNS for invoices finalized in [start, end)."""
    stmt = _finalized_between(select(*(col(c) for c in INVOICE_COLUMNS)), start, end, currency)
    return list(session.execute(stmt.order_by(col(InvoiceRecord.finalized_at), col(InvoiceRecord.id))))


def sent_emails_of_finalized(
    session: Session, start: datetime, end: datetime, currency: str | None, kinds: Collection[str]
) -> list[tuple[str, str, str, datetime]]:
    """(invoice_id, kind, idempotency_key, scheduled_at) of the `kinds` sent for those invoices."""
    stmt = (
        select(
            col(EmailLogEntry.invoice_id),
            col(EmailLogEntry.kind),
            col(EmailLogEntry.idempotency_key),
            col(EmailLogEntry.scheduled_at),
        )
        .join(InvoiceRecord, col(InvoiceRecord.id) == col(EmailLogEntry.invoice_id))
        .where(col(EmailLogEntry.kind).in_(sorted(kinds)), col(EmailLogEntry.status) == SENT)
    )
    rows = session.execute(_finalized_between(stmt, start, end, currency))
    return [(r[0], r[1], r[2], r[3]) for r in rows]
