"""What an operator reads in the Temporal UI: the workflow's summary, each reminder timer's
("reminder +7 days: 2027-04-08 09:00 Europe/Paris") and each email activity's.

The time-skipping server keeps timers' summaries but drops those of workflow starts and
activities, so those are read from the real dev server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.testing import WorkflowEnvironment

from activities.transports.outbox import OutboxTransport
from relance.contracts import search_attributes as sa
from relance.platform.binaries import dev_server_path
from relance.platform.config import Config
from relance.platform.temporal_client import DATA_CONVERTER
from tests.conftest import running_harness
from tests.support.events import customer, event, invoice
from tests.support.harness import Harness

DAY = timedelta(days=1)


async def summary_of(h: Harness, ev: HistoryEvent) -> str | None:
    if not ev.user_metadata.HasField("summary"):
        return None
    [text] = await h.temporal.data_converter.decode([ev.user_metadata.summary], [str])
    return str(text)


async def test_reminder_timers_activities_and_the_workflow_say_what_they_are(harness: Harness) -> None:
    h = harness
    h.save_settings(timezone="Europe/Paris", send_hour=9, reminders=[-3, 0, 7])
    now = await h.now()
    due = now + 10 * DAY
    obj = invoice("in_ui1", due=due)
    await h.send(event("customer.created", customer(obj["customer"])), event("invoice.finalized", obj, created=now))
    await h.advance(20 * DAY)

    handle = h.temporal.get_workflow_handle("invoice-in_ui1")
    events = [ev async for ev in handle.fetch_history_events()]
    # The workflow's own summary (the UI's list shows it) is its start event's.
    timers = [await summary_of(h, ev) for ev in events if ev.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    paris = ZoneInfo("Europe/Paris")
    due_day = due.astimezone(paris).date()

    def slot(days: int) -> str:
        local = datetime.combine(due_day + timedelta(days=days), datetime.min.time().replace(hour=9), tzinfo=paris)
        assert local.astimezone(UTC) > now  # every slot lies ahead when the plan is made
        return f"{local:%Y-%m-%d %H:%M} Europe/Paris"

    assert timers == [
        f"reminder -3 days: {slot(-3)}",
        f"reminder on the due date: {slot(0)}",
        f"reminder +7 days: {slot(7)}",
    ]


@pytest.mark.devserver
async def test_on_a_real_server_the_workflow_and_its_activities_carry_summaries(
    config: Config, sqlite_url: str
) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        ui=False,
        search_attributes=list(sa.ALL),
        data_converter=DATA_CONVERTER,
    )
    try:
        async with running_harness(env, config, sqlite_url, OutboxTransport(config.resolved_outbox_dir())) as h:
            h.save_settings(timezone="UTC", send_hour=9, reminders=[7])
            now = await h.now()
            obj = invoice("in_ui2", due=now + 10 * DAY)
            await h.send(
                event("customer.created", customer(obj["customer"])), event("invoice.finalized", obj, created=now)
            )
            handle = h.temporal.get_workflow_handle("invoice-in_ui2")
            assert await (await handle.describe()).static_summary() == "Invoice in_ui2 of customer cus_test"
            events = [ev async for ev in handle.fetch_history_events()]
            scheduled = [
                await summary_of(h, ev)
                for ev in events
                if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            ]
            [key] = {e.idempotency_key for e in h.sent("invoice_finalized")}
            assert [s for s in scheduled if s and s.endswith(key)] == [
                f"prepare {key}",
                f"PDF for {key}",
                f"deliver {key}",
            ]
            [timer] = [await summary_of(h, ev) for ev in events if ev.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
            assert timer is not None and timer.startswith("reminder +7 days: ") and timer.endswith(" 09:00 UTC")
    finally:
        await env.shutdown()
