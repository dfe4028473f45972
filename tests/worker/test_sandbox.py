"""The worker's sandbox runner (worker/sandbox.py): with Relance's converters, payloads
take no per-command context and the sandbox still guards the workflows; a converter
that uses context gets the plain sandbox and its contexts."""

from __future__ import annotations

import base64
import dataclasses
import uuid
from collections.abc import Sequence
from typing import cast

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import (
    ActivitySerializationContext,
    ExternalStorage,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import _runner as sandbox_runner

from relance.platform.codec import data_converter
from relance.platform.temporal_client import DATA_CONVERTER
from tests.support.sandbox_probe import SandboxProbeWorkflow, echo
from worker.sandbox import ContextFreeSandboxedRunner, ignores_context, runner_for


class RecordingCodec(PayloadCodec, WithSerializationContext):
    """A codec that varies with context, as a per-tenant key would: records each one."""

    def __init__(self, seen: list[SerializationContext | None], context: SerializationContext | None = None):
        self.seen, self.context = seen, context

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.seen.append(self.context)
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.seen.append(self.context)
        return list(payloads)

    def with_context(self, context: SerializationContext) -> RecordingCodec:
        return RecordingCodec(self.seen, context)


def count_context_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each question the SDK puts to a sandboxed instance about a payload's context: a
    call into the sandbox (temporalio 1.35's private instance class, spied on here)."""
    calls: list[object] = []
    original = sandbox_runner._Instance.get_serialization_context

    def spy(self, command_info):
        calls.append(command_info)
        return original(self, command_info)

    monkeypatch.setattr(sandbox_runner._Instance, "get_serialization_context", spy)
    return calls


async def probe(env: WorkflowEnvironment, converter) -> tuple[object, dict]:
    client = Client(**{**env.client.config(), "data_converter": converter})
    runner = runner_for(converter)
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=[SandboxProbeWorkflow], activities=[echo], workflow_runner=runner
    ):
        result = await client.execute_workflow(
            SandboxProbeWorkflow.run, "Solde dû : 12,50 €", id=f"probe-{queue}", task_queue=queue
        )
    return runner, result


def test_relance_converters_take_no_context() -> None:
    keys = "k1:" + base64.b64encode(bytes(range(32))).decode()
    assert ignores_context(DATA_CONVERTER)
    assert ignores_context(data_converter(DATA_CONVERTER, keys))  # with the encryption codec
    assert not ignores_context(dataclasses.replace(DATA_CONVERTER, payload_codec=RecordingCodec([])))
    any_store = cast(ExternalStorage, object())  # any external storage at all, never used
    assert not ignores_context(dataclasses.replace(DATA_CONVERTER, external_storage=any_store))


async def test_relance_workflows_run_sandboxed_without_per_payload_contexts(
    time_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_context_calls(monkeypatch)
    keys = "k1:" + base64.b64encode(bytes(range(32))).decode()
    runner, result = await probe(time_env, data_converter(DATA_CONVERTER, keys))
    assert isinstance(runner, ContextFreeSandboxedRunner)
    assert calls == []  # no call into the sandbox for any payload
    # Payloads round-trip through the encryption codec, and the sandbox still refuses
    # the wall clock.
    assert result == {"echoed": "Solde dû : 12,50 €", "refused": True}


async def test_a_converter_that_uses_context_gets_the_plain_sandbox(
    time_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_context_calls(monkeypatch)
    seen: list[SerializationContext | None] = []
    runner, result = await probe(time_env, dataclasses.replace(DATA_CONVERTER, payload_codec=RecordingCodec(seen)))
    assert type(runner) is SandboxedWorkflowRunner
    assert calls  # the sandbox answers for each payload, as the SDK does by default
    assert result == {"echoed": "Solde dû : 12,50 €", "refused": True}
    activity_contexts = [c for c in seen if isinstance(c, ActivitySerializationContext)]
    assert activity_contexts and {c.activity_type for c in activity_contexts} == {"echo"}
    assert any(isinstance(c, WorkflowSerializationContext) for c in seen)
