"""The lifecycle's skeleton: what a Relance invoice lifecycle asks of Temporal, with no work.

Between the floor (bench/floor_workflow.py: N no-op activities) and Relance, it splits the
gap in two: what the lifecycle's shape costs Temporal (two signal-with-starts carrying the
invoice, search-attribute upserts, the same activities with payloads of the same size,
the same timeouts and heartbeats) and what Relance's own work costs (the
database, the templates, the MIME message, the outbox). Its activities are async no-ops,
Temporal's cheapest kind. Kept in its own module, importing nothing but temporalio: the
workflow sandbox re-imports workflow modules for every instance.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

# The options of workflows/options.py, copied rather than imported so that this module
# stays free of Relance's imports (see above).
_RECORD = workflow.ActivityConfig(start_to_close_timeout=timedelta(seconds=30))
_PREPARE = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=1),
    heartbeat_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
)
_DELIVER = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=2),
    schedule_to_close_timeout=timedelta(days=3),
    heartbeat_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=30)),
)
_INVOICE_ID = SearchAttributeKey.for_keyword("InvoiceId")
_CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
_STATUS = SearchAttributeKey.for_keyword("InvoiceStatus")
_DUE_AT = SearchAttributeKey.for_datetime("DueAt")


@activity.defn(name="skeleton_apply")
async def apply(event: dict[str, Any]) -> dict[str, Any]:
    """Takes the signal's event, answers a state about the size of Relance's (~380 B)."""
    inv = event["data"]["object"]
    return {
        "invoice_id": inv["id"],
        "customer_id": inv["customer"],
        "status": inv["status"],
        "collection_method": inv["collection_method"],
        "due_date": inv.get("due_date"),
        "revision": 1,
        "duplicate": False,
        "template_pins": {},
        "webhook_endpoints": [],
        "padding": "x" * 120,
    }


@activity.defn(name="skeleton_plan")
async def plan(invoice_id: str) -> dict[str, Any]:
    return {"invoice_id": invoice_id, "slots": []}


@activity.defn(name="skeleton_prepare")
async def prepare(request: dict[str, Any]) -> dict[str, Any]:
    return {"status": "ready", "documents": []}


@activity.defn(name="skeleton_deliver")
async def deliver(key: str) -> dict[str, Any]:
    return {"status": "sent", "provider": "outbox", "provider_message_id": f"<{key}@relance>", "webhook_endpoints": []}


SKELETON_ACTIVITIES: list[Callable[..., Any]] = [apply, plan, prepare, deliver]


@workflow.defn
class SkeletonWorkflow:
    def __init__(self) -> None:
        self._inbox: list[dict[str, Any]] = []

    @workflow.signal
    def event(self, event: dict[str, Any]) -> None:
        self._inbox.append(event)

    @workflow.run
    async def run(self, events: int) -> None:
        for n in range(events):
            await workflow.wait_condition(lambda: bool(self._inbox))
            state = await workflow.execute_activity(apply, self._inbox.pop(0), **_RECORD)
            if n == 0:
                await workflow.execute_activity(plan, state["invoice_id"], **_RECORD)
                workflow.upsert_search_attributes(
                    [
                        _INVOICE_ID.value_set(state["invoice_id"]),
                        _CUSTOMER_ID.value_set(state["customer_id"]),
                        _STATUS.value_set(state["status"]),
                        _DUE_AT.value_set(datetime(2030, 1, 1, tzinfo=UTC)),
                    ]
                )
            else:
                workflow.upsert_search_attributes([_STATUS.value_set(state["status"])])
            key = f"{state['invoice_id']}:{n}"
            await workflow.execute_activity(prepare, {"idempotency_key": key, "kind": "receipt", **state}, **_PREPARE)
            await workflow.execute_activity(deliver, key, **_DELIVER)
