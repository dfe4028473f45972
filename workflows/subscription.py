"""One workflow per subscription: "trial ending" a few days before the trial ends (moved
when trial_end moves, dropped when the trial ends or the subscription is canceled
first) and "subscription canceled" when it is deleted."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notices import NoticeActivities
    from relance.contracts.kinds import EmailKind
    from relance.contracts.models import (
        EmailRequest,
        NoticeTime,
        NoticeTimeRequest,
        ObjectWorkflowInput,
        PendingEmail,
        SubscriptionSignal,
    )
    from relance.contracts.views import subscription_view
    from workflows.email_steps import send_email
    from workflows.object_inbox import ObjectWorkflow
    from workflows.object_inbox import planned as _planned
    from workflows.options import RECORD

IDLE_BEFORE_EXIT = timedelta(days=1)


@workflow.defn
class SubscriptionWorkflow(ObjectWorkflow[SubscriptionSignal]):
    def __init__(self) -> None:
        super().__init__()
        self.notice: NoticeTime | None = None

    @workflow.signal
    def event(self, signal: SubscriptionSignal) -> None:
        self.inbox.accept(signal)

    @workflow.query
    def pending_emails(self) -> list[PendingEmail]:
        return [PendingEmail(kind=EmailKind.trial_ending, at=self.notice.at)] if self.notice else []

    @workflow.run
    async def run(self, inp: ObjectWorkflowInput) -> str:
        self.start(inp)
        latest: SubscriptionSignal | None = None
        planned_trial_end = None
        while True:
            while (sig := self.inbox.pop()) is not None:
                sub = sig.subscription
                if sig.type == "customer.subscription.deleted":
                    await send_email(
                        EmailRequest(
                            kind=EmailKind.subscription_canceled,
                            idempotency_key=f"{sub.id}:subscription_canceled",
                            customer_id=sub.customer,
                            scheduled_at=self.inbox.now(),
                            subscription=subscription_view(sub),
                        )
                    )
                    return "canceled"
                if latest is not None and sig.created < latest.created:
                    continue
                latest = sig
                trialing = sub.status == "trialing" and sub.trial_end is not None and sub.trial_end > self.inbox.now()
                if not trialing:
                    self.notice, planned_trial_end = None, None
                elif sub.trial_end != planned_trial_end:
                    self.notice = await workflow.execute_activity_method(
                        NoticeActivities.notice_time,
                        NoticeTimeRequest(
                            kind=EmailKind.trial_ending, customer_id=sub.customer, reference=sub.trial_end
                        ),
                        **RECORD,
                    )
                    planned_trial_end = sub.trial_end
            if self.notice is not None and self.inbox.now() >= self.notice.at:
                if latest is not None and self.inbox.now() < self.notice.expires_at:
                    trial = latest.subscription
                    await send_email(
                        EmailRequest(
                            kind=EmailKind.trial_ending,
                            idempotency_key=f"{trial.id}:trial_ending:{int(self.notice.expires_at.timestamp())}",
                            customer_id=trial.customer,
                            scheduled_at=_planned(self.notice.at, self.inbox.now()),
                            subscription=subscription_view(trial),
                        )
                    )
                self.notice = None
            if not await self.inbox.wait(self.notice.at if self.notice else None, idle=IDLE_BEFORE_EXIT):
                if self.notice is None and not self.inbox.signals:
                    return "idle"  # the next event starts it again; sent emails stay sent
