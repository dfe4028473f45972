"""One workflow per emitted event (id `webhook-<event id>`): find the endpoints, deliver
to each concurrently, each with its own retries, and record what happened.

Started by the emitting workflow as an abandoned child (the invoice workflow never waits
on a slow endpoint), or by the API for provider events. A 2xx delivers; 408, 429, 5xx,
timeouts and connection errors retry with exponential back-off for up to 3 days, then
the delivery is recorded as failed; any other answer fails at once (the activity says so
and logs it).
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import (
        WebhookActivities,
        WebhookAttempt,
        WebhookDeliveryRequest,
        WebhookEvent,
        WebhookFailure,
        WebhookOutcome,
    )
    from workflows.options import RECORD, WEBHOOK_DELIVER


@workflow.defn
class WebhookWorkflow:
    def __init__(self) -> None:
        self._busy = True

    @workflow.query
    def busy(self) -> bool:
        return self._busy

    @workflow.run
    async def run(self, event: WebhookEvent) -> WebhookOutcome:
        ready = await workflow.execute_activity_method(WebhookActivities.open_deliveries, event, **RECORD)
        payload = ready.model_copy(update={"endpoint_ids": None})
        results = await asyncio.gather(
            *(self._deliver(payload, endpoint_id) for endpoint_id in ready.endpoint_ids or [])
        )
        self._busy = False
        return WebhookOutcome(event_id=event.id, deliveries=list(results))

    async def _deliver(self, event: WebhookEvent, endpoint_id: str) -> WebhookAttempt:
        try:
            return await workflow.execute_activity_method(
                WebhookActivities.deliver_webhook,
                WebhookDeliveryRequest(endpoint_id=endpoint_id, event=event),
                **WEBHOOK_DELIVER,
            )
        except ActivityError as err:
            reason = str(err.cause) if err.cause else str(err)
            await workflow.execute_activity_method(
                WebhookActivities.record_webhook_failure,
                WebhookFailure(endpoint_id=endpoint_id, event_id=event.id, event_type=event.type, error=reason),
                **RECORD,
            )
            return WebhookAttempt(endpoint_id=endpoint_id, status="failed", error=reason)
