"""The Temporal dev server killed (SIGKILL) and started again on the same --db-filename
while a reminder timer is pending: the reminder still goes out, at its slot, once.

The slot is real wall-clock time: the account's send time (send_hour:send_minute) is set
to the next local minute at least 40 s ahead, in the customer's time zone (Nepal,
UTC+05:45, so the minutes are not a whole-hour offset), with an on-due-date reminder.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from relance.contracts.account import AccountSettings
from relance.storage import email_log
from relance.storage.database import dispose_engine, get_engine, session_scope
from relance.storage.settings_store import save_settings
from relance.storage.tables import as_utc
from tests.support.devstack import DevStack, eml_files, poll
from tests.support.events import customer, event, invoice
from workflows.invoice import InvoiceWorkflow

pytestmark = pytest.mark.devserver

TZ = "Asia/Kathmandu"
ON_TIME = timedelta(seconds=15)  # timer firing + workflow task + prepare + deliver, on a busy machine


def next_slot(lead: timedelta) -> datetime:
    """The first whole local minute at least `lead` from now, in TZ."""
    local = (datetime.now(UTC) + lead).astimezone(ZoneInfo(TZ))
    return (local + timedelta(minutes=1)).replace(second=0, microsecond=0)


async def test_reminder_survives_a_dev_server_kill_and_goes_out_on_time_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'relance.db'}"
    engine = get_engine(url)
    stack = DevStack(tmp_path, database_url=url)
    wf_ids = {"invoice-in_restart", "customer-cus_restart"}
    try:
        stack.start_server()
        await stack.wait_server()
        stack.start_worker()
        relance = await stack.relance()
        await relance.send(event("customer.created", customer("cus_restart", timezone=TZ)))

        slot = next_slot(timedelta(seconds=40))
        with session_scope(engine) as s:
            save_settings(
                s, AccountSettings(reminders=[0], send_hour=slot.hour, send_minute=slot.minute, attach_pdf=False)
            )
        due = slot.replace(hour=23, minute=0)  # the due date is the slot's local day
        await relance.send(event("invoice.finalized", invoice("in_restart", "cus_restart", due=due)))
        handle = (await stack.client()).get_workflow_handle("invoice-in_restart")

        async def pending() -> list:
            return (await handle.query(InvoiceWorkflow.status)).pending_reminders

        await poll(lambda: len(eml_files(stack.outbox)) == 1, 60, "the invoice email")
        # The plan is made just after the invoice email: wait for it, then check it.
        deadline = time.monotonic() + 30
        while not (slots := await pending()):
            assert time.monotonic() < deadline, "no reminder planned"
            await asyncio.sleep(0.2)
        assert [s.at for s in slots] == [slot.astimezone(UTC)], slots

        # The timer is pending in the server's database: kill the server, start it again.
        stack.kill_server(signal.SIGKILL)
        stack.start_server()
        await stack.wait_server()
        assert datetime.now(UTC) < slot, "the restart took longer than the lead time"
        assert [s.at for s in await pending()] == [slot.astimezone(UTC)]

        def two_emails() -> list[Path] | None:
            files = eml_files(stack.outbox)
            return files if len(files) >= 2 else None

        files = await poll(two_emails, 120, "the reminder after the restart")
        with session_scope(engine) as s:
            rows = email_log.all_entries(s)
        reminders = [r for r in rows if r.kind == "invoice_reminder"]
        assert [(r.status, r.idempotency_key.rsplit(":", 1)[-1]) for r in reminders] == [("sent", "+0")]
        sent_at = as_utc(reminders[0].sent_at)
        assert sent_at is not None
        print(f"reminder slot {slot:%H:%M} {TZ}; sent {(sent_at - slot).total_seconds():.1f}s after it")
        assert slot <= sent_at <= slot + ON_TIME, (slot, sent_at)
        assert not await pending()
        # Once: the workflow has nothing left to send, and the outbox still has exactly two.
        await poll(lambda: stack.worker_alive(), 1, "the worker, alive through the restart")
        assert len(eml_files(stack.outbox)) == len(files) == 2
        assert sorted(r.kind for r in rows) == ["invoice_finalized", "invoice_reminder"]
    finally:
        try:
            await stack.terminate(wf_ids)
        finally:
            stack.close()
            dispose_engine(url)
