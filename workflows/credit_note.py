"""A credit note was created: one email with its PDF."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from relance.contracts.kinds import EmailKind
    from relance.contracts.models import EmailRequest, ObjectSignal, ObjectWorkflowInput
    from relance.contracts.views import credit_note_view
    from workflows.email_steps import send_email
    from workflows.object_inbox import ObjectInbox


@workflow.defn
class CreditNoteWorkflow:
    def __init__(self) -> None:
        self.inbox = ObjectInbox()

    @workflow.signal
    def credit_note_event(self, signal: ObjectSignal) -> None:
        self.inbox.accept(signal)

    @workflow.query
    def busy(self) -> bool:
        return self.inbox.is_busy()

    @workflow.run
    async def run(self, inp: ObjectWorkflowInput) -> str:
        self.inbox.offset = timedelta(seconds=inp.clock_offset_seconds)
        await workflow.wait_condition(lambda: bool(self.inbox.signals))
        sig = self.inbox.pop()
        assert sig is not None and sig.credit_note is not None
        cn = sig.credit_note
        await send_email(
            EmailRequest(
                kind=EmailKind.credit_note_created,
                idempotency_key=f"{cn.id}:credit_note_created",
                customer_id=cn.customer,
                invoice_id=cn.invoice,
                scheduled_at=self.inbox.now(),
                credit_note=credit_note_view(cn),
            )
        )
        return "sent"
