"""Events in, whoever sends them (your backend on /v1/events, Stripe on its webhook): read
the body, name what is wrong with it, and hand validated events to Temporal unless every
one was already applied."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from relance.api.deps import Services
from relance.api.schemas import AcceptedEvent, ApiError, EventsAccepted, EventsDuplicate
from relance.contracts.events import SUPPORTED_EVENT_TYPES, Event, InvalidEvent, UnsupportedEventType
from relance.storage.database import session_scope
from relance.storage.tables import ProcessedEvent

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type", "created", "data"],
    "properties": {
        "id": {"type": "string", "example": "evt_1"},
        "type": {"type": "string", "enum": sorted(SUPPORTED_EVENT_TYPES)},
        "created": {"type": "integer", "description": "Unix seconds (an ISO 8601 string is accepted too)."},
        "data": {"type": "object", "properties": {"object": {"type": "object", "description": "The Stripe object."}}},
    },
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
        found = set(session.exec(select(ProcessedEvent.id).where(col(ProcessedEvent.id).in_(set(ids)))))
    return set(ids) <= found


async def accept(svc: Services, events: list[Event]) -> EventsAccepted | JSONResponse:
    """Hand validated events to Temporal, unless every one was already applied."""
    if not events:
        raise ApiError(400, "invalid_event", "no events", "event")
    # Only invoice, customer and payment events are recorded in processed_events; the others
    # always go through and their workflows drop the duplicates.
    if await run_in_threadpool(_all_processed, svc, [e.id for e in events]):
        return JSONResponse(EventsDuplicate().model_dump(), status_code=200)
    accepted = [await svc.send_event(event) for event in events]
    return EventsAccepted(
        events=[AcceptedEvent(id=a.event_id, type=a.type, workflow_id=a.workflow_id) for a in accepted]
    )
