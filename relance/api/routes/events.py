"""POST /v1/events: your backend's events, behind the API key. Everything is validated
before anything goes to Temporal, so a refused request has started nothing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from relance.api.deps import ServicesDep
from relance.api.intake import EVENT_SCHEMA, accept, invalid_event, read_json
from relance.api.schemas import EventsAccepted, EventsDuplicate, error_responses
from relance.contracts.events import InvalidEvent, parse_events

router = APIRouter(tags=["events"])

_EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [EVENT_SCHEMA, {"type": "array", "items": EVENT_SCHEMA}]},
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
async def post_events(request: Request, svc: ServicesDep) -> Any:
    """Stripe's envelope and object shapes (a Stripe event works as is). All events are
    validated first: one bad event refuses the request, naming it (`[1].data.object.currency`),
    and nothing is sent. 202 means Temporal holds them durably; sending again is harmless."""
    payload = await read_json(request)
    try:
        events = parse_events(payload)
    except InvalidEvent as exc:
        raise invalid_event(exc) from None
    return await accept(svc, events)
