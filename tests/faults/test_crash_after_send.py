"""A crash between the provider accepting an email and the log recording it (the window
docs/reliability.md states): the worker's whole process group is SIGKILLed right after
the outbox transport wrote the email, before `deliver_email` marked the row sent. The
next worker retries the delivery; the outbox recognises the Message-ID and writes
nothing; the log ends `sent` once, with that Message-ID.

(With SMTP or SendGrid the retry would send a second copy with the same Message-ID,
which is the window's stated cost; the outbox closes it.)
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from relance.contracts.account import AccountSettings
from relance.storage import email_log
from relance.storage.database import dispose_engine, get_engine, session_scope
from relance.storage.settings_store import save_settings
from tests.faults.lifecycles import batch
from tests.support.devstack import DevStack, eml_files, poll

pytestmark = pytest.mark.devserver


async def test_crash_after_the_outbox_accepted_resends_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'relance.db'}"
    engine = get_engine(url)
    with session_scope(engine) as s:
        save_settings(s, AccountSettings(attach_pdf=False))
    [life] = batch("crash", 1)
    finalized, paid = life.events
    marker = tmp_path / "killed-after-send"
    stack = DevStack(tmp_path, database_url=url)

    def rows():
        with session_scope(engine) as s:
            return email_log.all_entries(s)

    try:
        stack.start_server()
        await stack.wait_server()
        stack.start_worker(module="tests.support.fault_worker", env={"RELANCE_FAULT_MARKER": str(marker)})
        relance = await stack.relance()
        await relance.send(finalized)

        await poll(lambda: marker.exists() and not stack.worker_alive(), 60, "the crash right after the send")
        [path] = eml_files(stack.outbox)
        written = (path.stat().st_ino, path.stat().st_mtime_ns, path.read_bytes())
        [row] = rows()
        assert row.status == "pending", "the crash came before the log recorded the send"
        assert marker.read_text() in written[2].decode()

        stack.start_worker()  # the ordinary worker
        await poll(lambda: [r.status for r in rows()] == ["sent"], 120, "the retried delivery")
        [row] = rows()
        assert row.provider_message_id == marker.read_text()
        assert eml_files(stack.outbox) == [path], "nothing new in the outbox"
        assert (path.stat().st_ino, path.stat().st_mtime_ns, path.read_bytes()) == written, "not rewritten"

        # The invoice carries on: the receipt goes out, the workflow ends.
        await relance.send(paid)
        await poll(
            lambda: len(eml_files(stack.outbox)) == 2 and all(r.status == "sent" for r in rows()), 60, "the receipt"
        )
        deadline = time.monotonic() + 30
        while not await stack.workflows_closed(life.workflow_ids):
            assert time.monotonic() < deadline, "the invoice workflow did not end"
            await asyncio.sleep(0.3)
        assert sorted(r.kind for r in rows()) == ["invoice_finalized", "receipt"]
    finally:
        try:
            await stack.terminate(life.workflow_ids)
        finally:
            stack.close()
            dispose_engine(url)
