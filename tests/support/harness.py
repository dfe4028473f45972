"""A Relance stack in a test: a real worker (all workflows and activities) on a Temporal
test environment, a real database and a real transport. Only the clock is the test's."""

from __future__ import annotations

import email
import email.policy
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from relance.client import RelanceClient
from relance.contracts.account import AccountSettings
from relance.platform.clock import advance, settle
from relance.platform.config import Config
from relance.storage import email_log
from relance.storage.database import session_scope
from relance.storage.settings_store import save_settings
from relance.storage.tables import EmailLogEntry


@dataclass
class Harness:
    env: WorkflowEnvironment
    client: RelanceClient
    engine: Engine
    outbox: Path
    config: Config
    worker: Worker
    workflow_ids: set[str] = field(default_factory=set)

    @property
    def temporal(self) -> Client:
        return self.env.client

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    def save_settings(self, **values: Any) -> None:
        with session_scope(self.engine) as session:
            save_settings(session, AccountSettings.model_validate(values))

    async def send(self, *events: dict[str, Any], settle_all: bool = True) -> None:
        """Sends the events in order, then settles every workflow. A customer event is
        applied before the next event goes: Temporal orders events within a workflow, not
        across workflows, and an invoice's email listed after its customer reads the
        customer's address (a real backend's customer.created is long applied by then)."""
        for ev in events:
            ids = {accepted.workflow_id for accepted in await self.client.send(ev)}
            self.workflow_ids |= ids
            if ev["type"].startswith("customer.") and not ev["type"].startswith("customer.subscription."):
                await settle(self.temporal, ids)
        if settle_all:
            await self.settle()

    async def remind(self, invoice_id: str, customer_id: str, request_id: str) -> None:
        await self.client.send_reminder_now(invoice_id, customer_id, request_id)
        self.workflow_ids.add(f"invoice-{invoice_id}")
        await self.settle()

    async def settle(self) -> None:
        await settle(self.temporal, self.workflow_ids)

    async def advance(self, delta: timedelta, step: timedelta = timedelta(hours=12)) -> None:
        await advance(self.env, self.workflow_ids, delta, step)

    async def terminate_all(self) -> None:
        for wf_id in self.workflow_ids:
            handle = self.temporal.get_workflow_handle(wf_id)
            try:
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("test finished")
            except RPCError:
                pass

    def log(self) -> list[EmailLogEntry]:
        with session_scope(self.engine) as session:
            return email_log.all_entries(session)

    def sent(self, kind: str | None = None) -> list[EmailLogEntry]:
        return [e for e in self.log() if e.status == "sent" and (kind is None or e.kind == kind)]

    def outbox_messages(self) -> list[EmailMessage]:
        files = sorted(self.outbox.rglob("*.eml"))
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in files]


def unique_queue() -> str:
    return f"relance-test-{uuid.uuid4().hex[:8]}"
