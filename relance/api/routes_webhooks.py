"""Webhooks out (endpoints a team registers, signed per Standard Webhooks, delivered by
`WebhookWorkflow`) and SendGrid's Event Webhook in (delivery status, bounces,
suppressions).

Every route needs the API key except POST /v1/webhooks/sendgrid, which is verified by
SendGrid's ECDSA signature instead.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import Engine
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.webhooks import EVENT_TYPES, WILDCARD, WebhookEvent, event_id_for
from relance.api.app import Services, services
from relance.api.auth import require_api_key
from relance.api.schemas import ApiError, error_responses
from relance.storage import suppressions, webhooks_store
from relance.storage.database import session_scope
from relance.storage.tables import (
    EmailLogEntry,
    SuppressionRecord,
    WebhookDeliveryRecord,
    WebhookEndpointRecord,
    as_utc,
    utcnow,
)

log = logging.getLogger("relance.api")
router = APIRouter(tags=["webhooks"])
AUTH = [Depends(require_api_key)]

EndpointId = Annotated[str, Path(min_length=1, max_length=40, description="The endpoint's `id` (`we_...`).")]
WEBHOOK_WORKFLOW = "WebhookWorkflow"


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


class SendGridReceived(BaseModel):
    received: int
    applied: int
    duplicates: int
    ignored: int


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
    dependencies=AUTH,
    summary="Register a webhook endpoint",
    responses=error_responses(400, 401),
)
def create_endpoint(body: EndpointIn, svc: Services = Depends(services)) -> EndpointCreated:
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
    dependencies=AUTH,
    summary="List webhook endpoints",
    responses=error_responses(401),
)
def list_endpoints(svc: Services = Depends(services)) -> EndpointList:
    with session_scope(svc.engine) as session:
        return EndpointList(data=[EndpointOut(**_endpoint_out(e)) for e in webhooks_store.list_endpoints(session)])


@router.get(
    "/v1/webhook_endpoints/{endpoint_id}",
    response_model=EndpointOut,
    dependencies=AUTH,
    summary="One webhook endpoint",
    responses=error_responses(401, 404),
)
def get_endpoint(endpoint_id: EndpointId, svc: Services = Depends(services)) -> EndpointOut:
    with session_scope(svc.engine) as session:
        e = webhooks_store.get_endpoint(session, endpoint_id)
        if e is None:
            raise _not_found("webhook endpoint")
        return EndpointOut(**_endpoint_out(e))


@router.delete(
    "/v1/webhook_endpoints/{endpoint_id}",
    response_model=EndpointDeleted,
    dependencies=AUTH,
    summary="Delete a webhook endpoint",
    responses=error_responses(401, 404),
)
def delete_endpoint(endpoint_id: EndpointId, svc: Services = Depends(services)) -> EndpointDeleted:
    """Nothing more is sent to it, including retries in progress. Its delivery records stay."""
    with session_scope(svc.engine) as session:
        if not webhooks_store.delete_endpoint(session, endpoint_id):
            raise _not_found("webhook endpoint")
    return EndpointDeleted(id=endpoint_id)


@router.post(
    "/v1/webhook_endpoints/{endpoint_id}/rotate_secret",
    response_model=SecretRotated,
    dependencies=AUTH,
    summary="Rotate an endpoint's signing secret",
    responses=error_responses(401, 404),
)
def rotate_secret(endpoint_id: EndpointId, svc: Services = Depends(services)) -> SecretRotated:
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
    dependencies=AUTH,
    summary="Recent deliveries to an endpoint",
    responses=error_responses(401, 404),
)
def list_deliveries(
    endpoint_id: EndpointId, limit: Annotated[int, Query(ge=1, le=100)] = 50, svc: Services = Depends(services)
) -> DeliveryList:
    """Newest first: status, attempts so far and the last error, for ops."""
    with session_scope(svc.engine) as session:
        if webhooks_store.get_endpoint(session, endpoint_id) is None:
            raise _not_found("webhook endpoint")
        rows = webhooks_store.deliveries(session, endpoint_id=endpoint_id, limit=limit)
        return DeliveryList(data=[_delivery_out(d) for d in rows])


# ---- suppressions and delivery status ---------------------------------------------------


def _suppression_out(s: SuppressionRecord) -> SuppressionOut:
    return SuppressionOut(
        address=s.address, reason=s.reason, detail=s.detail, email_id=s.email_id, created_at=as_utc(s.created_at)
    )


@router.get(
    "/v1/suppressions",
    response_model=SuppressionList,
    dependencies=AUTH,
    summary="Addresses Relance no longer emails",
    responses=error_responses(401),
)
def list_suppressions(
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    svc: Services = Depends(services),
) -> SuppressionList:
    with session_scope(svc.engine) as session:
        return SuppressionList(
            data=[_suppression_out(s) for s in suppressions.list_suppressions(session, limit=limit, offset=offset)]
        )


@router.delete(
    "/v1/suppressions/{address}",
    response_model=SuppressionOut,
    dependencies=AUTH,
    summary="Email an address again",
    responses=error_responses(401, 404),
)
def delete_suppression(
    address: Annotated[str, Path(min_length=3, max_length=320)], svc: Services = Depends(services)
) -> SuppressionOut:
    with session_scope(svc.engine) as session:
        found = suppressions.suppressed_among(session, [address])
        if not found or not suppressions.remove(session, address):
            raise _not_found("suppression")
        return _suppression_out(next(iter(found.values())))


@router.get(
    "/v1/emails/{email_id}/delivery",
    response_model=EmailDelivery,
    dependencies=AUTH,
    summary="What the provider reported for one email",
    responses=error_responses(401, 404),
)
def email_delivery(
    email_id: Annotated[str, Path(min_length=1, max_length=32)], svc: Services = Depends(services)
) -> EmailDelivery:
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


# ---- SendGrid's Event Webhook in ---------------------------------------------------------

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
HANDLED = frozenset({"processed", "delivered", "deferred", "bounce", "dropped", "spamreport"})
PROVIDER = "sendgrid"


@lru_cache(maxsize=4)
def _public_key(configured: str) -> Any:
    """The configured key, base64 DER (as SendGrid shows it) or PEM, as a key object."""
    from sendgrid.helpers.eventwebhook import EventWebhook

    body = "".join(line.strip() for line in configured.strip().splitlines() if not line.startswith("-----"))
    return EventWebhook().convert_public_key_to_ecdsa(body)


def verify_sendgrid_signature(
    public_key: str | None, payload: bytes, signature: str | None, timestamp: str | None
) -> bool:
    from sendgrid.helpers.eventwebhook import EventWebhook

    if not (public_key and signature and timestamp):
        return False
    try:
        key = _public_key(public_key)
    except Exception as exc:  # noqa: BLE001  (any unreadable key is a configuration problem)
        log.warning(
            "SendGrid webhook refused: RELANCE_SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid key (%s)", type(exc).__name__
        )
        return False
    try:
        return bool(EventWebhook().verify_signature(payload.decode("utf-8"), signature, timestamp, public_key=key))
    except Exception:  # noqa: BLE001  (malformed base64 or DER, non-EC key: not a valid signature)
        return False


@dataclass
class _Applied:
    sg_event_id: str
    event: str
    status: str
    at: datetime
    recipient: str | None
    reason: str | None
    email_id: str | None
    suppress: str | None  # bounce | spamreport


@dataclass
class _Plan:
    apply: list[_Applied] = field(default_factory=list)
    outgoing: list[WebhookEvent] = field(default_factory=list)
    duplicates: int = 0
    ignored: int = 0


def _event_time(raw: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(raw["timestamp"]), tz=UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return utcnow()


def _text(value: Any, limit: int = 500) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def _plan_sendgrid(engine: Engine, events: list[Any]) -> _Plan:
    """Read only: what the batch changes, and the webhooks out it owes. Nothing is written
    until those webhooks are handed to Temporal, so a failure there changes nothing and
    SendGrid's retry finds the events unseen."""
    plan = _Plan()
    with session_scope(engine) as session:
        ids = [e["sg_event_id"] for e in events if isinstance(e, dict) and isinstance(e.get("sg_event_id"), str)]
        seen = webhooks_store.seen_provider_events(session, PROVIDER, ids)
        subscribed: dict[str, list[str]] = {}
        newly_suppressed: set[str] = set()

        def out(event_type: str, key: str, at: datetime, data: dict[str, Any]) -> None:
            if event_type not in subscribed:
                subscribed[event_type] = webhooks_store.subscribers(session, event_type)
            if subscribed[event_type]:
                plan.outgoing.append(
                    WebhookEvent(
                        id=event_id_for(key),
                        type=event_type,
                        timestamp=at,
                        data=data,
                        endpoint_ids=subscribed[event_type],
                    )
                )

        for raw in events:
            sg_id = raw.get("sg_event_id") if isinstance(raw, dict) else None
            name = raw.get("event") if isinstance(raw, dict) else None
            if not isinstance(sg_id, str) or not sg_id or name not in HANDLED:
                plan.ignored += 1  # opens, clicks, unsubscribes...: not Relance's business
                continue
            if sg_id in seen:
                plan.duplicates += 1
                continue
            seen.add(sg_id)
            # sg_message_id is the X-Message-Id we stored, then ".filter..." per recipient.
            message_id = str(raw.get("sg_message_id") or "").split(".", 1)[0]
            entry = webhooks_store.email_for_provider_message(session, message_id)
            at = _event_time(raw)
            recipient = _text(raw.get("email"), 320)
            bounce_type = str(raw.get("type") or "bounce") if name == "bounce" else None
            status = "blocked" if bounce_type == "blocked" else name
            reason = _text(raw.get("reason") or raw.get("response"))
            hard = (name == "bounce" and bounce_type == "bounce") or name == "spamreport"
            plan.apply.append(
                _Applied(
                    sg_event_id=sg_id,
                    event=name,
                    status=status,
                    at=at,
                    recipient=recipient,
                    reason=reason,
                    email_id=entry.id if entry else None,
                    suppress=name if hard and recipient else None,
                )
            )
            email = {}
            if entry is not None:
                email = {
                    "email_id": entry.id,
                    "email_key": entry.idempotency_key,
                    "kind": entry.kind,
                    "customer_id": entry.customer_id,
                    "invoice_id": entry.invoice_id,
                }
                common = {
                    **email,
                    "recipient": recipient,
                    "provider": PROVIDER,
                    "provider_message_id": entry.provider_message_id,
                    "provider_event_id": sg_id,
                }
                if name == "delivered":
                    out("email.delivered", f"{PROVIDER}:{sg_id}:email.delivered", at, {**common, "status": "delivered"})
                elif name == "bounce":
                    out(
                        "email.bounced",
                        f"{PROVIDER}:{sg_id}:email.bounced",
                        at,
                        {**common, "status": status, "bounce_type": bounce_type, "reason": reason},
                    )
            if hard and recipient:
                address = suppressions.normalize(recipient)
                if address not in newly_suppressed and not suppressions.is_suppressed(session, address):
                    newly_suppressed.add(address)
                    out(
                        "recipient.suppressed",
                        f"{PROVIDER}:{sg_id}:recipient.suppressed",
                        at,
                        {"address": address, "reason": name, "detail": reason, **email},
                    )
    return plan


def _apply_sendgrid(engine: Engine, plan: _Plan) -> int:
    from relance.platform.metrics import DELIVERY_REPORTS

    applied: list[_Applied] = []
    with session_scope(engine) as session:
        # Seen again inside the transaction: a concurrent post of the same batch applies once.
        seen = webhooks_store.seen_provider_events(session, PROVIDER, [a.sg_event_id for a in plan.apply])
        for a in plan.apply:
            if a.sg_event_id in seen:
                continue
            webhooks_store.record_provider_event(
                session, PROVIDER, a.sg_event_id, a.event, email_id=a.email_id, recipient=a.recipient, occurred_at=a.at
            )
            if a.email_id is not None:
                webhooks_store.set_delivery_status(session, a.email_id, a.status, a.at, a.reason)
            if a.suppress and a.recipient:
                suppressions.suppress(session, a.recipient, a.suppress, detail=a.reason, email_id=a.email_id)
            applied.append(a)
    for a in applied:  # committed: counted once, however often SendGrid posts the batch
        DELIVERY_REPORTS.labels(PROVIDER, a.status).inc()
    return len(applied)


async def start_webhook(svc: Services, event: WebhookEvent) -> None:
    """Hand one event to a WebhookWorkflow (once per event id)."""
    try:
        await svc.client.temporal.start_workflow(
            WEBHOOK_WORKFLOW,
            event,
            id=f"webhook-{event.id}",
            task_queue=svc.client.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass


@router.post(
    "/v1/webhooks/sendgrid",
    response_model=SendGridReceived,
    summary="SendGrid Event Webhook endpoint",
    responses=error_responses(400, 503),
)
async def sendgrid_events(request: Request, svc: Services = Depends(services)) -> SendGridReceived:
    """Point SendGrid's signed Event Webhook here and set `RELANCE_SENDGRID_WEBHOOK_PUBLIC_KEY`
    to its verification key. No API key: the ECDSA signature is verified instead. Updates
    each email's delivery status, suppresses hard-bounced and spam-reporting addresses,
    and emits `email.delivered`, `email.bounced` and `recipient.suppressed`."""
    payload = await request.body()
    if not verify_sendgrid_signature(
        svc.config.sendgrid_webhook_public_key,
        payload,
        request.headers.get(SIGNATURE_HEADER),
        request.headers.get(TIMESTAMP_HEADER),
    ):
        if not svc.config.sendgrid_webhook_public_key:
            log.warning("SendGrid webhook refused: RELANCE_SENDGRID_WEBHOOK_PUBLIC_KEY is not set")
        raise ApiError(400, "invalid_signature", f"the {SIGNATURE_HEADER} header does not verify")
    try:
        events = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    if isinstance(events, dict):
        events = [events]
    if not isinstance(events, list):
        raise ApiError(400, "invalid_event", "expected a JSON array of events")
    plan = await run_in_threadpool(_plan_sendgrid, svc.engine, events)
    for event in plan.outgoing:
        await svc.temporal(start_webhook(svc, event))
    applied = await run_in_threadpool(_apply_sendgrid, svc.engine, plan)
    return SendGridReceived(
        received=len(events),
        applied=applied,
        duplicates=plan.duplicates + len(plan.apply) - applied,
        ignored=plan.ignored,
    )
