"""The email log. A row is written *before* a provider is called, keyed by the email's
idempotency key (invoice, kind, occurrence), so a retried or replayed activity finds it
and never sends the same email twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from relance.storage.tables import EmailLogEntry, as_utc, utcnow

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
FINAL_STATUSES = frozenset({SENT, FAILED, SKIPPED})


def get_entry(session: Session, key: str) -> EmailLogEntry | None:
    return session.exec(select(EmailLogEntry).where(EmailLogEntry.idempotency_key == key)).first()


def new_entry_id() -> str:
    return uuid.uuid4().hex


def new_entry(
    session: Session,
    *,
    key: str,
    kind: str,
    customer_id: str,
    invoice_id: str | None,
    scheduled_at: datetime,
    status: str,
    id: str | None = None,
    **fields: Any,
) -> EmailLogEntry:
    fields.setdefault("search", search_text(fields.get("subject"), fields.get("to", ()), fields.get("cc", ())))
    entry = EmailLogEntry(
        id=id or new_entry_id(),
        idempotency_key=key,
        kind=kind,
        customer_id=customer_id,
        invoice_id=invoice_id,
        scheduled_at=scheduled_at,
        status=status,
        **fields,
    )
    session.add(entry)
    session.flush()
    return entry


def search_text(subject: str | None, to: Iterable[str], cc: Iterable[str]) -> str | None:
    """What `q` searches: subject and recipients, lower-cased (LIKE on SQLite is ASCII-only
    case-insensitive, so both sides are folded here rather than by the database)."""
    parts = [subject or "", *to, *cc]
    text = " ".join(p for p in parts if p).lower()
    return text or None


def mark_sent(session: Session, entry: EmailLogEntry, provider: str, provider_message_id: str | None) -> None:
    entry.status = SENT
    entry.provider = provider
    entry.provider_message_id = provider_message_id
    entry.sent_at = utcnow()
    entry.error = None
    session.add(entry)


def mark_failed(session: Session, entry: EmailLogEntry, error: str, provider: str | None = None) -> None:
    entry.status = FAILED
    entry.error = error[:2000]
    entry.provider = provider or entry.provider
    session.add(entry)


def note_attempt(session: Session, entry: EmailLogEntry, error: str | None, provider: str | None = None) -> None:
    """A transient failure: the row stays pending; the error shows why it is late."""
    entry.attempts += 1
    entry.error = error[:2000] if error else None
    entry.provider = provider or entry.provider
    session.add(entry)


def customer_emails(
    session: Session, customer_id: str, *, days: int = 30, limit: int = 50, offset: int = 0, now: datetime | None = None
) -> list[EmailLogEntry]:
    since = (now or utcnow()) - timedelta(days=days)
    stmt = (
        select(EmailLogEntry)
        .where(EmailLogEntry.customer_id == customer_id, EmailLogEntry.created_at >= since)
        .order_by(col(EmailLogEntry.created_at).desc(), col(EmailLogEntry.id))
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(stmt))


def all_entries(session: Session) -> list[EmailLogEntry]:
    return list(
        session.exec(select(EmailLogEntry).order_by(col(EmailLogEntry.scheduled_at), col(EmailLogEntry.created_at)))
    )


def entry_times(entry: EmailLogEntry) -> tuple[datetime, datetime | None]:
    return as_utc(entry.scheduled_at), as_utc(entry.sent_at)
