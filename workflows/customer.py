"""One workflow per customer that applies customer events in arrival order. The database
keeps the newest by event time, so duplicates and late events change nothing.

It ends after a quiet day; the next event starts it again (signal-with-start), so idle
customers cost nothing."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.customers import CustomerActivities
    from relance.contracts import search_attributes as sa
    from relance.contracts.models import CustomerSignal, CustomerWorkflowInput
    from workflows.options import RECORD

IDLE_BEFORE_EXIT = timedelta(days=1)


@workflow.defn
class CustomerWorkflow:
    def __init__(self) -> None:
        self._inbox: list[CustomerSignal] = []
        self._busy = True

    @workflow.signal
    def event(self, signal: CustomerSignal) -> None:
        self._inbox.append(signal)

    @workflow.query
    def busy(self) -> bool:
        return self._busy or bool(self._inbox)

    @workflow.run
    async def run(self, inp: CustomerWorkflowInput) -> int:
        workflow.upsert_search_attributes([sa.CUSTOMER_ID.value_set(inp.customer_id)])
        self._inbox = list(inp.pending) + self._inbox
        applied = 0
        while True:
            self._busy = True
            while self._inbox:
                await workflow.execute_activity_method(CustomerActivities.record_customer, self._inbox.pop(0), **RECORD)
                applied += 1
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(CustomerWorkflowInput(customer_id=inp.customer_id))
            self._busy = False
            try:
                await workflow.wait_condition(lambda: bool(self._inbox), timeout=IDLE_BEFORE_EXIT)
            except TimeoutError:
                if not self._inbox:
                    return applied
