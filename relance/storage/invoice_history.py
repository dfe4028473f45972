"""What the database holds about one invoice's past: the events applied to it, the
documents received, its emails, and the webhook deliveries of events it emitted. Read by
the invoice page (relance/services/invoice_timeline.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, col, select

from relance.storage.tables import (
    EmailDeliveryRecord,
    EmailLogEntry,
    InvoiceRevision,
    ProcessedEvent,
    WebhookDeliveryRecord,
    WebhookEndpointRecord,
)

_Row = TypeVar("_Row", bound=SQLModel)


def invoice_events(session: Session, invoice_id: str) -> list[ProcessedEvent]:
    """The events applied to the invoice, in the order they were received (indexed by object_id)."""
    stmt = (
        select(ProcessedEvent)
        .where(ProcessedEvent.object_id == invoice_id, col(ProcessedEvent.type).startswith("invoice."))
        .order_by(col(ProcessedEvent.received_at), col(ProcessedEvent.id))
    )
    return list(session.exec(stmt))


def _rows_in_order(session: Session, model: type[_Row], condition: Any, *order: Any) -> list[_Row]:
    return list(session.exec(select(model).where(condition).order_by(*order)))


def invoice_revisions(session: Session, invoice_id: str) -> list[InvoiceRevision]:
    return _rows_in_order(
        session,
        InvoiceRevision,
        InvoiceRevision.invoice_id == invoice_id,
        col(InvoiceRevision.created_at),
        col(InvoiceRevision.revision),
    )


def invoice_emails(session: Session, invoice_id: str) -> list[EmailLogEntry]:
    """Every email that names the invoice (its own, and refunds' or credit notes'), oldest first."""
    return _rows_in_order(
        session,
        EmailLogEntry,
        EmailLogEntry.invoice_id == invoice_id,
        col(EmailLogEntry.created_at),
        col(EmailLogEntry.id),
    )


def email_deliveries(session: Session, email_ids: list[str]) -> dict[str, EmailDeliveryRecord]:
    if not email_ids:
        return {}
    rows = session.exec(select(EmailDeliveryRecord).where(col(EmailDeliveryRecord.email_id).in_(email_ids)))
    return {row.email_id: row for row in rows}


def webhook_deliveries(session: Session, event_ids: Iterable[str]) -> list[tuple[WebhookDeliveryRecord, str]]:
    """(delivery, endpoint URL) of these webhook events to the registered endpoints. Both
    columns of the primary key are given (endpoints are a handful), so the lookup uses it
    rather than scanning every delivery; deliveries to deleted endpoints are left out."""
    ids = sorted(set(event_ids))
    endpoints = {row.id: row.url for row in session.exec(select(WebhookEndpointRecord))}
    if not ids or not endpoints:
        return []
    stmt = (
        select(WebhookDeliveryRecord)
        .where(
            col(WebhookDeliveryRecord.endpoint_id).in_(sorted(endpoints)),
            col(WebhookDeliveryRecord.event_id).in_(ids),
        )
        .order_by(col(WebhookDeliveryRecord.created_at), col(WebhookDeliveryRecord.endpoint_id))
    )
    return [(row, endpoints[row.endpoint_id]) for row in session.exec(stmt)]
