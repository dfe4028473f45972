"""Searching the whole email log: filters, newest first, paged by an opaque keyset cursor.

Order is (created_at, id) descending, and a page starts strictly after the last row of
the previous one, so rows logged meanwhile (always newer) never shift or repeat a later
page, which an offset would. Every filter has an index that returns rows in that order
(EmailLogEntry's table args, migration 0004), so a page reads about `limit` rows
whatever the log's size; bench/email_log_query.py times them on PostgreSQL.

Statuses: the log's own (pending, sent, failed, skipped) refined by why and by what the
provider reported afterwards. Each email has exactly one of pending, held, sent, failed,
skipped, suppressed; `delivered` and `bounced` are sent emails the provider reported on.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, false, not_, or_, tuple_
from sqlmodel import Session, col, select

from relance.storage.tables import EmailLogEntry, as_utc

STATUSES = ("pending", "held", "sent", "failed", "skipped", "suppressed", "delivered", "bounced")
# SendGrid's events for a message that did not reach the mailbox.
BOUNCED = ("bounce", "blocked", "dropped")
# How storage marks a held email (pending, waiting for the transport's credentials) and
# one skipped because every address was suppressed (storage.suppressions.drop_suppressed).
HELD_PREFIX = "held"
SUPPRESSED_PREFIX = "suppressed:"
MAX_Q = 200


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class EmailFilter:
    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: datetime | None = None  # created_at >= since
    before: datetime | None = None  # created_at < before
    customer: str | None = None
    invoice: str | None = None
    q: str | None = None  # a substring of the subject or a recipient, any case


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps([as_utc(self.created_at).isoformat(), self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            when, id_ = json.loads(raw)
            if not isinstance(when, str) or not isinstance(id_, str) or not 1 <= len(id_) <= 32:
                raise ValueError
            created = datetime.fromisoformat(when)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise InvalidCursor("not a cursor this API returned") from None
        return cls(created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC), id_)

    @classmethod
    def after(cls, entry: EmailLogEntry) -> Cursor:
        return cls(as_utc(entry.created_at), entry.id)


def _status_clause(status: str) -> ColumnElement[bool]:
    status_col, error = col(EmailLogEntry.status), col(EmailLogEntry.error)
    held = and_(status_col == "pending", error.startswith(HELD_PREFIX))
    suppressed = and_(status_col == "skipped", error.startswith(SUPPRESSED_PREFIX))
    clauses: dict[str, ColumnElement[bool]] = {
        "pending": and_(status_col == "pending", or_(error.is_(None), not_(error.startswith(HELD_PREFIX)))),
        "held": held,
        "sent": status_col == "sent",
        "failed": status_col == "failed",
        "skipped": and_(status_col == "skipped", or_(error.is_(None), not_(error.startswith(SUPPRESSED_PREFIX)))),
        "suppressed": suppressed,
        "delivered": and_(status_col == "sent", col(EmailLogEntry.delivery_status) == "delivered"),
        "bounced": and_(status_col == "sent", col(EmailLogEntry.delivery_status).in_(BOUNCED)),
    }
    return clauses[status]


def _conditions(f: EmailFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.kinds:
        where.append(col(EmailLogEntry.kind).in_(f.kinds))
    if f.statuses:
        where.append(or_(false(), *(_status_clause(s) for s in f.statuses)))
    if f.since is not None:
        where.append(col(EmailLogEntry.created_at) >= f.since)
    if f.before is not None:
        where.append(col(EmailLogEntry.created_at) < f.before)
    if f.customer is not None:
        where.append(col(EmailLogEntry.customer_id) == f.customer)
    if f.invoice is not None:
        where.append(col(EmailLogEntry.invoice_id) == f.invoice)
    if f.q:
        where.append(col(EmailLogEntry.search).contains(f.q.lower(), autoescape=True))
    return where


def find_emails(
    session: Session, f: EmailFilter, *, after: Cursor | None = None, limit: int = 50
) -> list[EmailLogEntry]:
    """Up to `limit` entries matching `f`, newest first, strictly after `after`."""
    stmt = select(EmailLogEntry).where(*_conditions(f))
    if after is not None:
        key = tuple_(col(EmailLogEntry.created_at), col(EmailLogEntry.id))
        stmt = stmt.where(key < tuple_(after.created_at, after.id))
    stmt = stmt.order_by(col(EmailLogEntry.created_at).desc(), col(EmailLogEntry.id).desc()).limit(limit)
    return list(session.exec(stmt))


def iter_emails(session: Session, f: EmailFilter, *, batch: int = 1000) -> Iterator[EmailLogEntry]:
    """Every matching entry, newest first, a keyset page at a time (the CSV export)."""
    after: Cursor | None = None
    while True:
        rows = find_emails(session, f, after=after, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        after = Cursor.after(rows[-1])


def outcome_of(status: str, error: str | None, delivery_status: str | None) -> str:
    """The one status of STATUSES an entry filters under (delivered and bounced win over sent)."""
    if status == "pending" and (error or "").startswith(HELD_PREFIX):
        return "held"
    if status == "skipped" and (error or "").startswith(SUPPRESSED_PREFIX):
        return "suppressed"
    if status == "sent" and delivery_status == "delivered":
        return "delivered"
    if status == "sent" and delivery_status in BOUNCED:
        return "bounced"
    return status
