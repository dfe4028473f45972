"""The worker SIGKILLed (with its PDF process pool) at random moments while 51 invoice
lifecycles run on the real Temporal dev server, then started again: every email owed is
in the outbox exactly once and in the email log exactly once, as sent.

The kill moments come from a seeded random generator; the seed is printed (and can be
forced with RELANCE_FAULTS_SEED) so a failure can be replayed with the same schedule.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from relance.contracts.account import AccountSettings
from relance.storage import email_log
from relance.storage.database import dispose_engine, get_engine, session_scope
from relance.storage.settings_store import save_settings
from tests.faults.lifecycles import batch, expected_keys, outbox_message_ids
from tests.support.devstack import DevStack, poll

pytestmark = pytest.mark.devserver

WITH_PDFS = 6  # the first lifecycles run with PDFs attached, the rest without (CPU)


def log_rows(engine):
    with session_scope(engine) as s:
        return email_log.all_entries(s)


async def test_worker_killed_at_random_moments_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    seed = int(os.environ.get("RELANCE_FAULTS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"worker-kill schedule seed: {seed} (rerun with RELANCE_FAULTS_SEED={seed})")
    rng = random.Random(seed)
    url = f"sqlite:///{tmp_path / 'relance.db'}"
    engine = get_engine(url)
    lives = batch("wk", 51)
    wanted = expected_keys(lives)
    wf_ids = set().union(*(life.workflow_ids for life in lives))
    stack = DevStack(tmp_path, database_url=url)
    try:
        with session_scope(engine) as s:
            save_settings(s, AccountSettings(attach_pdf=True))
        stack.start_server()
        await stack.wait_server()
        stack.start_worker()
        relance = await stack.relance()

        async def send_all() -> None:
            for i, life in enumerate(lives):
                if i == WITH_PDFS:
                    # PDFs for the first few only: their rows (with the attachment list) exist first.
                    first = expected_keys(lives[:WITH_PDFS])

                    def prepared(first: set[str] = first) -> bool:
                        return first <= {r.idempotency_key for r in log_rows(engine)}

                    await poll(prepared, 180, "the first lifecycles' emails to be prepared")
                    with session_scope(engine) as s:
                        save_settings(s, AccountSettings(attach_pdf=False))
                for ev in life.events:
                    await relance.send(ev)

        sending = asyncio.create_task(send_all())
        # Kill moments: when the outbox reaches random counts (spread over the whole batch
        # whatever the machine's speed), plus a random fraction of a second.
        thresholds = sorted(rng.sample(range(3, len(wanted) - 10), 3))
        for threshold in thresholds:

            def reached(threshold: int = threshold) -> bool:
                return len(list(stack.outbox.glob("*.eml"))) >= threshold

            await poll(
                reached,
                180,
                f"{threshold} emails before a kill",
            )
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            stack.kill_worker()
            print(f"killed the worker with {len(list(stack.outbox.glob('*.eml')))} emails out")
            await asyncio.sleep(rng.uniform(0.2, 1.5))  # down for a moment, then back
            stack.start_worker()
        await sending

        await poll(
            lambda: (
                len(list(stack.outbox.glob("*.eml"))) >= len(wanted)
                and all(r.status == "sent" for r in log_rows(engine))
                and len(log_rows(engine)) >= len(wanted)
            ),
            240,
            f"{len(wanted)} emails ({stack.tail('worker.log', 5)})",
            interval=0.5,
        )
        deadline = time.monotonic() + 60
        while not await stack.workflows_closed(wf_ids):
            assert time.monotonic() < deadline, "invoice workflows still running"
            await asyncio.sleep(0.5)

        rows = log_rows(engine)
        assert stack.worker_starts == 4
        assert Counter(r.idempotency_key for r in rows) == Counter(wanted), "each email logged once"
        assert {r.status for r in rows} == {"sent"}
        ids = outbox_message_ids(stack.outbox)
        assert len(ids) == len(wanted) == 2 * len(lives), "each email in the outbox once"
        assert Counter(ids) == Counter(r.provider_message_id for r in rows)
        with_pdf = [r for r in rows if r.attachments]
        assert {r.invoice_id for r in with_pdf} >= {life.invoice_id for life in lives[:WITH_PDFS] if not life.automatic}
        assert all(a.get("ref") for r in with_pdf for a in r.attachments), "PDFs stored as sent"
    finally:
        try:
            await stack.terminate(wf_ids)
        finally:
            stack.close()
            dispose_engine(url)


def test_a_retried_record_is_the_same_application_not_a_duplicate(sqlite_url) -> None:
    """A case the random kills find: record_invoice commits, the worker dies before
    Temporal hears of it, and a retry that took the event for a duplicate would never
    send the invoice email (or the receipt). Keeping the run that applied an event tells
    the retry from a duplicate."""
    from relance.contracts.models import InvoiceSignal
    from relance.storage.invoices import record_invoice_event
    from tests.support.events import event, invoice

    engine = get_engine(sqlite_url)
    ev = event("invoice.finalized", invoice("in_retry", "cus_retry"))
    signal = InvoiceSignal(event_id=ev["id"], type=ev["type"], created=ev["created"], invoice=ev["data"]["object"])
    with session_scope(engine) as s:
        assert record_invoice_event(s, signal, "run-1").duplicate is False
    with session_scope(engine) as s:
        assert record_invoice_event(s, signal, "run-1").duplicate is False  # the activity's retry
    with session_scope(engine) as s:
        assert record_invoice_event(s, signal, "run-2").duplicate is True  # a later run: a real duplicate
    with session_scope(engine) as s:
        assert record_invoice_event(s, signal).duplicate is True
    dispose_engine(sqlite_url)
