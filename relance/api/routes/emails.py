"""The email log: a customer's recent emails, one email as it was sent, its PDFs, and
sending one again (a resend)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from relance.api.deps import ServicesDep
from relance.api.schemas import (
    CustomerId,
    EmailAccepted,
    EmailOut,
    EmailPage,
    IdempotencyKey,
    Recipients,
    error_responses,
)
from relance.api.sent_emails import attachment_response, email_out, email_summary
from relance.storage import email_log, webhooks_store
from relance.storage.database import session_scope
from workflows.ids import operator_email_workflow_id

router = APIRouter(tags=["emails"])

MAX_PAGE = 100
EmailId = Annotated[str, Path(min_length=1, max_length=32, description="The `id` from the email log.")]


@router.get(
    "/v1/customers/{customer_id}/emails",
    response_model=EmailPage,
    summary="A customer's emails within the log's retention (30 days by default)",
    responses=error_responses(400, 401),
)
def list_emails(
    customer_id: CustomerId,
    svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size, at most 100.")] = 50,
    offset: Annotated[int, Query(ge=0, description="From `next_offset` of the previous page.")] = 0,
) -> EmailPage:
    """Newest first: every email Relance decided to send, including skipped and failed ones,
    over the days the log keeps (RELANCE_LOG_RETENTION_DAYS, 30 by default)."""
    with session_scope(svc.engine) as session:
        # One extra row tells whether another page exists without a COUNT.
        rows = email_log.customer_emails(
            session, customer_id, days=svc.config.log_retention_days, limit=limit + 1, offset=offset
        )
        deliveries = webhooks_store.delivery_statuses(session, [e.id for e in rows[:limit]])
    has_more = len(rows) > limit
    return EmailPage(
        data=[email_summary(e, deliveries.get(e.id)) for e in rows[:limit]],
        has_more=has_more,
        next_offset=offset + limit if has_more else None,
    )


@router.get(
    "/v1/emails/{email_id}",
    response_model=EmailOut,
    summary="One email as it was sent",
    responses=error_responses(401, 404),
)
def get_email(email_id: EmailId, svc: ServicesDep) -> EmailOut:
    """Headers, HTML and text exactly as rendered for delivery, and the attached PDFs
    (download each from its `url`)."""
    return email_out(svc.engine, email_id)


@router.get(
    "/v1/emails/{email_id}/attachments/{n}",
    summary="One attached PDF",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The PDF as attached."},
        **error_responses(401, 404),
    },
)
def get_attachment(
    email_id: EmailId,
    n: Annotated[int, Path(ge=0, description="Index in `attachments`.")],
    svc: ServicesDep,
) -> Response:
    """404 also while the PDF is not rendered yet (the email is still pending)."""
    return attachment_response(svc.engine, email_id, n)


@router.post(
    "/v1/emails/{email_id}/resend",
    status_code=202,
    response_model=EmailAccepted,
    summary="Send one email again, as it was sent",
    responses=error_responses(400, 401, 404, 409, 503),
)
async def resend_email(
    email_id: EmailId,
    svc: ServicesDep,
    body: Recipients | None = None,
    idempotency_key: IdempotencyKey = None,
) -> EmailAccepted:
    """The same subject, HTML, text and PDFs (byte for byte) under a new Message-ID, to
    the original recipients or to corrected ones (`to`, `cc`: each optional, an omitted
    one keeps the original's). Delivered like any email (the transport, its hold,
    suppressed addresses) and logged as a new email whose `resend_of` is this one.
    409 `kind_turned_off` for an email skipped because its kind was off, 409
    `not_resendable` for one never rendered or whose PDFs were purged."""
    req = await svc.resend(email_id, body.to if body else None, body.cc if body else None, idempotency_key)
    return EmailAccepted(
        id=req.email_id,
        request_id=req.idempotency_key.split(":", 2)[2],
        workflow_id=operator_email_workflow_id(req.email_id),
        resend_of=email_id,
    )
