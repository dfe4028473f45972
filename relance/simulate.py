"""`relance simulate`: what will my customers receive?

Runs a scenario through the real workflows and activities on Temporal's time-skipping
test server, with a throwaway SQLite database and the outbox transport, and lists every
email with the (virtual) time it went out. Only the clock and the transport differ from
production. The format is documented in docs/simulate.md.

The test server's clock starts at the real current time and cannot go back, so a
scenario dated in the past runs with its workflows' clock offset by the difference
(InvoiceWorkflowInput.clock_offset_seconds); every time reported is scenario time.

Without `until`, it runs until every timer the scenario's workflows set has fired
(reminder slots, card and trial notices, refund pairing windows: each answers the
`pending_emails` query), or HORIZON_CAP after the last event, and says which.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError

from relance.contracts.account import AccountSettings, merge_settings
from relance.contracts.events import parse_event
from relance.contracts.models import PendingEmail
from relance.platform.clock import advance_to, settle
from relance.platform.config import Config, get_config
from relance.platform.temporal_client import converter_for
from relance.storage import email_log
from relance.storage.database import dispose_engine, get_engine, session_scope
from relance.storage.sent_emails import message_of
from relance.storage.settings_store import save_settings

if TYPE_CHECKING:
    from temporalio.testing import WorkflowEnvironment

# Without `until`, the simulation stops at the latest this long after the last event
# (or the start): a card expiring in three years is listed as pending, not waited for.
HORIZON_CAP = timedelta(days=400)
# A timer fires at its instant; the clock goes this far past it, so its email is sent.
PAST_A_TIMER = timedelta(seconds=1)


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
    until: datetime | None = None  # default: once every timer has fired, at most HORIZON_CAP after the last event

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


class StillPending(BaseModel):
    """An email a timer would send after the simulation stopped."""

    workflow_id: str
    kind: str
    at: datetime


class Stop(BaseModel):
    """Where the simulation stopped: `until`; or once every timer the scenario set had
    fired (`nothing_pending`); or at the cap, HORIZON_CAP after the last event."""

    at: datetime
    reason: Literal["until", "nothing_pending", "cap"]
    pending: list[StillPending]


class SimulationResult(BaseModel):
    emails: list[SimulatedEmail]
    stopped: Stop


def load_scenario(path: Path) -> Scenario:
    return Scenario.model_validate_json(path.read_text())


def _validate(scenario: Scenario) -> AccountSettings:
    settings = merge_settings(AccountSettings(), scenario.settings)
    for i, item in enumerate(scenario.events):
        parse_event(item.event)  # fail early, naming the field, before anything runs
        if item.at < scenario.start:
            raise ValueError(f"events[{i}].at is before the scenario start")
    return settings


async def _pending(client: Client, workflow_ids: set[str]) -> list[StillPending]:
    """The emails the scenario's running workflows have timers for, soonest first."""
    out: list[StillPending] = []
    for workflow_id in sorted(workflow_ids):
        handle = client.get_workflow_handle(workflow_id)
        try:
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                continue
            emails = await handle.query("pending_emails", result_type=list[PendingEmail])
        except WorkflowQueryFailedError:
            continue  # a workflow with no timed emails (customer, credit note)
        out += [StillPending(workflow_id=workflow_id, kind=e.kind.value, at=e.at) for e in emails]
    return sorted(out, key=lambda p: (p.at, p.workflow_id, p.kind))


async def _run_timers(
    env: WorkflowEnvironment, ids: set[str], offset: timedelta, reached: datetime, limit: datetime
) -> tuple[datetime, list[StillPending]]:
    """Fire every timer due up to `limit`, one after the other (an email's timer can set the
    next, as reminders do). Returns the scenario time reached and what is still pending."""
    fired: set[tuple[str, str, datetime]] = set()
    while True:
        pending = await _pending(env.client, ids)
        if not pending or pending[0].at > limit:
            return reached, pending
        soonest = pending[0]
        if (soonest.workflow_id, soonest.kind, soonest.at) in fired:
            raise RuntimeError(f"{soonest.workflow_id}: its {soonest.kind} timer at {soonest.at} did not fire")
        fired.add((soonest.workflow_id, soonest.kind, soonest.at))
        reached = max(reached, soonest.at + PAST_A_TIMER)
        await advance_to(env, ids, reached + offset)


async def run_scenario(scenario: Scenario) -> SimulationResult:
    from activities.transports.outbox import OutboxTransport
    from relance.client import RelanceClient
    from relance.platform.time_skipping import start_time_skipping
    from worker.main import build_worker, ensure_search_attributes

    settings = _validate(scenario)
    last = max([scenario.start, *(e.at for e in scenario.events)])
    limit = scenario.until or last + HORIZON_CAP
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
                reached, pending = await _run_timers(env, ids, offset, last, limit)
                if scenario.until:
                    await advance_to(env, ids, scenario.until + offset)
                    stop = Stop(at=scenario.until, reason="until", pending=pending)
                elif pending:
                    stop = Stop(at=limit, reason="cap", pending=pending)
                else:
                    stop = Stop(at=reached, reason="nothing_pending", pending=[])
                return SimulationResult(emails=_collect(engine), stopped=stop)
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
            message = message_of(session, entry)
            assert message is not None  # a sent email was rendered before it was sent
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


def to_json(result: SimulationResult) -> str:
    rows = []
    for e in result.emails:
        row = e.model_dump(mode="json", by_alias=True, exclude={"status"})
        rows.append(row)
    return json.dumps(rows, indent=2, ensure_ascii=False)


def _when(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def describe_stop(stop: Stop) -> str:
    """Where the simulation stopped, and what it did not get to."""
    if stop.reason == "nothing_pending":
        return f"Stopped at {_when(stop.at)}: every timer the scenario set has fired."
    if stop.reason == "until":
        head = f"Stopped at {_when(stop.at)} (until)"
    else:
        head = f"Stopped at {_when(stop.at)}, the cap ({HORIZON_CAP.days} days after the last event)"
    if not stop.pending:
        return f"{head}: nothing else pending."
    later = "; ".join(f"{p.kind} ({p.workflow_id}) at {_when(p.at)}" for p in stop.pending)
    return f"{head}; still pending: {later}."


def to_table(result: SimulationResult) -> str:
    lines = []
    for e in result.emails:
        att = f"  [{', '.join(e.attachments)}]" if e.attachments else ""
        lines.append(f"{e.at:%Y-%m-%d %H:%M} UTC  {e.kind:<24} {', '.join(e.to):<30} {e.subject}{att}")
    return "\n".join([*(lines or ["(no emails)"]), "", describe_stop(result.stopped)])
