"""The sequence every email follows, shared by all workflows: prepare, render its PDFs
(concurrently), deliver. A delivery that exhausts its retries is recorded as failed."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.emails import EmailActivities
    from relance.contracts.models import DeliveryRequest, DeliveryResult, EmailRequest, FailureRecord
    from workflows.options import DELIVER, PREPARE, RECORD, RENDER, summarized
    from workflows.webhook_emit import emit_email_outcome


def last_error_type(err: BaseException) -> str | None:
    """The last attempt's error type: when the 3-day window closes, the ActivityError's
    cause is a timeout whose own cause is the last attempt's ApplicationError."""
    cause: BaseException | None = err.__cause__
    while cause is not None:
        if isinstance(cause, ApplicationError):
            return cause.type
        cause = cause.__cause__
    return None


async def send_email(req: EmailRequest) -> DeliveryResult | None:
    """Returns None when nothing had to be sent (already sent, turned off, no recipient)."""
    try:
        prepared = await workflow.execute_activity_method(
            EmailActivities.prepare_email, req, **summarized(PREPARE, f"prepare {req.idempotency_key}")
        )
        if prepared.status != "ready":
            # No address or every address suppressed: nobody gets it, so the account hears
            # of it like any failure.
            if prepared.undeliverable:
                await emit_email_outcome(req, DeliveryResult(status="failed", error=prepared.reason))
            return None
        attachments = await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    EmailActivities.render_document, doc, **summarized(RENDER, f"PDF for {req.idempotency_key}")
                )
                for doc in prepared.documents
            )
        )
        result = await workflow.execute_activity_method(
            EmailActivities.deliver_email,
            DeliveryRequest(idempotency_key=req.idempotency_key, attachments=list(attachments)),
            **summarized(DELIVER, f"deliver {req.idempotency_key}"),
        )
    except ActivityError as err:
        reason = str(err.cause) if err.cause else str(err)
        workflow.logger.warning("email %s failed: %s", req.idempotency_key, reason)
        await workflow.execute_activity_method(
            EmailActivities.record_delivery_failure,
            FailureRecord(request=req, error=reason, error_type=last_error_type(err)),
            **RECORD,
        )
        result = DeliveryResult(status="failed", error=reason)
    await emit_email_outcome(req, result)  # email.sent / email.failed webhooks
    return result
