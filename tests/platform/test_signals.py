"""Signals named by method reference resolve to the names the workflows register."""

from __future__ import annotations

import pytest
from temporalio import workflow

from relance.platform.signals import signal_name
from workflows.card import CardWorkflow
from workflows.invoice import InvoiceWorkflow


@workflow.defn(sandboxed=False)
class Renamed:
    @workflow.signal(name="custom")
    def handler(self, value: str) -> None:
        pass

    def not_a_signal(self, value: str) -> None:
        pass

    @workflow.run
    async def run(self) -> None:
        pass


def test_a_signal_is_named_as_its_workflow_registers_it() -> None:
    assert signal_name(InvoiceWorkflow.event) == "event"
    assert signal_name(InvoiceWorkflow.send_reminder_now) == "send_reminder_now"
    assert signal_name(CardWorkflow.event) == "event"
    assert signal_name(Renamed.handler) == "custom"


def test_a_method_that_is_no_signal_is_refused() -> None:
    with pytest.raises(RuntimeError, match="is it decorated with @workflow.signal"):
        signal_name(Renamed.not_a_signal)
