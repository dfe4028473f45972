"""The workflow sandbox the worker runs Relance's workflows in.

temporalio 1.35 asks a workflow instance, for every payload it encodes or decodes (three
visiting passes each way per activation), which serialization context and which
external-storage context apply, so that a converter or codec that varies with the
workflow or the activity can. For a sandboxed workflow each answer is a call into the
sandbox (code executed under its import guard): 18 % of the worker's Python time in a
profile of invoice lifecycles (bench/results/NOTES.md), for answers Relance never uses. Its
converter (pydantic JSON, the compression codec, the optional encryption codec) is the
same whatever the context, and it stores no payload externally.

So when the data converter is checked to ignore context (`ignores_context`), each
instance answers "no context" itself: the SDK then uses the context-free converter,
which is the very same object. Everything else, activations included, runs in the
sandbox; a converter that does use context (a codec keyed per workflow, say)
gets the plain sandbox and its per-payload answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import temporalio.workflow
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    SerializationContext,
    StorageDriverStoreContext,
    WorkflowSerializationContext,
)
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# Event models validate addresses when signals are decoded inside the sandbox; the
# validator imports parts of itself lazily, which the sandbox would otherwise re-import
# for every workflow run.
RESTRICTIONS = SandboxRestrictions.default.with_passthrough_modules("email_validator", "idna", "dns")

# The kinds of context the SDK derives for a workflow's payloads: its own, an activity's.
_SAMPLE_CONTEXTS: tuple[SerializationContext, ...] = (
    WorkflowSerializationContext(namespace="default", workflow_id="invoice-in_sample"),
    ActivitySerializationContext(
        namespace="default",
        workflow_id="invoice-in_sample",
        workflow_type="InvoiceWorkflow",
        activity_type="prepare_email",
        activity_task_queue="relance",
        is_local=False,
        activity_id="1",
    ),
)


def ignores_context(converter: DataConverter) -> bool:
    """True when no part of the converter varies with the serialization context (each
    part's `with_context` hands back the part itself, so the converter does too) and it
    stores no payload externally."""
    return converter.external_storage is None and all(
        converter.with_context(context) is converter for context in _SAMPLE_CONTEXTS
    )


class _ContextFreeInstance(WorkflowInstance):
    """A sandboxed instance whose payloads take no context: answered here, outside."""

    def __init__(self, inner: WorkflowInstance) -> None:
        self._inner = inner

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self._inner.activate(act)

    def get_info(self) -> temporalio.workflow.Info:
        return self._inner.get_info()

    def get_thread_id(self) -> int | None:
        return self._inner.get_thread_id()  # the deadlock detector's stack dump

    def get_serialization_context(self, command_info: object) -> SerializationContext | None:
        return None  # the SDK then uses the worker's converter as it is

    def get_external_store_context(self, command_info: object) -> StorageDriverStoreContext:
        return StorageDriverStoreContext(target=None)  # nothing is stored externally


@dataclass(frozen=True)
class ContextFreeSandboxedRunner(SandboxedWorkflowRunner):
    """The sandbox, for a data converter `ignores_context` accepts."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _ContextFreeInstance(super().create_instance(det))


# The plain sandbox: for a converter that uses context, and for the replayer.
SANDBOX = SandboxedWorkflowRunner(restrictions=RESTRICTIONS)


def runner_for(converter: DataConverter) -> SandboxedWorkflowRunner:
    return ContextFreeSandboxedRunner(restrictions=RESTRICTIONS) if ignores_context(converter) else SANDBOX
