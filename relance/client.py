"""The client a backend uses to hand events to Relance (the CLI and the HTTP API use it too).

    relance = await RelanceClient.connect(Config())
    await relance.send(stripe_event_dict)

`send` validates the event (InvalidEvent names the field, nothing is started) and then
signals the object's workflow, starting it if needed. Returning means Temporal has the
event durably; sending the same event again is harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, assert_never

from temporalio.client import Client

from relance.contracts.events import (
    CardEvent,
    CreditNoteEvent,
    CustomerEvent,
    Event,
    InvoiceEvent,
    PaymentEvent,
    RefundEvent,
    SubscriptionEvent,
    TaxRateEvent,
    parse_events,
)
from relance.contracts.models import (
    CardSignal,
    CreditNoteSignal,
    CustomerSignal,
    CustomerWorkflowInput,
    InvoiceSignal,
    InvoiceWorkflowInput,
    ManualReminder,
    ObjectWorkflowInput,
    OperatorEmailRequest,
    PaymentSignal,
    RefundSignal,
    SubscriptionSignal,
    TaxRateSignal,
)
from relance.platform.config import Config
from relance.platform.signals import signal_with_start
from relance.platform.temporal_client import connect
from workflows.card import CardWorkflow
from workflows.credit_note import CreditNoteWorkflow
from workflows.customer import CustomerWorkflow
from workflows.ids import (
    card_workflow_id,
    credit_note_workflow_id,
    customer_workflow_id,
    invoice_workflow_id,
    operator_email_workflow_id,
    payment_workflow_id,
    refund_workflow_id,
    subscription_workflow_id,
    tax_rate_workflow_id,
)
from workflows.invoice import InvoiceWorkflow
from workflows.operator_email import OperatorEmailWorkflow
from workflows.payment import PaymentWorkflow
from workflows.refund import RefundWorkflow
from workflows.subscription import SubscriptionWorkflow
from workflows.tax_rate import TaxRateWorkflow


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
        wf_id, start = _route(event, self._clock_offset)
        await start(self.temporal, task_queue=self.task_queue)
        return Accepted(event_id=event.id, type=event.type, workflow_id=wf_id)

    async def send_reminder_now(self, invoice_id: str, customer_id: str, request_id: str | None = None) -> str:
        """Ask for a reminder now. The caller checks the invoice is open (the API answers 409
        otherwise); the workflow checks again and ignores it if the invoice was paid meanwhile."""
        request_id = request_id or uuid.uuid4().hex
        await signal_with_start(
            self.temporal,
            InvoiceWorkflow.run,
            InvoiceWorkflowInput(
                invoice_id=invoice_id, customer_id=customer_id, clock_offset_seconds=self._clock_offset
            ),
            InvoiceWorkflow.send_reminder_now,
            ManualReminder(request_id=request_id),
            id=invoice_workflow_id(invoice_id),
            task_queue=self.task_queue,
            summary=f"Invoice {invoice_id} of customer {customer_id}",
        )
        return request_id

    async def send_operator_email(self, req: OperatorEmailRequest) -> str:
        """A resend or a test send (relance.services.operator_emails builds `req`). Its
        workflow id derives from the request's key: a retried request finds the running
        workflow, or once it ended the logged row, and sends nothing twice."""
        from temporalio.common import WorkflowIDConflictPolicy

        wf_id = operator_email_workflow_id(req.email_id)
        await self.temporal.start_workflow(
            OperatorEmailWorkflow.run,
            req,
            id=wf_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        return wf_id


# signal_with_start with all but the client and the task queue given.
_Start = Callable[..., Awaitable[object]]


def _route(event: Event, offset: float) -> tuple[str, _Start]:
    """Which workflow an event goes to, and the start-and-signal it gets. Built with
    `partial`, which the type checker checks like a call: workflow, input, handler and
    signal model must match."""
    common: dict[str, Any] = {"event_id": event.id, "type": event.type, "created": event.created}

    def started(object_id: str) -> ObjectWorkflowInput:
        return ObjectWorkflowInput(object_id=object_id, clock_offset_seconds=offset)

    match event:
        case InvoiceEvent(invoice=inv):
            wf_id = invoice_workflow_id(inv.id)
            return wf_id, partial(
                signal_with_start,
                run=InvoiceWorkflow.run,
                arg=InvoiceWorkflowInput(invoice_id=inv.id, customer_id=inv.customer, clock_offset_seconds=offset),
                signal=InvoiceWorkflow.event,
                signal_arg=InvoiceSignal(**common, invoice=inv),
                id=wf_id,
                summary=f"Invoice {inv.id} of customer {inv.customer}",
            )
        case CustomerEvent(customer=customer):
            wf_id = customer_workflow_id(customer.id)
            return wf_id, partial(
                signal_with_start,
                run=CustomerWorkflow.run,
                arg=CustomerWorkflowInput(customer_id=customer.id),
                signal=CustomerWorkflow.event,
                signal_arg=CustomerSignal(**common, customer=customer),
                id=wf_id,
                summary=f"Customer {customer.id}",
            )
        case CardEvent(payment_method=pm):
            wf_id = card_workflow_id(pm.id)
            return wf_id, partial(
                signal_with_start,
                run=CardWorkflow.run,
                arg=started(pm.id),
                signal=CardWorkflow.event,
                signal_arg=CardSignal(**common, payment_method=pm),
                id=wf_id,
                summary=f"Card {pm.id}",
            )
        case SubscriptionEvent(subscription=sub):
            wf_id = subscription_workflow_id(sub.id)
            return wf_id, partial(
                signal_with_start,
                run=SubscriptionWorkflow.run,
                arg=started(sub.id),
                signal=SubscriptionWorkflow.event,
                signal_arg=SubscriptionSignal(**common, subscription=sub),
                id=wf_id,
                summary=f"Subscription {sub.id}",
            )
        case CreditNoteEvent(credit_note=cn):
            wf_id = credit_note_workflow_id(cn.id)
            return wf_id, partial(
                signal_with_start,
                run=CreditNoteWorkflow.run,
                arg=started(cn.id),
                signal=CreditNoteWorkflow.event,
                signal_arg=CreditNoteSignal(**common, credit_note=cn),
                id=wf_id,
                summary=f"Credit note {cn.id}",
            )
        case TaxRateEvent(tax_rate=rate):
            wf_id = tax_rate_workflow_id(rate.id)
            return wf_id, partial(
                signal_with_start,
                run=TaxRateWorkflow.run,
                arg=started(rate.id),
                signal=TaxRateWorkflow.event,
                signal_arg=TaxRateSignal(**common, tax_rate=rate),
                id=wf_id,
                summary=f"Tax rate {rate.id}",
            )
        case PaymentEvent(attempt=attempt):
            wf_id = payment_workflow_id(attempt.key, attempt.payment_intent_id)
            return wf_id, partial(
                signal_with_start,
                run=PaymentWorkflow.run,
                arg=started(wf_id),
                signal=PaymentWorkflow.event,
                signal_arg=PaymentSignal(**common, attempt=attempt),
                id=wf_id,
                summary=f"Payment {attempt.payment_intent_id or attempt.key}",
            )
        case RefundEvent():
            wf_id = refund_workflow_id(event.charge_id, event.refund.id if event.refund else None)
            return wf_id, partial(
                signal_with_start,
                run=RefundWorkflow.run,
                arg=started(wf_id),
                signal=RefundWorkflow.event,
                signal_arg=RefundSignal(**common, refund=event.refund, charge=event.charge),
                id=wf_id,
                summary=f"Refunds of {wf_id}",
            )
    assert_never(event)
