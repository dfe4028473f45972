"""One workflow per tax rate that records its `tax_rate.created` / `tax_rate.updated`
events. A tax rate is account-level data like a customer, and goes the same durable way
(signal-with-start, then an activity writes it) rather than straight to the database at
intake: the API answers 202 once Temporal has the event, whatever the database's state.
The database keeps the newest description by event time, so duplicates and late events
change nothing. It ends after a quiet hour; the next event starts it again."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.tax_rates import TaxRateActivities
    from relance.contracts.models import ObjectWorkflowInput, TaxRateSignal
    from workflows.object_inbox import ObjectWorkflow
    from workflows.options import RECORD

IDLE_BEFORE_EXIT = timedelta(hours=1)


@workflow.defn
class TaxRateWorkflow(ObjectWorkflow[TaxRateSignal]):
    @workflow.signal
    def event(self, signal: TaxRateSignal) -> None:
        self.inbox.accept(signal)

    @workflow.run
    async def run(self, inp: ObjectWorkflowInput) -> int:
        self.start(inp)
        applied = 0
        while True:
            while (sig := self.inbox.pop()) is not None:
                await workflow.execute_activity_method(TaxRateActivities.record_tax_rate, sig, **RECORD)
                applied += 1
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(inp)
            if not await self.inbox.wait(None, IDLE_BEFORE_EXIT):
                return applied
