"""One invoice: what happened to it, and a reminder on demand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path
from fastapi.concurrency import run_in_threadpool

from relance.api.deps import ServicesDep
from relance.api.schemas import ApiError, ReminderAccepted, error_responses
from relance.contracts.invoice_page import InvoicePage
from relance.services.invoice_timeline import invoice_known, invoice_page, workflow_view
from workflows.ids import invoice_workflow_id

router = APIRouter(tags=["invoices"])


@router.post(
    "/v1/invoices/{invoice_id}/send_reminder",
    status_code=202,
    response_model=ReminderAccepted,
    summary="Send a reminder for an open invoice now",
    responses=error_responses(400, 401, 409, 503),
)
async def send_reminder(
    invoice_id: Annotated[str, Path(min_length=1, max_length=255)],
    svc: ServicesDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description="Retrying with the same key sends the reminder once.",
        ),
    ] = None,
) -> ReminderAccepted:
    """409 `invoice_not_open` when Relance does not know the invoice or it is not open
    (draft, paid, void, uncollectible); 409 `charged_automatically` for a
    charge_automatically invoice no payment attempt has failed for yet. The workflow
    checks again before sending, so a payment arriving meanwhile still wins."""

    request_id = await svc.request_reminder(invoice_id, idempotency_key)
    return ReminderAccepted(invoice_id=invoice_id, request_id=request_id, workflow_id=invoice_workflow_id(invoice_id))


@router.get(
    "/v1/invoices/{invoice_id}",
    response_model=InvoicePage,
    summary="An invoice: its facts, its timeline and its reminder plan",
    responses=error_responses(400, 401, 404),
)
async def get_invoice(invoice_id: Annotated[str, Path(min_length=1, max_length=255)], svc: ServicesDep) -> InvoicePage:
    """The timeline lists, oldest first, the events received, the status changes and
    payment attempts they brought, the emails (with why one was skipped or failed) and the
    webhooks delivered. The reminder plan gives each slot in the customer's time zone (or
    the account's) and whether it was sent, skipped or is still ahead: from the running
    workflow, or from the email log and the schedule once it has closed. Temporal being
    away does not fail the request (`reminder_plan.source` is then `log`)."""
    if not await run_in_threadpool(invoice_known, svc.engine, invoice_id):
        raise ApiError(404, "not_found", f"Relance has no invoice {invoice_id!r} (no event for it was received)")
    workflow_id = invoice_workflow_id(invoice_id)
    workflow = await workflow_view(svc.client.temporal, workflow_id, timeout=min(svc.temporal_timeout, 5.0))
    page = await run_in_threadpool(invoice_page, svc.engine, svc.config, invoice_id, workflow_id, workflow)
    if page is None:
        raise ApiError(404, "not_found", f"Relance has no invoice {invoice_id!r} (no event for it was received)")
    return page
