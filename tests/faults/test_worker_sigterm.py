"""`relance worker` stopped with SIGTERM, as a deploy, `docker compose stop` or a
Kubernetes scale-down stops it: it finishes cleanly (exit code 0), takes its PDF
processes with it, and another worker picks up where it left off, nothing lost."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from relance.contracts.account import AccountSettings
from relance.storage import email_log
from relance.storage.database import dispose_engine, get_engine, session_scope
from relance.storage.settings_store import save_settings
from tests.faults.lifecycles import batch, expected_keys
from tests.support.devstack import DevStack, poll

pytestmark = pytest.mark.devserver


def group_members(pgid: int) -> list[psutil.Process]:
    out = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return out


async def test_sigterm_stops_the_worker_cleanly_with_its_pdf_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'relance.db'}"
    engine = get_engine(url)
    first, second = batch("st", 2)
    stack = DevStack(tmp_path, database_url=url)
    try:
        with session_scope(engine) as s:
            save_settings(s, AccountSettings(attach_pdf=True))
        stack.start_server()
        await stack.wait_server()
        stack.start_worker()
        relance = await stack.relance()
        for ev in first.events:
            await relance.send(ev)

        def sent() -> set[str]:
            with session_scope(engine) as session:
                return {e.idempotency_key for e in email_log.all_entries(session) if e.status == "sent"}

        await poll(lambda: expected_keys([first]) <= sent(), 120, "the first lifecycle's emails")
        worker = stack.worker
        assert worker is not None
        pdf_children = [p for p in group_members(worker.pid) if p.pid != worker.pid]
        assert pdf_children, "the PDF pool should have started its processes"

        os.kill(worker.pid, signal.SIGTERM)  # the worker alone, as a container runtime does
        assert worker.wait(timeout=45) == 0, stack.tail("worker.log")
        await poll(lambda: not group_members(worker.pid), 20, "the PDF processes to exit with the worker")
        assert "worker stopped" in stack.tail("worker.log", 200)

        # Events sent while no worker runs wait in Temporal; the next worker sends them.
        for ev in second.events:
            await relance.send(ev)
        stack.start_worker()
        await poll(lambda: expected_keys([first, second]) <= sent(), 120, "the second lifecycle's emails")
        with session_scope(engine) as session:
            assert sorted(e.idempotency_key for e in email_log.all_entries(session)) == sorted(
                expected_keys([first, second])
            )
        await stack.terminate(first.workflow_ids | second.workflow_ids)
    finally:
        stack.close()
        dispose_engine(url)
