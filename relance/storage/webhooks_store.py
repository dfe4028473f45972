"""Webhooks, both ways.

Out: the endpoints a team registers (URL, event types, Standard Webhooks secret, the
previous secret during a rotation) and one delivery row per (endpoint, event).
In: the provider events already applied (SendGrid posts duplicates) and the delivery
status each sent email reached.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from relance.storage.tables import (
    EmailDeliveryRecord,
    EmailLogEntry,
    ProviderEventRecord,
    WebhookDeliveryRecord,
    WebhookEndpointRecord,
    as_utc,
    utcnow,
)

PENDING, DELIVERED, FAILED, SKIPPED = "pending", "delivered", "failed", "skipped"
ROTATION_OVERLAP = timedelta(hours=24)
WILDCARD = "*"


# ---- endpoints ------------------------------------------------------------------------


def new_secret() -> str:
    """Standard Webhooks format: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def create_endpoint(
    session: Session, *, url: str, event_types: list[str], description: str | None = None
) -> WebhookEndpointRecord:
    endpoint = WebhookEndpointRecord(
        id="we_" + uuid.uuid4().hex[:24],
        url=url,
        event_types=list(event_types),
        description=description,
        secret=new_secret(),
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def list_endpoints(session: Session) -> list[WebhookEndpointRecord]:
    return list(
        session.exec(
            select(WebhookEndpointRecord).order_by(col(WebhookEndpointRecord.created_at), col(WebhookEndpointRecord.id))
        )
    )


def get_endpoint(session: Session, endpoint_id: str) -> WebhookEndpointRecord | None:
    return session.get(WebhookEndpointRecord, endpoint_id)


def delete_endpoint(session: Session, endpoint_id: str) -> bool:
    endpoint = session.get(WebhookEndpointRecord, endpoint_id)
    if endpoint is None:
        return False
    session.delete(endpoint)
    return True


def rotate_secret(session: Session, endpoint: WebhookEndpointRecord, *, now: datetime | None = None) -> str:
    """A new secret; the current one keeps signing for 24 h beside it. Rotating again
    within those 24 h drops the oldest secret."""
    now = now or utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    session.add(endpoint)
    return endpoint.secret


def signing_secrets(endpoint: WebhookEndpointRecord, *, now: datetime | None = None) -> list[str]:
    now = now or utcnow()
    out = [endpoint.secret]
    expires = as_utc(endpoint.previous_secret_expires_at)
    if endpoint.previous_secret and expires is not None and expires > now:
        out.append(endpoint.previous_secret)
    return out


def subscribes(endpoint: WebhookEndpointRecord, event_type: str) -> bool:
    return WILDCARD in endpoint.event_types or event_type in endpoint.event_types


def subscribers(session: Session, event_type: str) -> list[str]:
    """Ids of the endpoints that want this event type (a handful of rows: filtered here,
    which works the same on SQLite and PostgreSQL JSON)."""
    return [e.id for e in list_endpoints(session) if subscribes(e, event_type)]


# ---- deliveries -----------------------------------------------------------------------


def open_delivery(session: Session, endpoint_id: str, event_id: str, event_type: str) -> WebhookDeliveryRecord:
    row = session.get(WebhookDeliveryRecord, (endpoint_id, event_id))
    if row is None:
        row = WebhookDeliveryRecord(endpoint_id=endpoint_id, event_id=event_id, event_type=event_type)
        session.add(row)
        session.flush()
    return row


def note_attempt(session: Session, row: WebhookDeliveryRecord, status_code: int | None, error: str | None) -> None:
    """A transient failure: still pending, retried by Temporal."""
    row.attempts += 1
    row.last_status_code = status_code
    row.last_error = error[:2000] if error else None
    row.updated_at = utcnow()
    session.add(row)


def finish_delivery(
    session: Session,
    row: WebhookDeliveryRecord,
    status: str,
    status_code: int | None,
    error: str | None,
    *,
    count_attempt: bool = True,
) -> None:
    if count_attempt:
        row.attempts += 1
        row.last_status_code = status_code
    row.status = status
    row.last_error = error[:2000] if error else None
    row.updated_at = utcnow()
    if status == DELIVERED:
        row.delivered_at = row.updated_at
    session.add(row)


def deliveries(
    session: Session, *, endpoint_id: str | None = None, event_id: str | None = None, limit: int = 100
) -> list[WebhookDeliveryRecord]:
    stmt = select(WebhookDeliveryRecord)
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDeliveryRecord.endpoint_id == endpoint_id)
    if event_id is not None:
        stmt = stmt.where(WebhookDeliveryRecord.event_id == event_id)
    stmt = stmt.order_by(col(WebhookDeliveryRecord.created_at).desc(), col(WebhookDeliveryRecord.event_id)).limit(limit)
    return list(session.exec(stmt))


# ---- provider events in ---------------------------------------------------------------

# A later report never replaces a more significant one (SendGrid's events arrive out of
# order: `processed` after `delivered` is common).
DELIVERY_RANK = {
    "processed": 1,
    "deferred": 2,
    "delivered": 3,
    "blocked": 4,
    "bounce": 4,
    "dropped": 4,
    "spamreport": 5,
}


def seen_provider_events(session: Session, provider: str, event_ids: list[str]) -> set[str]:
    if not event_ids:
        return set()
    stmt = select(ProviderEventRecord.event_id).where(
        ProviderEventRecord.provider == provider, col(ProviderEventRecord.event_id).in_(set(event_ids))
    )
    return set(session.exec(stmt))


def record_provider_event(
    session: Session,
    provider: str,
    event_id: str,
    event: str,
    *,
    email_id: str | None,
    recipient: str | None,
    occurred_at: datetime | None,
) -> None:
    session.add(
        ProviderEventRecord(
            provider=provider,
            event_id=event_id,
            event=event,
            email_id=email_id,
            recipient=recipient,
            occurred_at=occurred_at,
        )
    )


def email_for_provider_message(session: Session, provider_message_id: str) -> EmailLogEntry | None:
    if not provider_message_id:
        return None
    stmt = select(EmailLogEntry).where(EmailLogEntry.provider_message_id == provider_message_id)
    return session.exec(stmt).first()


def set_delivery_status(session: Session, email_id: str, status: str, at: datetime, reason: str | None) -> bool:
    """Keeps the most significant status (then the newest). True if it changed."""
    row = session.get(EmailDeliveryRecord, email_id)
    if row is None:
        session.add(
            EmailDeliveryRecord(email_id=email_id, delivery_status=status, delivery_status_at=at, reason=reason)
        )
        session.flush()
        _copy_to_log(session, email_id, status)
        return True
    old_rank, new_rank = DELIVERY_RANK.get(row.delivery_status, 0), DELIVERY_RANK.get(status, 0)
    if new_rank < old_rank or (new_rank == old_rank and at <= (as_utc(row.delivery_status_at) or at)):
        return False
    row.delivery_status, row.delivery_status_at, row.reason, row.updated_at = status, at, reason, utcnow()
    session.add(row)
    _copy_to_log(session, email_id, status)
    return True


def _copy_to_log(session: Session, email_id: str, status: str) -> None:
    entry = session.get(EmailLogEntry, email_id)
    if entry is not None:
        entry.delivery_status = status
        session.add(entry)


def delivery_status(session: Session, email_id: str) -> EmailDeliveryRecord | None:
    return session.get(EmailDeliveryRecord, email_id)


def delivery_statuses(session: Session, email_ids: list[str]) -> dict[str, EmailDeliveryRecord]:
    """One query for a page of the email log."""
    if not email_ids:
        return {}
    rows = session.exec(select(EmailDeliveryRecord).where(col(EmailDeliveryRecord.email_id).in_(email_ids)))
    return {row.email_id: row for row in rows}


def provider_events_for(session: Session, email_id: str) -> list[ProviderEventRecord]:
    stmt = (
        select(ProviderEventRecord)
        .where(ProviderEventRecord.email_id == email_id)
        .order_by(col(ProviderEventRecord.occurred_at), col(ProviderEventRecord.received_at))
    )
    return list(session.exec(stmt))
