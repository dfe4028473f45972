"""Customers: PUT travels as a `customer.updated` event through the customer's workflow,
like every other customer change, so writes to one customer are applied one at a time
and the newest wins (see docs/api.md)."""

from __future__ import annotations

import asyncio
import time
import uuid

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from relance.api.deps import Services, ServicesDep
from relance.api.schemas import ApiError, CustomerAccepted, CustomerId, CustomerIn, CustomerOut, error_responses
from relance.contracts.events import CustomerEvent, InvalidEvent, parse_event
from relance.storage.customers import get_customer
from relance.storage.database import session_scope
from relance.storage.tables import CustomerRecord, ProcessedEvent, as_utc

router = APIRouter(tags=["customers"])

_POLL_SECONDS = 0.05


def customer_out(rec: CustomerRecord) -> CustomerOut:
    return CustomerOut(
        id=rec.id,
        email=rec.email,
        name=rec.name,
        preferred_locales=list(rec.preferred_locales),
        timezone=rec.timezone,
        invoice_emails=list(rec.invoice_emails),
        cc_emails=list(rec.cc_emails),
        address_lines=list(rec.address_lines),
        einvoice_profile=rec.einvoice_profile,
        buyer_reference=rec.buyer_reference,
        updated_at=as_utc(rec.updated_at),
    )


def _as_sent(event: CustomerEvent) -> CustomerOut:
    c = event.customer
    return CustomerOut(
        id=c.id,
        email=c.email,
        name=c.name,
        preferred_locales=list(c.preferred_locales),
        timezone=c.timezone,
        invoice_emails=list(c.invoice_emails or []),
        cc_emails=list(c.cc_emails or []),
        address_lines=c.address.lines() if c.address else [],
        einvoice_profile=None if c.einvoice_profile == "default" else c.einvoice_profile,
        buyer_reference=c.buyer_reference_set or None,
    )


def _applied(svc: Services, event_id: str, customer_id: str) -> CustomerOut | None:
    with session_scope(svc.engine) as session:
        if session.get(ProcessedEvent, event_id) is None:
            return None
        rec = get_customer(session, customer_id)
        return customer_out(rec) if rec is not None else None


async def _wait_applied(svc: Services, event_id: str, customer_id: str) -> CustomerOut | None:
    # Waiting briefly gives callers read-your-writes in the normal case: when this
    # returns, the next email prepared for the customer uses the new lists.
    deadline = asyncio.get_running_loop().time() + svc.apply_wait
    while True:
        stored = await run_in_threadpool(_applied, svc, event_id, customer_id)
        if stored is not None or asyncio.get_running_loop().time() >= deadline:
            return stored
        await asyncio.sleep(_POLL_SECONDS)


@router.put(
    "/v1/customers/{customer_id}",
    status_code=202,
    response_model=CustomerAccepted,
    summary="Create or replace a customer (recipients, locale, time zone)",
    responses=error_responses(400, 401, 503),
)
async def put_customer(customer_id: CustomerId, body: CustomerIn, svc: ServicesDep) -> CustomerAccepted:
    """Sent as a `customer.updated` event dated now, through the same workflow as your
    customer events, so it is ordered with them. Answers once the change is stored
    (`status: applied`), or after a few seconds with `status: accepted` if the worker has
    not applied it yet (it will). Every address is validated; an invalid one is named."""
    obj = {"id": customer_id, "object": "customer", **body.model_dump()}
    envelope = {
        "id": f"evt_api_{uuid.uuid4().hex}",
        "type": "customer.updated",
        # Sub-second precision: two quick PUTs must not tie on `created`.
        "created": time.time(),
        "data": {"object": obj},
    }
    try:
        event = parse_event(envelope)
    except InvalidEvent as exc:
        field = exc.field.removeprefix("data.object.")
        raise ApiError(400, "invalid_customer", exc.message, field) from None
    assert isinstance(event, CustomerEvent)
    accepted = await svc.send_event(event)
    stored = await _wait_applied(svc, event.id, customer_id)
    return CustomerAccepted(
        status="applied" if stored is not None else "accepted",
        event_id=event.id,
        workflow_id=accepted.workflow_id,
        customer=stored or _as_sent(event),
    )


@router.get(
    "/v1/customers/{customer_id}",
    response_model=CustomerOut,
    summary="A customer as Relance knows it",
    responses=error_responses(401, 404),
)
def get_customer_route(customer_id: CustomerId, svc: ServicesDep) -> CustomerOut:
    """The merge of every customer event and PUT received (the newest wins)."""
    with session_scope(svc.engine) as session:
        rec = get_customer(session, customer_id)
        if rec is None:
            raise ApiError(404, "not_found", f"no customer {customer_id!r}")
        return customer_out(rec)
