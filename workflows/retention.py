"""The daily purge of the email log, started by a Temporal Schedule (worker/main.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.retention import RetentionActivities
    from relance.contracts.models import PurgeRequest, RetentionInput
    from workflows.options import RECORD


@workflow.defn
class RetentionWorkflow:
    @workflow.run
    async def run(self, inp: RetentionInput) -> int:
        cutoff = workflow.now() - timedelta(days=inp.days)
        purged = 0
        while True:
            batch = await workflow.execute_activity_method(
                RetentionActivities.purge_email_log, PurgeRequest(cutoff=cutoff, batch_size=inp.batch_size), **RECORD
            )
            purged += batch
            if batch == 0:
                return purged
