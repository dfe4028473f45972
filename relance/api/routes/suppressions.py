"""Suppressions (addresses Relance no longer emails) and what the provider reported for
one email. Every route needs the API key (app.py includes the router behind it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from relance.api.deps import ServicesDep
from relance.api.schemas import ApiError, error_responses
from relance.storage import suppressions, webhooks_store
from relance.storage.database import session_scope
from relance.storage.tables import EmailLogEntry, SuppressionRecord, as_utc

router = APIRouter(tags=["webhooks"])


class SuppressionOut(BaseModel):
    address: str
    reason: str
    detail: str | None = None
    email_id: str | None = None
    created_at: datetime


class SuppressionList(BaseModel):
    data: list[SuppressionOut]


class ProviderEventOut(BaseModel):
    event: str
    recipient: str | None = None
    time: datetime | None = None


class EmailDelivery(BaseModel):
    email_id: str
    status: str = Field(description="The email log's status (`sent` stays `sent`).")
    delivery_status: str | None = Field(
        default=None,
        description="What the provider reported last: processed, "
        "deferred, delivered, bounce, blocked, dropped, spamreport.",
    )
    delivery_status_at: datetime | None = None
    reason: str | None = None
    events: list[ProviderEventOut] = Field(default_factory=list)


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no such {what}")


def _suppression_out(s: SuppressionRecord) -> SuppressionOut:
    return SuppressionOut(
        address=s.address, reason=s.reason, detail=s.detail, email_id=s.email_id, created_at=as_utc(s.created_at)
    )


@router.get(
    "/v1/suppressions",
    response_model=SuppressionList,
    summary="Addresses Relance no longer emails",
    responses=error_responses(401),
)
def list_suppressions(
    svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SuppressionList:
    with session_scope(svc.engine) as session:
        return SuppressionList(
            data=[_suppression_out(s) for s in suppressions.list_suppressions(session, limit=limit, offset=offset)]
        )


@router.delete(
    "/v1/suppressions/{address}",
    response_model=SuppressionOut,
    summary="Email an address again",
    responses=error_responses(401, 404),
)
def delete_suppression(address: Annotated[str, Path(min_length=3, max_length=320)], svc: ServicesDep) -> SuppressionOut:
    with session_scope(svc.engine) as session:
        found = suppressions.suppressed_among(session, [address])
        if not found or not suppressions.remove(session, address):
            raise _not_found("suppression")
        return _suppression_out(next(iter(found.values())))


@router.get(
    "/v1/emails/{email_id}/delivery",
    response_model=EmailDelivery,
    summary="What the provider reported for one email",
    responses=error_responses(401, 404),
)
def email_delivery(email_id: Annotated[str, Path(min_length=1, max_length=32)], svc: ServicesDep) -> EmailDelivery:
    with session_scope(svc.engine) as session:
        entry = session.get(EmailLogEntry, email_id)
        if entry is None:
            raise _not_found("email")
        row = webhooks_store.delivery_status(session, email_id)
        events = webhooks_store.provider_events_for(session, email_id)
        return EmailDelivery(
            email_id=email_id,
            status=entry.status,
            delivery_status=row.delivery_status if row else None,
            delivery_status_at=as_utc(row.delivery_status_at) if row else None,
            reason=row.reason if row else None,
            events=[ProviderEventOut(event=e.event, recipient=e.recipient, time=as_utc(e.occurred_at)) for e in events],
        )
