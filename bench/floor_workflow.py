"""The Temporal floor: a workflow that only runs N no-op activities, one after another,
like an invoice lifecycle does. Kept in its own module: the workflow sandbox re-imports
workflow modules, and this one must import nothing but temporalio."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def noop(_: int) -> None:
    return None


@workflow.defn
class FloorWorkflow:
    @workflow.run
    async def run(self, activities: int) -> None:
        for i in range(activities):
            await workflow.execute_activity(noop, i, start_to_close_timeout=timedelta(seconds=30))
