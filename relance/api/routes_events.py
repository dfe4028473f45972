"""Events in: POST /v1/events (your backend, API key) and POST /v1/webhooks/stripe
(Stripe, signed). Both validate everything before handing anything to Temporal, so a
refused request has started nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import stripe
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlmodel import select

from relance.api.app import Services, services
from relance.api.schemas import (
    AcceptedEvent,
    ApiError,
    EventsAccepted,
    EventsDuplicate,
    WebhookIgnored,
    error_responses,
)
from relance.contracts.events import (
    SUPPORTED_EVENT_TYPES,
    Event,
    InvalidEvent,
    UnsupportedEventType,
    parse_event,
    parse_events,
)
from relance.storage.database import session_scope
from relance.storage.tables import ProcessedEvent

log = logging.getLogger("relance.api")
router = APIRouter(tags=["events"])
webhook_router = APIRouter(tags=["events"])

# Stripe's own default: a signature older than this is a replay.
STRIPE_TOLERANCE_SECONDS = 300

_EVENT_SCHEMA = {
    "type": "object",
    "required": ["id", "type", "created", "data"],
    "properties": {
        "id": {"type": "string", "example": "evt_1"},
        "type": {"type": "string", "enum": sorted(SUPPORTED_EVENT_TYPES)},
        "created": {"type": "integer", "description": "Unix seconds (an ISO 8601 string is accepted too)."},
        "data": {"type": "object", "properties": {"object": {"type": "object", "description": "The Stripe object."}}},
    },
}
_EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [_EVENT_SCHEMA, {"type": "array", "items": _EVENT_SCHEMA}]},
                "example": {
                    "id": "evt_1",
                    "type": "invoice.finalized",
                    "created": 1767225600,
                    "data": {
                        "object": {
                            "id": "in_1",
                            "object": "invoice",
                            "customer": "cus_1",
                            "currency": "eur",
                            "amount_due": 12000,
                            "status": "open",
                            "collection_method": "send_invoice",
                            "due_date": 1768435200,
                        }
                    },
                },
            }
        },
    }
}


def invalid_event(exc: InvalidEvent) -> ApiError:
    kind = "unsupported_event_type" if isinstance(exc, UnsupportedEventType) else "invalid_event"
    return ApiError(400, kind, exc.message, exc.field)


async def read_json(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    except RecursionError:
        # `[[[[...` 100,000 deep: the decoder gives up; a request, not a server, error.
        raise ApiError(400, "invalid_json", "the body is nested too deeply") from None


def _all_processed(svc: Services, ids: Sequence[str]) -> bool:
    with session_scope(svc.engine) as session:
        found = set(session.exec(select(ProcessedEvent.id).where(ProcessedEvent.id.in_(set(ids)))))
    return set(ids) <= found


async def accept(svc: Services, events: list[Event]) -> EventsAccepted | JSONResponse:
    """Hand validated events to Temporal, unless every one was already applied."""
    if not events:
        raise ApiError(400, "invalid_event", "no events", "event")
    # Only invoice and customer events are recorded in processed_events; the others
    # always go through and their workflows drop the duplicates.
    if await run_in_threadpool(_all_processed, svc, [e.id for e in events]):
        return JSONResponse(EventsDuplicate().model_dump(), status_code=200)
    accepted = [await svc.send_event(event) for event in events]
    return EventsAccepted(
        events=[AcceptedEvent(id=a.event_id, type=a.type, workflow_id=a.workflow_id) for a in accepted]
    )


@router.post(
    "/v1/events",
    status_code=202,
    response_model=EventsAccepted,
    openapi_extra=_EVENTS_BODY,
    summary="Send one event or a list of events",
    responses={
        200: {"model": EventsDuplicate, "description": "Every event was already applied; nothing sent."},
        **error_responses(400, 401, 503),
    },
)
async def post_events(request: Request, svc: Services = Depends(services)) -> Any:
    """Stripe's envelope and object shapes (a Stripe event works as is). All events are
    validated first: one bad event refuses the request, naming it (`[1].data.object.currency`),
    and nothing is sent. 202 means Temporal holds them durably; sending again is harmless."""
    payload = await read_json(request)
    try:
        events = parse_events(payload)
    except InvalidEvent as exc:
        raise invalid_event(exc) from None
    return await accept(svc, events)


def _bad_signature() -> ApiError:
    return ApiError(400, "invalid_signature", "the Stripe-Signature header does not verify")


@webhook_router.post(
    "/v1/webhooks/stripe",
    status_code=202,
    response_model=EventsAccepted,
    summary="Stripe webhook endpoint",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _EVENT_SCHEMA}}}},
    responses={
        200: {
            "model": WebhookIgnored | EventsDuplicate,
            "description": "`ignored`: a type Relance does not handle. `duplicate`: already applied.",
        },
        **error_responses(400, 503),
    },
)
async def stripe_webhook(request: Request, svc: Services = Depends(services)) -> Any:
    """Point a Stripe webhook endpoint here and set `RELANCE_STRIPE_WEBHOOK_SECRET` to its
    signing secret. No API key: the `Stripe-Signature` header is verified instead (several
    `v1` values, as during a secret roll, are fine; older than 5 minutes is refused)."""
    payload = await request.body()
    secret = svc.config.stripe_webhook_secret.get_secret_value() if svc.config.stripe_webhook_secret else ""
    if not secret:
        # Same answer as a bad signature: the endpoint is public, its configuration is not.
        log.warning("Stripe webhook refused: RELANCE_STRIPE_WEBHOOK_SECRET is not set")
        raise _bad_signature()
    try:
        stripe.WebhookSignature.verify_header(
            payload, request.headers.get("stripe-signature"), secret, tolerance=STRIPE_TOLERANCE_SECONDS
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
        raise _bad_signature() from None
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_event", "expected a JSON object", "event")
    if data.get("type") not in SUPPORTED_EVENT_TYPES:
        # 2xx, or Stripe retries it for days and eventually disables the endpoint.
        return JSONResponse(WebhookIgnored().model_dump(), status_code=200)
    try:
        event = parse_event(data)
    except InvalidEvent as exc:
        raise invalid_event(exc) from None
    return await accept(svc, [event])
