"""`relance simulate`: what will my customers receive?

Runs a scenario through the real workflows and activities on Temporal's time-skipping
test server, with a throwaway SQLite database and the outbox transport, and lists every
email with the (virtual) time it went out. Only the clock and the transport differ from
production. The format is documented in docs/simulate.md.

The test server's clock starts at the real current time and cannot go back, so a
scenario dated in the past runs with its workflows' clock offset by the difference
(InvoiceWorkflowInput.clock_offset_seconds); every time reported is scenario time.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from relance.contracts.account import AccountSettings, merge_settings
from relance.contracts.events import parse_event
from relance.contracts.messages import OutgoingEmail
from relance.platform.clock import advance_to, settle
from relance.platform.config import Config, get_config
from relance.platform.temporal_client import converter_for
from relance.storage import email_log
from relance.storage.database import dispose_engine, get_engine, session_scope
from relance.storage.documents import get_document
from relance.storage.settings_store import save_settings


class ScenarioEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: datetime
    event: dict[str, Any]

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v if v.tzinfo else v.replace(tzinfo=UTC)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: datetime
    settings: dict[str, Any] = Field(default_factory=dict)
    customers: list[dict[str, Any]] = Field(default_factory=list)
    events: list[ScenarioEvent] = Field(default_factory=list)
    until: datetime | None = None  # default: 2 days after the last reminder could fire

    @field_validator("start", "until")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        return v if v is None or v.tzinfo else v.replace(tzinfo=UTC)


class SimulatedEmail(BaseModel):
    at: datetime
    kind: str
    to: list[str]
    cc: list[str]
    from_: str | None = Field(alias="from")
    subject: str | None
    locale: str | None
    invoice: str | None
    customer: str
    attachments: list[str]
    text: str
    status: str

    model_config = ConfigDict(populate_by_name=True)


def load_scenario(path: Path) -> Scenario:
    return Scenario.model_validate_json(path.read_text())


def _validate(scenario: Scenario) -> AccountSettings:
    settings = merge_settings(AccountSettings(), scenario.settings)
    for i, item in enumerate(scenario.events):
        parse_event(item.event)  # fail early, naming the field, before anything runs
        if item.at < scenario.start:
            raise ValueError(f"events[{i}].at is before the scenario start")
    return settings


def _end_of(scenario: Scenario, settings: AccountSettings) -> datetime:
    if scenario.until:
        return scenario.until
    last = max([scenario.start, *(e.at for e in scenario.events)])
    due_dates = []
    for e in scenario.events:
        due = e.event.get("data", {}).get("object", {}).get("due_date")
        if isinstance(due, (int, float)):
            due_dates.append(datetime.fromtimestamp(due, tz=UTC))
    horizon = max([last, *due_dates]) + timedelta(days=max([0, *settings.reminders]) + 2)
    return horizon


async def run_scenario(scenario: Scenario) -> list[SimulatedEmail]:
    from activities.transports.outbox import OutboxTransport
    from relance.client import RelanceClient
    from relance.platform.time_skipping import start_time_skipping
    from worker.main import build_worker, ensure_search_attributes

    settings = _validate(scenario)
    end = _end_of(scenario, settings)
    with tempfile.TemporaryDirectory(prefix="relance-sim-") as tmp:
        config = Config(state_dir=Path(tmp), task_queue=f"simulate-{uuid.uuid4().hex[:8]}", _env_file=None)
        url = config.resolved_database_url()
        engine = get_engine(url)
        with session_scope(engine) as session:
            save_settings(session, settings)
        env = await start_time_skipping(converter_for(get_config()))
        try:
            await ensure_search_attributes(env.client, "default")
            real_now = await env.get_current_time()
            if scenario.start > real_now:
                await env.sleep(scenario.start - real_now)
                real_now = scenario.start
            offset = real_now - scenario.start
            client = RelanceClient(env.client, config.task_queue, clock_offset_seconds=offset.total_seconds())
            worker = build_worker(
                env.client,
                config,
                engine=engine,
                transport=OutboxTransport(config.resolved_outbox_dir()),
                executor=ThreadPoolExecutor(max_workers=8),
            )
            ids: set[str] = set()
            async with worker:
                for i, cust in enumerate(scenario.customers):
                    created = int(scenario.start.timestamp())
                    ev = {
                        "id": f"evt_sim_customer_{i}",
                        "type": "customer.created",
                        "created": created,
                        "data": {"object": cust},
                    }
                    ids.update(a.workflow_id for a in await client.send(ev))
                await settle(env.client, ids)
                for item in sorted(scenario.events, key=lambda e: e.at):
                    await advance_to(env, ids, item.at + offset)
                    ids.update(a.workflow_id for a in await client.send(item.event))
                    await settle(env.client, ids)
                await advance_to(env, ids, end + offset)
                return _collect(engine)
        finally:
            from relance.rendering.pdf_pool import shutdown_pool

            # PDF processes inherit our stdout: a caller reading it to EOF would wait on them.
            shutdown_pool()
            await env.shutdown()
            dispose_engine(url)


def _collect(engine) -> list[SimulatedEmail]:
    out = []
    with session_scope(engine) as session:
        for entry in email_log.all_entries(session):
            if entry.status != email_log.SENT:
                continue
            message = OutgoingEmail.model_validate_json(get_document(session, entry.message_ref))
            out.append(
                SimulatedEmail(
                    # To the second: the instant the workflow took the event, give or take a few ms.
                    at=email_log.entry_times(entry)[0].replace(microsecond=0),
                    kind=entry.kind,
                    to=entry.to,
                    cc=entry.cc,
                    from_=entry.from_email,
                    subject=entry.subject,
                    locale=entry.locale,
                    invoice=entry.invoice_id,
                    customer=entry.customer_id,
                    attachments=[a["filename"] for a in entry.attachments],
                    text=message.text,
                    status=entry.status,
                )
            )
    out.sort(key=lambda e: (e.at, e.kind))
    return out


def to_json(emails: list[SimulatedEmail]) -> str:
    rows = []
    for e in emails:
        row = e.model_dump(mode="json", by_alias=True, exclude={"status"})
        rows.append(row)
    return json.dumps(rows, indent=2, ensure_ascii=False)


def to_table(emails: list[SimulatedEmail]) -> str:
    lines = []
    for e in emails:
        att = f"  [{', '.join(e.attachments)}]" if e.attachments else ""
        lines.append(f"{e.at:%Y-%m-%d %H:%M} UTC  {e.kind:<24} {', '.join(e.to):<30} {e.subject}{att}")
    return "\n".join(lines) if lines else "(no emails)"
