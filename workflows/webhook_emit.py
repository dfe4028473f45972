"""Emitting webhook events from workflows (invoice.*, invoice.reminder_due, email.*).

    await emit("invoice.paid", key=f"{invoice_id}:invoice.paid", data={...}, at=business_now)

Cheap when nobody listens: the activity that just ran (recording the invoice event,
delivering the email) also read which endpoints subscribe to the type, in its own
transaction, and returned them with its result, recorded in the history, so replay is
deterministic. Where no activity precedes the emit (a reminder timer firing, an email
failed in the workflow), a local activity asks instead. Only then is a `WebhookWorkflow`
child started, with those endpoint ids, under ParentClosePolicy.ABANDON. The emitting workflow waits for the child to
*start*, never for its deliveries. Always starting a child would cost a workflow
execution per event on installs with no endpoint at all (most of them).

The event id derives from the event's business identity (`key`), so emitting the same
event again (a new run after a duplicate Stripe event, a retried email) finds the child
already there and sends nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import WebhookActivities, WebhookEvent, event_id_for, iso
    from relance.contracts.models import DeliveryResult, EmailRequest, InvoiceState
    from relance.rules.invoice_webhooks import invoice_event_for
    from workflows.options import WEBHOOK_LOOKUP
    from workflows.webhooks import WebhookWorkflow


def webhook_workflow_id(event_id: str) -> str:
    return f"webhook-{event_id}"


async def emit(
    event_type: str,
    *,
    key: str,
    data: dict[str, Any],
    at: datetime | None = None,
    endpoints: list[str] | None = None,
) -> None:
    """`endpoints`: the subscribers an activity result carried, if it did (a marker and a
    workflow task fewer than the local activity that asks otherwise)."""
    event = WebhookEvent(id=event_id_for(key), type=event_type, timestamp=at or workflow.now(), data=data)
    if endpoints is None:
        endpoints = await _lookup_subscribers(event_type)
    if endpoints == []:
        return
    try:
        await workflow.start_child_workflow(
            WebhookWorkflow.run,
            event.model_copy(update={"endpoint_ids": endpoints}),
            id=webhook_workflow_id(event.id),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass  # emitted before (same business event): delivered once


async def _lookup_subscribers(event_type: str) -> list[str] | None:
    try:
        return await workflow.execute_local_activity_method(
            WebhookActivities.webhook_subscribers, event_type, **WEBHOOK_LOOKUP
        )
    except ActivityError as err:
        # The database did not answer: let the child look the endpoints up with its own
        # retries rather than lose the event or hold up the emails.
        workflow.logger.warning(
            "webhook subscribers for %s unknown (%s); the delivery workflow will look", event_type, err.cause or err
        )
        return None


# ---- invoices ---------------------------------------------------------------------------


def invoice_data(state: InvoiceState, **extra: Any) -> dict[str, Any]:
    return {
        "invoice_id": state.invoice_id,
        "customer_id": state.customer_id,
        "status": state.status,
        "collection_method": state.collection_method,
        "due_date": iso(state.due_date),
        "attempt_count": state.attempt_count,
        **extra,
    }


async def emit_invoice_event(
    signal_type: str,
    source_event_id: str,
    state: InvoiceState,
    occurrence: str,
    at: datetime,
    endpoints: list[str] | None = None,
) -> None:
    owed = invoice_event_for(signal_type, state, occurrence)
    if owed is not None:
        event_type, key = owed
        await emit(
            event_type,
            key=key,
            data=invoice_data(state, source_event_id=source_event_id),
            at=at,
            endpoints=endpoints,
        )


async def emit_reminder_due(
    state: InvoiceState,
    occurrence: str,
    at: datetime,
    *,
    days_from_due: int | None,
    manual: bool = False,
) -> None:
    await emit(
        "invoice.reminder_due",
        key=f"{state.invoice_id}:invoice.reminder_due:{occurrence}",
        data=invoice_data(state, days_from_due=days_from_due, manual=manual),
        at=at,
    )


# ---- emails -----------------------------------------------------------------------------


async def emit_email_outcome(req: EmailRequest, result: DeliveryResult) -> None:
    if result.status not in ("sent", "failed"):
        return
    event_type = f"email.{result.status}"
    await emit(
        event_type,
        key=f"{req.idempotency_key}:{event_type}",
        data={
            "email_key": req.idempotency_key,
            "kind": req.kind.value,
            "customer_id": req.customer_id,
            "invoice_id": req.invoice_id,
            "status": result.status,
            "provider": result.provider,
            "provider_message_id": result.provider_message_id,
            "error": result.error,
        },
        endpoints=result.webhook_endpoints,
    )
