"""One workflow per payment intent (or lone charge): the events about its attempts are
stored in order, and the invoice's workflow, when it is running and known, is told.

The invoice's workflow may be waiting for these details before it emails a failure
notice or a receipt (workflows/invoice.py); a notice to a workflow that is not running
is dropped, since that workflow reads the database when it next sends anything."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.payments import PaymentActivities
    from relance.contracts.models import ObjectWorkflowInput, PaymentSignal
    from relance.contracts.payments import PaymentNotice
    from workflows.ids import invoice_workflow_id
    from workflows.invoice import InvoiceWorkflow
    from workflows.object_inbox import ObjectWorkflow
    from workflows.options import RECORD

# Stripe sends an attempt's events within seconds; a retry of the intent is hours away
# and starts the workflow again.
IDLE_BEFORE_EXIT = timedelta(minutes=10)


@workflow.defn
class PaymentWorkflow(ObjectWorkflow[PaymentSignal]):
    @workflow.signal
    def event(self, signal: PaymentSignal) -> None:
        self.inbox.accept(signal)

    @workflow.run
    async def run(self, inp: ObjectWorkflowInput) -> str:
        self.start(inp)
        while True:
            while (sig := self.inbox.pop()) is not None:
                recorded = await workflow.execute_activity_method(PaymentActivities.record_payment, sig, **RECORD)
                if recorded.invoice_id is not None and not recorded.duplicate:
                    await self._tell_invoice(recorded.invoice_id, sig)
            if not await self.inbox.wait(None, idle=IDLE_BEFORE_EXIT):
                return "idle"

    async def _tell_invoice(self, invoice_id: str, sig: PaymentSignal) -> None:
        notice = PaymentNotice(
            event_id=sig.event_id,
            outcome=sig.attempt.outcome,
            attempted_at=sig.created,
            has_details=sig.attempt.has_details(),
        )
        handle = workflow.get_external_workflow_handle_for(InvoiceWorkflow.run, invoice_workflow_id(invoice_id))
        try:
            await handle.signal(InvoiceWorkflow.payment, notice)
        except FailureError:
            pass  # not running: it reads the stored attempt when it next sends
