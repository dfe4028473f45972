"""Test sends: any kind on sample data with the account's branding, to a typed address."""

from __future__ import annotations

from fastapi import APIRouter

from relance.api.deps import ServicesDep
from relance.api.schemas import EmailAccepted, IdempotencyKey, TestEmailIn, error_responses
from workflows.ids import operator_email_workflow_id

router = APIRouter(tags=["emails"])


@router.post(
    "/v1/test-emails",
    status_code=202,
    response_model=EmailAccepted,
    summary="Send a test of one kind on sample data",
    responses=error_responses(400, 401, 503),
)
async def send_test_email(body: TestEmailIn, svc: ServicesDep, idempotency_key: IdempotencyKey = None) -> EmailAccepted:
    """The kind rendered on sample data with the current branding and active template, in
    `locale`, to `to` only; its subject starts with `[TEST]` and the log marks it
    (`test: true`, customer `cus_sample`). Sent through the configured transport."""
    req = await svc.test_send(body.kind, body.to, body.locale, idempotency_key)
    return EmailAccepted(
        id=req.email_id,
        request_id=req.idempotency_key.split(":", 1)[1],
        workflow_id=operator_email_workflow_id(req.email_id),
    )
