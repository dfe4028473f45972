"""The sequence every email follows, shared by all workflows: prepare, render its PDFs
(concurrently), deliver. A delivery that exhausts its retries is recorded as failed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.emails import EmailActivities
    from relance.contracts.models import DeliveryRequest, DeliveryResult, EmailRequest, FailureRecord
    from workflows.webhook_emit import emit_email_outcome

# Bugs and missing data do not fix themselves by retrying; outages do.
_PERMANENT = ["ValueError", "LookupError", "ValidationError", "TemplateError", "UndefinedError"]

# A worker that dies (crash, OOM, SIGKILL, a lost machine) holds its activities until a
# timeout tells Temporal to retry them elsewhere. These activities heartbeat while they
# work (rendering and sending can legitimately take minutes), so a dead worker's emails
# resume after HEARTBEAT, not after the whole start-to-close timeout (up to 5 minutes).
# A timeout is an activity option, not a command the history checks: replays unchanged.
HEARTBEAT = timedelta(seconds=30)

PREPARE = dict(
    start_to_close_timeout=timedelta(minutes=1),
    heartbeat_timeout=HEARTBEAT,
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5), non_retryable_error_types=_PERMANENT),
)
RENDER = dict(
    start_to_close_timeout=timedelta(minutes=5),
    heartbeat_timeout=HEARTBEAT,
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5), non_retryable_error_types=_PERMANENT),
)
# A provider outage is retried with back-off for up to 3 days, then the email is failed.
DELIVER = dict(
    start_to_close_timeout=timedelta(minutes=2),
    schedule_to_close_timeout=timedelta(days=3),
    heartbeat_timeout=HEARTBEAT,
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=5), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=30)
    ),
)
RECORD = dict(start_to_close_timeout=timedelta(seconds=30))


def _last_error_type(err: BaseException) -> str | None:
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
        prepared = await workflow.execute_activity_method(EmailActivities.prepare_email, req, **PREPARE)
        if prepared.status != "ready":
            # No address or every address suppressed: nobody gets it, so the account hears
            # of it like any failure.
            if prepared.undeliverable:
                await emit_email_outcome(req, DeliveryResult(status="failed", error=prepared.reason))
            return None
        attachments = await asyncio.gather(
            *(
                workflow.execute_activity_method(EmailActivities.render_document, doc, **RENDER)
                for doc in prepared.documents
            )
        )
        result = await workflow.execute_activity_method(
            EmailActivities.deliver_email,
            DeliveryRequest(idempotency_key=req.idempotency_key, attachments=list(attachments)),
            **DELIVER,
        )
    except ActivityError as err:
        reason = str(err.cause) if err.cause else str(err)
        workflow.logger.warning("email %s failed: %s", req.idempotency_key, reason)
        await workflow.execute_activity_method(
            EmailActivities.record_delivery_failure,
            FailureRecord(request=req, error=reason, error_type=_last_error_type(err)),
            **RECORD,
        )
        result = DeliveryResult(status="failed", error=reason)
    await emit_email_outcome(req, result)  # email.sent / email.failed webhooks
    return result
