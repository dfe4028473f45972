"""The client a backend uses to hand events to Relance (the CLI and the HTTP API use it too).

    relance = await RelanceClient.connect(Config())
    await relance.send(stripe_event_dict)

`send` validates the event (InvalidEvent names the field, nothing is started) and then
signals the object's workflow, starting it if needed. Returning means Temporal has the
event durably; sending the same event again is harmless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client

from relance.contracts.events import (
    CardEvent,
    CreditNoteEvent,
    CustomerEvent,
    Event,
    InvoiceEvent,
    RefundEvent,
    SubscriptionEvent,
    parse_events,
)
from relance.contracts.models import (
    CustomerSignal,
    CustomerWorkflowInput,
    InvoiceSignal,
    InvoiceWorkflowInput,
    ManualReminder,
    ObjectSignal,
    ObjectWorkflowInput,
)
from relance.platform.config import Config
from relance.platform.temporal_client import connect
from workflows.ids import (
    card_workflow_id,
    credit_note_workflow_id,
    customer_workflow_id,
    invoice_workflow_id,
    refund_workflow_id,
    subscription_workflow_id,
)

# By name, so importing the client does not pull in workflow and activity code.
INVOICE_WORKFLOW = "InvoiceWorkflow"
CUSTOMER_WORKFLOW = "CustomerWorkflow"


def _object_route(event: Event) -> tuple[str, str, str, str, ObjectSignal]:
    """(workflow type, workflow id, object id, signal name, signal) for customer-level events."""
    common = dict(event_id=event.id, type=event.type, created=event.created)
    if isinstance(event, CardEvent):
        pm = event.payment_method
        return ("CardWorkflow", card_workflow_id(pm.id), pm.id, "card_event", ObjectSignal(**common, payment_method=pm))
    if isinstance(event, SubscriptionEvent):
        sub = event.subscription
        return (
            "SubscriptionWorkflow",
            subscription_workflow_id(sub.id),
            sub.id,
            "subscription_event",
            ObjectSignal(**common, subscription=sub),
        )
    if isinstance(event, CreditNoteEvent):
        cn = event.credit_note
        return (
            "CreditNoteWorkflow",
            credit_note_workflow_id(cn.id),
            cn.id,
            "credit_note_event",
            ObjectSignal(**common, credit_note=cn),
        )
    assert isinstance(event, RefundEvent)
    wf_id = refund_workflow_id(event.charge_id, event.refund.id if event.refund else None)
    return (
        "RefundWorkflow",
        wf_id,
        wf_id,
        "refund_event",
        ObjectSignal(**common, refund=event.refund, charge=event.charge),
    )


@dataclass(frozen=True)
class Accepted:
    event_id: str
    type: str
    workflow_id: str


class RelanceClient:
    def __init__(self, client: Client, task_queue: str, *, clock_offset_seconds: float = 0.0) -> None:
        self.temporal = client
        self.task_queue = task_queue
        self._clock_offset = clock_offset_seconds

    @classmethod
    async def connect(cls, config: Config) -> RelanceClient:
        return cls(await connect(config), config.task_queue)

    async def send(self, payload: Any) -> list[Accepted]:
        """One Stripe-shaped event (a dict) or a list of them. All are validated before any is sent."""
        events = parse_events(payload)
        return [await self.send_event(event) for event in events]

    async def send_event(self, event: Event) -> Accepted:
        if isinstance(event, InvoiceEvent):
            inv = event.invoice
            wf_id = invoice_workflow_id(inv.id)
            await self.temporal.start_workflow(
                INVOICE_WORKFLOW,
                InvoiceWorkflowInput(
                    invoice_id=inv.id, customer_id=inv.customer, clock_offset_seconds=self._clock_offset
                ),
                id=wf_id,
                task_queue=self.task_queue,
                start_signal="invoice_event",
                start_signal_args=[
                    InvoiceSignal(event_id=event.id, type=event.type, created=event.created, invoice=inv)
                ],
            )
        elif isinstance(event, CustomerEvent):
            wf_id = customer_workflow_id(event.customer.id)
            await self.temporal.start_workflow(
                CUSTOMER_WORKFLOW,
                CustomerWorkflowInput(customer_id=event.customer.id),
                id=wf_id,
                task_queue=self.task_queue,
                start_signal="customer_event",
                start_signal_args=[
                    CustomerSignal(event_id=event.id, type=event.type, created=event.created, customer=event.customer)
                ],
            )
        else:
            workflow_type, wf_id, object_id, signal_name, signal = _object_route(event)
            await self.temporal.start_workflow(
                workflow_type,
                ObjectWorkflowInput(object_id=object_id, clock_offset_seconds=self._clock_offset),
                id=wf_id,
                task_queue=self.task_queue,
                start_signal=signal_name,
                start_signal_args=[signal],
            )
        return Accepted(event_id=event.id, type=event.type, workflow_id=wf_id)

    async def send_reminder_now(self, invoice_id: str, customer_id: str, request_id: str | None = None) -> str:
        """Ask for a reminder now. The caller checks the invoice is open (the API answers 409
        otherwise); the workflow checks again and ignores it if the invoice was paid meanwhile."""
        request_id = request_id or uuid.uuid4().hex
        await self.temporal.start_workflow(
            INVOICE_WORKFLOW,
            InvoiceWorkflowInput(
                invoice_id=invoice_id, customer_id=customer_id, clock_offset_seconds=self._clock_offset
            ),
            id=invoice_workflow_id(invoice_id),
            task_queue=self.task_queue,
            start_signal="send_reminder_now",
            start_signal_args=[ManualReminder(request_id=request_id)],
        )
        return request_id
