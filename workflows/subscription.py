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
    @workflow.signal
    def event(self, signal: SubscriptionSignal) -> None:
        self.inbox.accept(signal)

    @workflow.run
    async def run(self, inp: ObjectWorkflowInput) -> str:
        self.start(inp)
        latest: SubscriptionSignal | None = None
        notice: NoticeTime | None = None
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
                    notice, planned_trial_end = None, None
                elif sub.trial_end != planned_trial_end:
                    notice = await workflow.execute_activity_method(
                        NoticeActivities.notice_time,
                        NoticeTimeRequest(
                            kind=EmailKind.trial_ending, customer_id=sub.customer, reference=sub.trial_end
                        ),
                        **RECORD,
                    )
                    planned_trial_end = sub.trial_end
            if notice is not None and self.inbox.now() >= notice.at:
                if latest is not None and self.inbox.now() < notice.expires_at:
                    trial = latest.subscription
                    await send_email(
                        EmailRequest(
                            kind=EmailKind.trial_ending,
                            idempotency_key=f"{trial.id}:trial_ending:{int(notice.expires_at.timestamp())}",
                            customer_id=trial.customer,
                            scheduled_at=_planned(notice.at, self.inbox.now()),
                            subscription=subscription_view(trial),
                        )
                    )
                notice = None
            if not await self.inbox.wait(notice.at if notice else None, idle=IDLE_BEFORE_EXIT):
                if notice is None and not self.inbox.signals:
                    return "idle"  # the next event starts it again; sent emails stay sent
