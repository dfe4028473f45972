"""One workflow per card: the "card about to expire" email, once, at the configured time.

A new expiry date re-plans it, whether the customer changed the card or the card network
updated it (`payment_method.automatically_updated`: same card, new expiry, and no other
event will ever come for it); detaching the card cancels it."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notices import NoticeActivities
    from relance.contracts.kinds import EmailKind
    from relance.contracts.models import (
        CardSignal,
        EmailRequest,
        NoticeTime,
        NoticeTimeRequest,
        ObjectWorkflowInput,
        PendingEmail,
    )
    from relance.contracts.views import card_view
    from workflows.email_steps import send_email
    from workflows.object_inbox import ObjectWorkflow
    from workflows.object_inbox import planned as _planned
    from workflows.options import RECORD

IDLE = timedelta(days=400)


@workflow.defn
class CardWorkflow(ObjectWorkflow[CardSignal]):
    def __init__(self) -> None:
        super().__init__()
        self.notice: NoticeTime | None = None

    @workflow.signal
    def event(self, signal: CardSignal) -> None:
        self.inbox.accept(signal)

    @workflow.query
    def pending_emails(self) -> list[PendingEmail]:
        return [PendingEmail(kind=EmailKind.card_expiring, at=self.notice.at)] if self.notice else []

    @workflow.run
    async def run(self, inp: ObjectWorkflowInput) -> str:
        self.start(inp)
        latest: CardSignal | None = None
        customer_id: str | None = None
        planned_for: tuple[int, int] | None = None
        while True:
            while (sig := self.inbox.pop()) is not None:
                if sig.type == "payment_method.detached":
                    return "cancelled"
                if latest is not None and sig.created < latest.created:
                    continue  # an older state of the card
                latest = sig
                customer_id = sig.payment_method.customer or customer_id
                card = card_view(sig.payment_method)
                if planned_for != (card.exp_year, card.exp_month) and customer_id:
                    self.notice = await workflow.execute_activity_method(
                        NoticeActivities.notice_time,
                        NoticeTimeRequest(
                            kind=EmailKind.card_expiring,
                            customer_id=customer_id,
                            reference=self.inbox.now(),
                            card_exp_month=card.exp_month,
                            card_exp_year=card.exp_year,
                        ),
                        **RECORD,
                    )
                    planned_for = (card.exp_year, card.exp_month)
            if self.notice is not None and self.inbox.now() >= self.notice.at:
                if self.inbox.now() >= self.notice.expires_at or latest is None or not customer_id:
                    return "expired"
                card = card_view(latest.payment_method)
                await send_email(
                    EmailRequest(
                        kind=EmailKind.card_expiring,
                        idempotency_key=f"{inp.object_id}:card_expiring:{card.exp_year}-{card.exp_month:02d}",
                        customer_id=customer_id,
                        scheduled_at=_planned(self.notice.at, self.inbox.now()),
                        card=card,
                    )
                )
                return "sent"
            await self.inbox.wait(self.notice.at if self.notice else None, idle=IDLE)
