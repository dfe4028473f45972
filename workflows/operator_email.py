"""An email an operator asked for (a resend, a test send): prepared by its own activity,
then delivered by the same activity as every other email, so the transport, its hold,
suppressions and the retry policy apply. The workflow id derives from the request's
idempotency key: asking twice finds the same workflow or, once it ended, the same log
row, and sends once."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.emails import EmailActivities
    from relance.contracts.models import (
        DeliveryRequest,
        DeliveryResult,
        EmailRequest,
        FailureRecord,
        OperatorEmailRequest,
    )
    from workflows.email_steps import last_error_type
    from workflows.options import DELIVER, PREPARE, RECORD
    from workflows.webhook_emit import emit_email_outcome


@workflow.defn
class OperatorEmailWorkflow:
    @workflow.query
    def busy(self) -> bool:
        # It runs only while its one email is prepared and delivered (relance.platform.clock.settle).
        return True

    @workflow.run
    async def run(self, req: OperatorEmailRequest) -> DeliveryResult | None:
        """None when nothing was sent (already handled, or logged as skipped)."""
        email = EmailRequest(
            kind=req.kind,
            idempotency_key=req.idempotency_key,
            customer_id=req.customer_id,
            invoice_id=req.invoice_id,
            scheduled_at=req.requested_at,
        )
        try:
            prepared = await workflow.execute_activity_method(EmailActivities.prepare_operator_email, req, **PREPARE)
            if prepared.status != "ready":
                return None
            result = await workflow.execute_activity_method(
                EmailActivities.deliver_email,
                DeliveryRequest(idempotency_key=req.idempotency_key, attachments=prepared.attachments),
                **DELIVER,
            )
        except ActivityError as err:
            reason = str(err.cause) if err.cause else str(err)
            await workflow.execute_activity_method(
                EmailActivities.record_delivery_failure,
                FailureRecord(request=email, error=reason, error_type=last_error_type(err)),
                **RECORD,
            )
            result = DeliveryResult(status="failed", error=reason)
        if req.purpose == "resend":
            # A resend reaches a customer: email.sent / email.failed like any email.
            await emit_email_outcome(email, result)
        return result
