"""Refund emails, one per refund, for the workflow of the charge refunded.

Stripe reports a refund twice: `refund.created` (the refund, maybe without its customer)
and `charge.refunded` (the charge, with the customer, and with its refund list only in
some API versions). Both go to the charge's workflow, which emails each refund id once.
When a `charge.refunded` shows more refunded than the refunds it knows, it waits a short
pairing window for the matching `refund.created` before emailing the difference. What
is covered lives in a ledger in the database, so a later run continues where the last
one stopped.

A refund email names the charge's invoice whichever event comes first: a refund that
arrives before its charge waits up to the pairing window for it. A refund no event has
tied to a customer yet is held and listed for the operator (activities/refunds.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.refunds import RefundActivities
    from relance.contracts.email_context import RefundView
    from relance.contracts.events import Charge
    from relance.contracts.kinds import EmailKind
    from relance.contracts.models import (
        EmailRequest,
        ObjectWorkflowInput,
        PendingEmail,
        RefundLedger,
        RefundSignal,
        UnattributedRefunds,
    )
    from relance.contracts.views import refund_view, uncovered_refund_view
    from workflows.email_steps import send_email
    from workflows.object_inbox import ObjectWorkflow
    from workflows.options import RECORD

PAIRING_WINDOW = timedelta(minutes=2)
IDLE_BEFORE_EXIT = timedelta(days=1)


@workflow.defn
class RefundWorkflow(ObjectWorkflow[RefundSignal]):
    def __init__(self) -> None:
        super().__init__()
        self.ledger: RefundLedger | None = None
        self.deadline: datetime | None = None  # a refund email goes out then

    @workflow.signal
    def event(self, signal: RefundSignal) -> None:
        self.inbox.accept(signal)

    @workflow.query
    def pending_emails(self) -> list[PendingEmail]:
        return [PendingEmail(kind=EmailKind.refund_issued, at=self.deadline)] if self.deadline else []

    @workflow.run
    async def run(self, inp: ObjectWorkflowInput) -> str:
        self.start(inp)
        ledger = await workflow.execute_activity_method(RefundActivities.load_refund_ledger, inp.object_id, **RECORD)
        self.ledger = ledger
        refunds: dict[str, RefundView] = {}
        charge: Charge | None = None
        pair_deadline: datetime | None = None
        charge_deadline: datetime | None = None
        held: list[str] = []
        charge_id = inp.object_id
        while True:
            while (sig := self.inbox.pop()) is not None:
                if sig.charge is not None:
                    if charge is None or sig.charge.amount_refunded >= charge.amount_refunded:
                        charge = sig.charge
                    ledger.customer_id = sig.charge.customer or ledger.customer_id
                    for r in sig.charge.refunds.data if sig.charge.refunds else []:
                        refunds.setdefault(r.id, refund_view(r, sig.charge))
                    charge_id = sig.charge.id
                if sig.refund is not None:
                    charge_id = sig.refund.charge or charge_id
                    refunds.setdefault(sig.refund.id, refund_view(sig.refund, charge))
                    ledger.customer_id = sig.refund.customer or ledger.customer_id
            if charge is not None and charge.invoice:
                # A refund seen before its charge learns the invoice from it.
                for refund_id, view in refunds.items():
                    if view.invoice_id is None:
                        refunds[refund_id] = view.model_copy(update={"invoice_id": charge.invoice})
            pending = [refund_id for refund_id in refunds if refund_id not in ledger.emailed]
            waiting_for_charge = False
            if ledger.customer_id and pending and charge is None:
                if charge_deadline is None:
                    charge_deadline = self.inbox.now() + PAIRING_WINDOW
                waiting_for_charge = self.inbox.now() < charge_deadline
            if ledger.customer_id and not waiting_for_charge:
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
            elif not ledger.customer_id and pending and pending != held:
                held = list(pending)
                await workflow.execute_activity_method(
                    RefundActivities.hold_unattributed_refunds,
                    UnattributedRefunds(key=ledger.key, charge_id=charge_id, refunds=[refunds[r] for r in pending]),
                    **RECORD,
                )
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
            deadline = self.deadline = charge_deadline if waiting_for_charge else pair_deadline
            if not await self.inbox.wait(deadline, idle=IDLE_BEFORE_EXIT):
                if deadline is None and not self.inbox.signals:
                    return f"{len(ledger.emailed)} refund(s)"

    async def _save(self, ledger: RefundLedger) -> None:
        await workflow.execute_activity_method(RefundActivities.save_refund_ledger, ledger, **RECORD)

    async def _send(self, customer_id: str, view: RefundView) -> None:
        await send_email(
            EmailRequest(
                kind=EmailKind.refund_issued,
                idempotency_key=f"refund:{view.id}:refund_issued",
                customer_id=customer_id,
                invoice_id=view.invoice_id,
                scheduled_at=self.inbox.now(),
                refund=view,
            )
        )
