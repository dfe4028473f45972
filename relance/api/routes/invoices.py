"""Actions on one invoice."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path

from relance.api.deps import ServicesDep
from relance.api.schemas import ReminderAccepted, error_responses
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
