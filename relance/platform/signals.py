"""Signal-with-start by method reference, typed:

    await signal_with_start(client, InvoiceWorkflow.run, inp, InvoiceWorkflow.event, signal, id=..., task_queue=...)

The SDK's `start_workflow` names its start signal by string only; here the signal is the
workflow's handler, so a renamed handler or a signal of the wrong type fails the type
check instead of reaching a workflow that drops it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle

W = TypeVar("W")
I = TypeVar("I")  # noqa: E741
S = TypeVar("S")
R = TypeVar("R")


def signal_name(handler: Callable[[W, S], None]) -> str:
    """The name a `@workflow.signal` method is registered under (its `name=`, or its own)."""
    # The SDK's own resolution of a method reference, as `WorkflowHandle.signal` does it.
    return workflow._SignalDefinition.must_name_from_fn_or_str(handler)


async def signal_with_start(
    client: Client,
    run: Callable[[W, I], Awaitable[R]],
    arg: I,
    signal: Callable[[W, S], None],
    signal_arg: S,
    *,
    id: str,
    task_queue: str,
    summary: str | None = None,
) -> WorkflowHandle[W, R]:
    """Signal workflow `id`, starting it with `arg` first if it is not running. `summary`:
    what the Temporal UI shows for the workflow (ids only: it is stored in clear)."""
    return await client.start_workflow(
        run,
        arg,
        id=id,
        task_queue=task_queue,
        static_summary=summary,
        start_signal=signal_name(signal),
        start_signal_args=[signal_arg],
    )
