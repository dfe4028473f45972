"""PostgreSQL unreachable for a while (open connections reset, new ones refused) in the
middle of invoice lifecycles on the real dev server: activities fail and are retried by
Temporal, nothing is lost and nothing is sent twice once the database is back.

The worker (`relance worker`) reaches PostgreSQL only through a loopback TCP proxy the
test cuts; the test reads the database directly.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from relance.contracts.account import AccountSettings
from relance.storage import email_log
from relance.storage.database import dispose_engine, get_engine, session_scope
from relance.storage.settings_store import save_settings
from tests.conftest import PG_ADMIN
from tests.faults.lifecycles import batch, expected_keys, outbox_message_ids
from tests.support.devstack import DevStack, poll
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.devserver, pytest.mark.postgres]

OUTAGE_SECONDS = 12.0


@pytest.fixture
def pg_database():
    name = f"relance_faults_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_postgres_cut_for_a_while_loses_nothing_and_sends_nothing_twice(tmp_path: Path, pg_database: str) -> None:
    direct = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_database}"
    engine = get_engine(direct)  # creates the tables
    with session_scope(engine) as s:
        save_settings(s, AccountSettings(attach_pdf=False))
    proxy = await TcpProxy("127.0.0.1", 5432).start()
    lives = batch("db", 24)
    wanted = expected_keys(lives)
    wf_ids = set().union(*(life.workflow_ids for life in lives))
    stack = DevStack(tmp_path, database_url=f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{pg_database}")

    def rows():
        with session_scope(engine) as s:
            return email_log.all_entries(s)

    def outbox_count() -> int:
        return len(list(stack.outbox.glob("*.eml")))

    try:
        stack.start_server()
        await stack.wait_server()
        stack.start_worker()
        relance = await stack.relance()

        async def send_all() -> None:
            for life in lives:
                for ev in life.events:
                    await relance.send(ev)  # to Temporal: the database's outage does not matter here

        sending = asyncio.create_task(send_all())
        await poll(outbox_count, 120, "the first emails")
        await proxy.cut()
        cut_at, out_at_cut = time.monotonic(), outbox_count()
        await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself: its length is the point
        during = outbox_count() - out_at_cut
        await proxy.restore()
        print(
            f"database cut for {time.monotonic() - cut_at:.1f}s at {out_at_cut} emails; "
            f"{during} went out meanwhile (their log update waits for the database)"
        )
        await sending

        await poll(
            lambda: (
                outbox_count() >= len(wanted) and len(rows()) >= len(wanted) and all(r.status == "sent" for r in rows())
            ),
            180,
            f"{len(wanted)} emails after the outage ({stack.tail('worker.log', 5)})",
            interval=0.5,
        )
        deadline = time.monotonic() + 60
        while not await stack.workflows_closed(wf_ids):
            assert time.monotonic() < deadline, "invoice workflows still running"
            await asyncio.sleep(0.5)

        final = rows()
        assert Counter(r.idempotency_key for r in final) == Counter(wanted), "each email logged once"
        assert {r.status for r in final} == {"sent"}
        ids = outbox_message_ids(stack.outbox)
        assert len(ids) == len(wanted), "each email in the outbox once"
        assert Counter(ids) == Counter(r.provider_message_id for r in final)
        assert stack.worker_alive() and stack.worker_starts == 1, "the worker rode it out"
        assert proxy.connections > 1, "the worker reconnected after the outage"
    finally:
        try:
            await stack.terminate(wf_ids)
        finally:
            stack.close()
            await proxy.stop()
            dispose_engine(direct)
