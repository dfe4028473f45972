"""The real stack as separate processes, for the benchmarks that measure memory and
latency: the Temporal dev server (SQLite with WAL, as `relance dev` starts it) and a
`relance worker` process (outbox transport, SQLite), both under a temporary directory.

    async with Stack(tmp, attach_pdf=False) as stack:
        await stack.client.send(...)
        stack.worker_rss(), stack.server_rss()
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
from sqlmodel import col, func, select

from relance.client import RelanceClient
from relance.contracts.account import AccountSettings
from relance.dev import dev_server_command, wait_for_server
from relance.platform.config import Config
from relance.platform.temporal_client import connect
from relance.storage.database import get_engine, session_scope
from relance.storage.settings_store import save_settings
from relance.storage.tables import EmailLogEntry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its children (the PDF pool), in bytes."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def mb(n: int) -> float:
    return round(n / 2**20, 1)


class Stack:
    def __init__(
        self,
        tmp: Path,
        *,
        attach_pdf: bool,
        reminders: list[int] | None = None,
        worker_env: dict[str, str] | None = None,
    ) -> None:
        self.tmp = tmp
        self.attach_pdf = attach_pdf
        self.reminders = reminders
        port = free_port()
        self.env = {
            **os.environ,
            "RELANCE_STATE_DIR": str(tmp / "state"),
            "RELANCE_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
            "RELANCE_TEMPORAL_UI_URL": f"http://127.0.0.1:{free_port()}",
            "RELANCE_TASK_QUEUE": "relance-bench",
            "RELANCE_TRANSPORT": "outbox",
            **(worker_env or {}),
        }
        self.config = Config(
            state_dir=tmp / "state",
            temporal_address=f"127.0.0.1:{port}",
            temporal_ui_url=self.env["RELANCE_TEMPORAL_UI_URL"],
            task_queue="relance-bench",
            _env_file=None,
        )
        self.server: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    async def __aenter__(self) -> Stack:
        state = self.config.state_dir
        state.mkdir(parents=True, exist_ok=True)
        self.outbox = self.config.resolved_outbox_dir()
        self.outbox.mkdir(parents=True, exist_ok=True)
        self.engine = get_engine(self.config.resolved_database_url())
        settings = AccountSettings(attach_pdf=self.attach_pdf)
        if self.reminders is not None:
            settings = AccountSettings(attach_pdf=self.attach_pdf, reminders=self.reminders)
        with session_scope(self.engine) as s:
            save_settings(s, settings)
        port = int(self.config.temporal_address.rsplit(":", 1)[1])
        ui_port = int(self.config.temporal_ui_url.rsplit(":", 1)[1])
        self._server_log = (self.tmp / "temporal.log").open("ab")
        self.server = subprocess.Popen(
            dev_server_command(self.config, self.tmp / "temporal.db", port, ui_port),
            stdout=self._server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        await wait_for_server(self.config, self.server)
        self._worker_log = (self.tmp / "worker.log").open("ab")
        relance = Path(sys.executable).parent / "relance"
        self.worker = subprocess.Popen(
            [str(relance), "worker"],
            env=self.env,
            cwd=self.tmp,
            stdout=self._worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        await self._worker_polling()
        self.temporal = await connect(self.config)
        self.client = RelanceClient(self.temporal, self.config.task_queue)
        return self

    async def _worker_polling(self) -> None:
        """Measurements start once the worker polls: it compiles the email templates first
        (~2 s), and events sent meanwhile would queue and show as latency."""
        assert self.worker is not None
        log = self.tmp / "worker.log"
        while "worker polling" not in log.read_text(errors="replace"):
            if self.worker.poll() is not None:
                raise SystemExit(f"relance worker exited: see {log}")
            await asyncio.sleep(0.2)

    async def __aexit__(self, *exc) -> None:
        for proc in (self.worker, self.server):
            if proc is None or proc.poll() is not None:
                continue
            # The whole process group: `relance worker` dies on SIGTERM without shutting
            # its PDF pool down, and the pool's processes would outlive it.
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
        self._worker_log.close()
        self._server_log.close()

    def worker_rss(self) -> int:
        assert self.worker is not None
        return tree_rss(self.worker.pid)

    def server_rss(self) -> int:
        assert self.server is not None
        return tree_rss(self.server.pid)

    def worker_cpu(self) -> float:
        assert self.worker is not None
        total = 0.0
        try:
            proc = psutil.Process(self.worker.pid)
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
        return total

    def sent(self, kind: str) -> int:
        with session_scope(self.engine) as s:
            return s.exec(
                select(func.count())
                .select_from(EmailLogEntry)
                .where(col(EmailLogEntry.kind) == kind, col(EmailLogEntry.status) == "sent")
            ).one()

    async def count(self, query: str) -> int:
        return (await self.temporal.count_workflows(query)).count
