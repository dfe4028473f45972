"""POST /v1/webhooks/stripe: Stripe's events, verified by their `Stripe-Signature` (no API
key). Validated before anything goes to Temporal, like /v1/events."""

from __future__ import annotations

import logging
from typing import Any

import stripe
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from relance.api.deps import ServicesDep
from relance.api.intake import EVENT_SCHEMA, accept, invalid_event, read_json
from relance.api.schemas import ApiError, EventsAccepted, EventsDuplicate, WebhookIgnored, error_responses
from relance.contracts.events import SUPPORTED_EVENT_TYPES, InvalidEvent, parse_event

log = logging.getLogger("relance.api")
router = APIRouter(tags=["events"])

# Stripe's own default: a signature older than this is a replay.
STRIPE_TOLERANCE_SECONDS = 300


def _bad_signature() -> ApiError:
    return ApiError(400, "invalid_signature", "the Stripe-Signature header does not verify")


@router.post(
    "/v1/webhooks/stripe",
    status_code=202,
    response_model=EventsAccepted,
    summary="Stripe webhook endpoint",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": EVENT_SCHEMA}}}},
    responses={
        200: {
            "model": WebhookIgnored | EventsDuplicate,
            "description": "`ignored`: a type Relance does not handle. `duplicate`: already applied.",
        },
        **error_responses(400, 503),
    },
)
async def stripe_webhook(request: Request, svc: ServicesDep) -> Any:
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
