"""A workflow that shows what the sandbox runner does: a payload round trip through an
activity, and whether the sandbox still refuses a non-deterministic call."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import activity, workflow
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError


@activity.defn
async def echo(text: str) -> str:
    return text


@workflow.defn
class SandboxProbeWorkflow:
    @workflow.run
    async def run(self, text: str) -> dict:
        echoed = await workflow.execute_activity(echo, text, start_to_close_timeout=timedelta(seconds=30))
        try:
            datetime.now()  # the wall clock: the sandbox refuses it to a workflow
            refused = False
        except RestrictedWorkflowAccessError:
            refused = True
        return {"echoed": echoed, "refused": refused}
