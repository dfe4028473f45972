"""Webhooks out: the endpoints a team registers (signed per Standard Webhooks, delivered
by `WebhookWorkflow`), their secrets and their recent deliveries. Every route needs the
API key (app.py includes the router behind it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from activities.webhooks import EVENT_TYPES, WILDCARD
from relance.api.deps import ServicesDep
from relance.api.schemas import ApiError, error_responses
from relance.storage import webhooks_store
from relance.storage.database import session_scope
from relance.storage.tables import WebhookDeliveryRecord, WebhookEndpointRecord, as_utc, utcnow

router = APIRouter(tags=["webhooks"])

EndpointId = Annotated[str, Path(min_length=1, max_length=40, description="The endpoint's `id` (`we_...`).")]

# ---- bodies -----------------------------------------------------------------------------


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=2048,
        description="Where events are POSTed: an http(s) URL.",
        examples=["https://billing.example.com/hooks/relance"],
    )
    event_types: list[str] = Field(min_length=1, description='Event types, or `["*"]` for all of them.')
    description: str | None = Field(default=None, max_length=500)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = v.strip()
        if any(c.isspace() or ord(c) < 32 for c in v):
            raise ValueError("the URL contains whitespace or control characters")
        try:
            parts = urlsplit(v)
            parts.port  # noqa: B018  (raises on a malformed port)
        except ValueError:
            raise ValueError("not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return v

    @field_validator("event_types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        unknown = [t for t in v if t != WILDCARD and t not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event type {unknown[0]!r} (known: {', '.join(EVENT_TYPES)}, or '*')")
        if WILDCARD in v:
            return [WILDCARD]
        return list(dict.fromkeys(v))


class EndpointOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str | None = None
    created_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="While set, deliveries are signed with the previous secret too."
    )


class EndpointCreated(EndpointOut):
    secret: str = Field(description="`whsec_...`: verify signatures with it. Shown here and on rotation only.")


class EndpointList(BaseModel):
    data: list[EndpointOut]


class EndpointDeleted(BaseModel):
    id: str
    deleted: Literal[True] = True


class SecretRotated(BaseModel):
    id: str
    secret: str
    previous_secret_expires_at: datetime


class DeliveryOut(BaseModel):
    event_id: str
    event_type: str
    status: str = Field(description="pending (retrying) | delivered | failed | skipped (endpoint deleted)")
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None


class DeliveryList(BaseModel):
    data: list[DeliveryOut]


def _endpoint_out(e: WebhookEndpointRecord) -> dict[str, Any]:
    expires = as_utc(e.previous_secret_expires_at)
    return dict(
        id=e.id,
        url=e.url,
        event_types=list(e.event_types),
        description=e.description,
        created_at=as_utc(e.created_at),
        previous_secret_expires_at=expires if expires and expires > utcnow() else None,
    )


def _delivery_out(d: WebhookDeliveryRecord) -> DeliveryOut:
    return DeliveryOut(
        event_id=d.event_id,
        event_type=d.event_type,
        status=d.status,
        attempts=d.attempts,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        created_at=as_utc(d.created_at),
        updated_at=as_utc(d.updated_at),
        delivered_at=as_utc(d.delivered_at),
    )


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no such {what}")


# ---- webhook endpoints ------------------------------------------------------------------


@router.post(
    "/v1/webhook_endpoints",
    status_code=201,
    response_model=EndpointCreated,
    summary="Register a webhook endpoint",
    responses=error_responses(400, 401),
)
def create_endpoint(body: EndpointIn, svc: ServicesDep) -> EndpointCreated:
    """Events of the listed types are POSTed to `url`, signed per Standard Webhooks with
    the `secret` returned here (keep it: it is not shown again)."""
    with session_scope(svc.engine) as session:
        e = webhooks_store.create_endpoint(
            session, url=body.url, event_types=body.event_types, description=body.description
        )
        return EndpointCreated(**_endpoint_out(e), secret=e.secret)


@router.get(
    "/v1/webhook_endpoints",
    response_model=EndpointList,
    summary="List webhook endpoints",
    responses=error_responses(401),
)
def list_endpoints(svc: ServicesDep) -> EndpointList:
    with session_scope(svc.engine) as session:
        return EndpointList(data=[EndpointOut(**_endpoint_out(e)) for e in webhooks_store.list_endpoints(session)])


@router.get(
    "/v1/webhook_endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="One webhook endpoint",
    responses=error_responses(401, 404),
)
def get_endpoint(endpoint_id: EndpointId, svc: ServicesDep) -> EndpointOut:
    with session_scope(svc.engine) as session:
        e = webhooks_store.get_endpoint(session, endpoint_id)
        if e is None:
            raise _not_found("webhook endpoint")
        return EndpointOut(**_endpoint_out(e))


@router.delete(
    "/v1/webhook_endpoints/{endpoint_id}",
    response_model=EndpointDeleted,
    summary="Delete a webhook endpoint",
    responses=error_responses(401, 404),
)
def delete_endpoint(endpoint_id: EndpointId, svc: ServicesDep) -> EndpointDeleted:
    """Nothing more is sent to it, including retries in progress. Its delivery records stay."""
    with session_scope(svc.engine) as session:
        if not webhooks_store.delete_endpoint(session, endpoint_id):
            raise _not_found("webhook endpoint")
    return EndpointDeleted(id=endpoint_id)


@router.post(
    "/v1/webhook_endpoints/{endpoint_id}/rotate_secret",
    response_model=SecretRotated,
    summary="Rotate an endpoint's signing secret",
    responses=error_responses(401, 404),
)
def rotate_secret(endpoint_id: EndpointId, svc: ServicesDep) -> SecretRotated:
    """A new secret. For 24 hours every delivery carries two signatures (new and old) in
    `webhook-signature`, so the receiver can switch whenever it likes within that time."""
    with session_scope(svc.engine) as session:
        e = webhooks_store.get_endpoint(session, endpoint_id)
        if e is None:
            raise _not_found("webhook endpoint")
        secret = webhooks_store.rotate_secret(session, e)
        expires = as_utc(e.previous_secret_expires_at)
        assert expires is not None
        return SecretRotated(id=e.id, secret=secret, previous_secret_expires_at=expires)


@router.get(
    "/v1/webhook_endpoints/{endpoint_id}/deliveries",
    response_model=DeliveryList,
    summary="Recent deliveries to an endpoint",
    responses=error_responses(401, 404),
)
def list_deliveries(
    endpoint_id: EndpointId, svc: ServicesDep, limit: Annotated[int, Query(ge=1, le=100)] = 50
) -> DeliveryList:
    """Newest first: status, attempts so far and the last error, for ops."""
    with session_scope(svc.engine) as session:
        if webhooks_store.get_endpoint(session, endpoint_id) is None:
            raise _not_found("webhook endpoint")
        rows = webhooks_store.deliveries(session, endpoint_id=endpoint_id, limit=limit)
        return DeliveryList(data=[_delivery_out(d) for d in rows])
