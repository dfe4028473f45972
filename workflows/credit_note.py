"""A credit note was created: one email with its PDF."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from relance.contracts.kinds import EmailKind
    from relance.contracts.models import CreditNoteSignal, EmailRequest, ObjectWorkflowInput
    from relance.contracts.views import credit_note_view
    from workflows.email_steps import send_email
    from workflows.object_inbox import ObjectWorkflow


@workflow.defn
class CreditNoteWorkflow(ObjectWorkflow[CreditNoteSignal]):
    @workflow.signal
    def event(self, signal: CreditNoteSignal) -> None:
        self.inbox.accept(signal)

    @workflow.run
    async def run(self, inp: ObjectWorkflowInput) -> str:
        self.start(inp)
        await workflow.wait_condition(lambda: bool(self.inbox.signals))
        sig = self.inbox.pop()
        assert sig is not None
        cn = sig.credit_note
        await send_email(
            EmailRequest(
                kind=EmailKind.credit_note_created,
                idempotency_key=f"{cn.id}:credit_note_created",
                customer_id=cn.customer,
                invoice_id=cn.invoice,
                scheduled_at=self.inbox.now(),
                credit_note=credit_note_view(cn),
                credit_note_document=cn,
            )
        )
        return "sent"
