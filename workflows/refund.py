"""Refund emails, one per refund, for the workflow of the charge refunded.

Stripe reports a refund twice: `refund.created` (the refund, maybe without its customer)
and `charge.refunded` (the charge, with the customer, and with its refund list only in
some API versions). Both go to the charge's workflow, which emails each refund id once.
When a `charge.refunded` shows more refunded than the refunds it knows, it waits a short
pairing window for the matching `refund.created` before emailing the difference. What
is covered lives in a ledger in the database, so a later run continues where the last
one stopped."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.refunds import RefundActivities
    from relance.contracts.email_context import RefundView
    from relance.contracts.events import Charge
    from relance.contracts.kinds import EmailKind
    from relance.contracts.models import EmailRequest, ObjectSignal, ObjectWorkflowInput, RefundLedger
    from relance.contracts.views import refund_view, uncovered_refund_view
    from workflows.email_steps import RECORD, send_email
    from workflows.object_inbox import ObjectInbox

PAIRING_WINDOW = timedelta(minutes=2)
IDLE_BEFORE_EXIT = timedelta(days=1)


@workflow.defn
class RefundWorkflow:
    def __init__(self) -> None:
        self.inbox = ObjectInbox()
        self.ledger: RefundLedger | None = None

    @workflow.signal
    def refund_event(self, signal: ObjectSignal) -> None:
        self.inbox.accept(signal)

    @workflow.query
    def busy(self) -> bool:
        return self.inbox.is_busy()

    @workflow.run
    async def run(self, inp: ObjectWorkflowInput) -> str:
        self.inbox.offset = timedelta(seconds=inp.clock_offset_seconds)
        ledger = await workflow.execute_activity_method(RefundActivities.load_refund_ledger, inp.object_id, **RECORD)
        self.ledger = ledger
        refunds: dict[str, RefundView] = {}
        charge: Charge | None = None
        pair_deadline: datetime | None = None
        while True:
            while (sig := self.inbox.pop()) is not None:
                if sig.charge is not None:
                    if charge is None or sig.charge.amount_refunded >= charge.amount_refunded:
                        charge = sig.charge
                    ledger.customer_id = sig.charge.customer or ledger.customer_id
                    for r in sig.charge.refunds.data if sig.charge.refunds else []:
                        refunds.setdefault(r.id, refund_view(r, sig.charge))
                if sig.refund is not None:
                    refunds.setdefault(sig.refund.id, refund_view(sig.refund, charge))
                    ledger.customer_id = sig.refund.customer or ledger.customer_id
            if ledger.customer_id:
                for refund_id, view in refunds.items():
                    if refund_id in ledger.emailed:
                        continue
                    ledger.emailed.append(refund_id)
                    if view.amount in ledger.unpaired:
                        ledger.unpaired.remove(view.amount)  # already emailed from the charge alone
                    else:
                        ledger.covered += view.amount
                        await self._send(ledger.customer_id, view)
                    await self._save(ledger)
            uncovered = (charge.amount_refunded - ledger.covered) if charge is not None else 0
            if uncovered > 0 and ledger.customer_id and charge is not None:
                if pair_deadline is None:
                    pair_deadline = self.inbox.now() + PAIRING_WINDOW
                elif self.inbox.now() >= pair_deadline:
                    ledger.covered += uncovered
                    ledger.unpaired.append(uncovered)
                    pair_deadline = None
                    await self._send(ledger.customer_id, uncovered_refund_view(charge, uncovered))
                    await self._save(ledger)
                    continue
            else:
                pair_deadline = None
            if not await self.inbox.wait(pair_deadline, idle=IDLE_BEFORE_EXIT):
                if pair_deadline is None and not self.inbox.signals:
                    return f"{len(ledger.emailed)} refund(s)"

    async def _save(self, ledger: RefundLedger) -> None:
        await workflow.execute_activity_method(RefundActivities.save_refund_ledger, ledger, **RECORD)

    async def _send(self, customer_id: str, view: RefundView) -> None:
        await send_email(
            EmailRequest(
                kind=EmailKind.refund_issued,
                idempotency_key=f"refund:{view.id}:refund_issued",
                customer_id=customer_id,
                scheduled_at=self.inbox.now(),
                refund=view,
            )
        )
