"""Driving a time-skipping Temporal server safely: before the clock moves, every workflow
involved must have nothing in flight, or a timer could be planned after the jump and an
email sent late (or skipped as past). Used by the simulator and the tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment


async def _busy(client: Client, workflow_id: str) -> bool:
    handle = client.get_workflow_handle(workflow_id)
    try:
        desc = await handle.describe()
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return False
        if workflow_id.startswith("invoice-"):
            result = await handle.query("status")
            return bool(result.get("busy")) if isinstance(result, dict) else bool(getattr(result, "busy", True))
        return bool(await handle.query("busy"))
    except RPCError:
        return True  # not started yet, or its task is being processed


async def settle(client: Client, workflow_ids: Iterable[str], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    ids = list(workflow_ids)
    while True:
        states = await asyncio.gather(*(_busy(client, wf) for wf in ids))
        if not any(states):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"workflows still busy after {timeout:.0f}s")
        await asyncio.sleep(0.05)


async def advance(
    env: WorkflowEnvironment, workflow_ids: Iterable[str], delta: timedelta, step: timedelta = timedelta(hours=12)
) -> None:
    """Move the test server's clock by `delta`, settling workflows after every step."""
    await advance_to(env, workflow_ids, await env.get_current_time() + delta, step)


async def advance_to(
    env: WorkflowEnvironment, workflow_ids: Iterable[str], target: datetime, step: timedelta = timedelta(hours=12)
) -> None:
    """Move the clock to `target`. Between jumps the server's clock also runs in real time,
    so each step is measured from the server's current time, not added up."""
    ids = list(workflow_ids)
    while (remaining := target - await env.get_current_time()) > timedelta(0):
        await env.sleep(min(step, remaining))
        await settle(env.client, ids)
