"""One invoice as an operator reads it (GET /v1/invoices/{id}, /dashboard/invoices/{id}):
its facts, everything that happened to it in order, and its reminder plan.

The timeline is assembled from the database: the events applied (processed_events, each
matched to the document it brought, so its status and attempt count are known), the
email log, and the webhook deliveries of the events it emitted (found by their ids, which
hash the events' business identity). The plan comes from the running workflow's `status`
query when there is one (which slots it still waits for), and otherwise from the email
log and the account's schedule.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from relance.contracts.account import AccountSettings
from relance.contracts.events import Invoice
from relance.contracts.invoice_page import (
    EmailEntry,
    EventEntry,
    InvoiceFacts,
    InvoiceLinks,
    InvoicePage,
    PaymentEntry,
    PlanSlot,
    ReminderPlanOut,
    StatusEntry,
    TimelineEntry,
    WebhookEntry,
)
from relance.contracts.models import InvoiceWorkflowStatus, ReminderSlot
from relance.platform.config import Config
from relance.rules.invoice_webhooks import PAID_TYPES
from relance.rules.schedule import plan_reminders
from relance.rules.webhook_ids import event_id_for
from relance.storage import invoice_history
from relance.storage.customers import get_customer
from relance.storage.database import session_scope
from relance.storage.invoices import STATUS_IMPLIED_BY_TYPE, STATUS_RANK, merge_status
from relance.storage.settings_store import load_settings
from relance.storage.tables import EmailLogEntry, InvoiceRecord, ProcessedEvent, as_utc, utcnow

log = logging.getLogger("relance.api")

# Stripe records these transitions on the invoice itself: the event's own time.
_TRANSITION_OF_TYPE = {
    "invoice.finalized": "finalized_at",
    "invoice.paid": "paid_at",
    "invoice.payment_succeeded": "paid_at",
    "invoice.voided": "voided_at",
    "invoice.marked_uncollectible": "marked_uncollectible_at",
}
_ONE_PER_INVOICE = ("invoice.finalized", "invoice.paid", "invoice.voided", "invoice.marked_uncollectible")
_PER_ATTEMPT = ("invoice.payment_failed", "invoice.payment_action_required")
# Same instant: the event first, then what it changed, then what Relance sent about it.
_RANK = {"event": 0, "status": 1, "payment": 2, "webhook": 3, "email": 4}
_LOG_STATES = {"sent": "sent", "failed": "failed", "pending": "pending", "skipped": "skipped"}


@dataclass(frozen=True)
class WorkflowView:
    """What Temporal said of the invoice's workflow: its status name (None when it did not
    answer or has no such workflow) and, while it runs, its `status` query."""

    status: str | None = None
    query: InvoiceWorkflowStatus | None = None


async def workflow_view(temporal: Client, workflow_id: str, timeout: float = 5.0) -> WorkflowView:
    """Never raises for Temporal being away: the page is then built from the database."""
    handle = temporal.get_workflow_handle(workflow_id)
    try:
        description = await asyncio.wait_for(handle.describe(), timeout)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            log.warning("describing %s failed: %s", workflow_id, exc)
        return WorkflowView()
    except (TimeoutError, RuntimeError) as exc:
        log.warning("describing %s failed: %s", workflow_id, exc or "timeout")
        return WorkflowView()
    status = description.status.name if description.status is not None else None
    if description.status != WorkflowExecutionStatus.RUNNING:
        return WorkflowView(status=status)
    try:
        query = await asyncio.wait_for(handle.query("status", result_type=InvoiceWorkflowStatus), timeout)
    except (RPCError, TimeoutError, RuntimeError, WorkflowQueryFailedError) as exc:
        # No worker polling (a query waits for one), or an old run: the log stands in.
        log.warning("querying %s failed: %s", workflow_id, exc or "timeout")
        return WorkflowView(status=status)
    return WorkflowView(status=status, query=query)


def invoice_known(engine: Engine, invoice_id: str) -> bool:
    with session_scope(engine) as session:
        return session.get(InvoiceRecord, invoice_id) is not None


def temporal_ui_url(config: Config, workflow_id: str) -> str | None:
    base = config.temporal_ui_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        return None
    namespace = quote(config.temporal_namespace, safe="")
    return f"{base}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"


def invoice_page(
    engine: Engine,
    config: Config,
    invoice_id: str,
    workflow_id: str,
    workflow: WorkflowView,
    now: datetime | None = None,
) -> InvoicePage | None:
    """None for an invoice Relance has no record of."""
    with session_scope(engine) as session:
        rec = session.get(InvoiceRecord, invoice_id)
        if rec is None:
            return None
        return _assemble(session, config, rec, workflow_id, workflow, now or utcnow())


# ---- assembly ------------------------------------------------------------------------------


def _assemble(
    session: Session, config: Config, rec: InvoiceRecord, workflow_id: str, workflow: WorkflowView, now: datetime
) -> InvoicePage:
    settings, _ = load_settings(session)
    customer = get_customer(session, rec.customer_id)
    revisions = invoice_history.invoice_revisions(session, rec.id)
    events = invoice_history.invoice_events(session, rec.id)
    emails = invoice_history.invoice_emails(session, rec.id)
    documents = [(as_utc(r.created_at), Invoice.model_validate(r.document)) for r in revisions]

    timeline: list[TimelineEntry] = []
    timeline += _event_entries(rec, events, documents)
    timeline += _email_entries(session, emails)
    logged_since = now - timedelta(days=config.log_retention_days)
    customer_tz = customer.timezone if customer else None
    plan = _plan(rec, settings, customer_tz, emails, workflow, documents, timeline, now, logged_since)
    timeline += _webhook_entries(session, rec, events, documents, emails, plan)
    order = {id(e): i for i, e in enumerate(timeline)}
    timeline.sort(key=lambda e: (e.at, _RANK[e.kind], order[id(e)]))

    quoted_customer = quote(rec.customer_id, safe="")
    return InvoicePage(
        invoice=InvoiceFacts(
            id=rec.id,
            number=rec.number,
            customer=rec.customer_id,
            customer_name=rec.customer_name,
            customer_email=rec.customer_email,
            status=rec.status,
            collection_method=rec.collection_method,
            currency=rec.currency,
            amount_due=rec.amount_due,
            amount_paid=rec.amount_paid,
            amount_remaining=rec.amount_remaining,
            due_date=as_utc(rec.due_date),
            attempt_count=rec.attempt_count,
            next_payment_attempt=as_utc(rec.next_payment_attempt),
            hosted_invoice_url=rec.hosted_invoice_url,
            last_event_at=as_utc(rec.last_event_at),
        ),
        workflow_id=workflow_id,
        workflow_status=workflow.status,
        timeline=timeline,
        reminder_plan=plan,
        links=InvoiceLinks(
            customer=f"/v1/customers/{quoted_customer}",
            customer_dashboard=f"/dashboard/customers/{quoted_customer}",
            dashboard=f"/dashboard/invoices/{quote(rec.id, safe='')}",
            temporal_ui=temporal_ui_url(config, workflow_id),
        ),
    )


def _document_at(documents: list[tuple[datetime, Invoice]], at: datetime) -> Invoice | None:
    """The document an event brought: the newest stored by then (a revision is written in
    the same transaction as the event it came with, just before it; an event repeating a
    known document writes none)."""
    found = None
    for created, doc in documents:
        if created <= at:
            found = doc
    return found or (documents[0][1] if documents else None)


def _event_time(event_type: str, documents: list[tuple[datetime, Invoice]]) -> datetime | None:
    field = _TRANSITION_OF_TYPE.get(event_type)
    if field is None:
        return None
    for _, doc in reversed(documents):
        value = getattr(doc.status_transitions, field, None) if doc.status_transitions else None
        if value is not None:
            return as_utc(value)
    return None


def _event_entries(
    rec: InvoiceRecord, events: list[ProcessedEvent], documents: list[tuple[datetime, Invoice]]
) -> list[TimelineEntry]:
    out: list[TimelineEntry] = []
    status: str | None = None
    paid_seen = False
    last_failure: PaymentEntry | None = None
    for ev in events:
        at = as_utc(ev.received_at)
        doc = _document_at(documents, at)
        out.append(EventEntry(at=at, event_id=ev.id, type=ev.type, event_time=_event_time(ev.type, documents)))
        candidates = [s for s in (doc.status if doc else None, STATUS_IMPLIED_BY_TYPE.get(ev.type)) if s]
        incoming = max(candidates, key=STATUS_RANK.__getitem__, default=None)
        if incoming is not None:
            new = incoming if status is None else merge_status(status, incoming)
            if new != status:
                out.append(StatusEntry(at=at, event_id=ev.id, previous=status, status=new))
                status = new
        attempt = doc.attempt_count if doc and doc.attempt_count else None
        if ev.type in _PER_ATTEMPT:
            outcome = "failed" if ev.type == "invoice.payment_failed" else "action_required"
            last_failure = PaymentEntry(at=at, event_id=ev.id, outcome=outcome, attempt=attempt)
            out.append(last_failure)
        elif ev.type in PAID_TYPES and not paid_seen:
            paid_seen = True
            out.append(PaymentEntry(at=at, event_id=ev.id, outcome="succeeded", attempt=attempt))
    if last_failure is not None and rec.status == "open":
        last_failure.next_payment_attempt = as_utc(rec.next_payment_attempt)
    return out


def _reminder_offset(entry: EmailLogEntry, invoice_id: str, due: datetime | None) -> int | None:
    """The plan slot a reminder email was for (its key is invoice:kind:due-<ts>:<offset>)."""
    if due is None:
        return None
    prefix = f"{invoice_id}:invoice_reminder:due-{int(due.timestamp())}:"
    if not entry.idempotency_key.startswith(prefix):
        return None
    try:
        return int(entry.idempotency_key.removeprefix(prefix))
    except ValueError:
        return None


def _days_from_due(entry: EmailLogEntry) -> int | None:
    if entry.kind != "invoice_reminder" or ":due-" not in entry.idempotency_key:
        return None
    try:
        return int(entry.idempotency_key.rsplit(":", 1)[1])
    except ValueError:
        return None


def _email_entries(session: Session, emails: list[EmailLogEntry]) -> list[TimelineEntry]:
    delivery = invoice_history.email_deliveries(session, [e.id for e in emails])
    return [
        EmailEntry(
            at=as_utc(e.created_at),
            email_id=e.id,
            email_kind=e.kind,
            status=e.status,
            scheduled_at=as_utc(e.scheduled_at),
            sent_at=as_utc(e.sent_at),
            to=list(e.to),
            cc=list(e.cc),
            subject=e.subject,
            reason=e.error,
            note=e.note,
            delivery_status=delivery[e.id].delivery_status if e.id in delivery else None,
            reminder_days_from_due=_days_from_due(e),
        )
        for e in emails
    ]


def _webhook_keys(
    rec: InvoiceRecord,
    events: list[ProcessedEvent],
    documents: list[tuple[datetime, Invoice]],
    emails: list[EmailLogEntry],
    plan: ReminderPlanOut | None,
) -> dict[str, str]:
    """event id -> type of every webhook event the invoice's workflow may have emitted:
    the same keys workflows/webhook_emit.py hashes."""
    keys: dict[str, str] = {f"{rec.id}:{t}": t for t in _ONE_PER_INVOICE}
    for ev in events:
        if ev.type in _PER_ATTEMPT:
            doc = _document_at(documents, as_utc(ev.received_at))
            for occurrence in {f"attempt-{ev.id}", f"attempt-{doc.attempt_count if doc else 0}"}:
                keys[f"{rec.id}:{ev.type}:{occurrence}"] = ev.type
    for e in emails:
        for outcome in ("email.sent", "email.failed"):
            keys[f"{e.idempotency_key}:{outcome}"] = outcome
        prefix = f"{rec.id}:invoice_reminder:"
        if e.idempotency_key.startswith(prefix):
            keys[f"{rec.id}:invoice.reminder_due:{e.idempotency_key.removeprefix(prefix)}"] = "invoice.reminder_due"
    if plan is not None and plan.due_date is not None:
        for slot in plan.slots:
            occurrence = f"due-{int(plan.due_date.timestamp())}:{slot.days_from_due:+d}"
            keys[f"{rec.id}:invoice.reminder_due:{occurrence}"] = "invoice.reminder_due"
    return {event_id_for(key): t for key, t in keys.items()}


def _webhook_entries(
    session: Session,
    rec: InvoiceRecord,
    events: list[ProcessedEvent],
    documents: list[tuple[datetime, Invoice]],
    emails: list[EmailLogEntry],
    plan: ReminderPlanOut | None,
) -> list[TimelineEntry]:
    types = _webhook_keys(rec, events, documents, emails, plan)
    return [
        WebhookEntry(
            at=as_utc(row.created_at),
            event_id=row.event_id,
            type=row.event_type or types.get(row.event_id, ""),
            endpoint_id=row.endpoint_id,
            endpoint_url=url,
            status=row.status,
            attempts=row.attempts,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            delivered_at=as_utc(row.delivered_at),
        )
        for row, url in invoice_history.webhook_deliveries(session, types)
    ]


# ---- the reminder plan -------------------------------------------------------------------


def _billed_by_subscription(documents: list[tuple[datetime, Invoice]]) -> bool:
    return bool(documents) and documents[-1][1].subscription_id is not None


def _plan(
    rec: InvoiceRecord,
    settings: AccountSettings,
    customer_tz: str | None,
    emails: list[EmailLogEntry],
    workflow: WorkflowView,
    documents: list[tuple[datetime, Invoice]],
    timeline: list[TimelineEntry],
    now: datetime,
    logged_since: datetime,
) -> ReminderPlanOut | None:
    if rec.collection_method != "send_invoice":
        return None
    query = workflow.query
    due = (query.due_date if query and query.due_date else None) or as_utc(rec.due_date)
    if due is None:
        return None
    tz = customer_tz or settings.timezone
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):  # a zone the customer's event named that this host lacks
        tz, zone = settings.timezone, ZoneInfo(settings.timezone)
    planned = not (not settings.remind_subscription_invoices and _billed_by_subscription(documents))
    slots: dict[int, datetime] = {}
    if planned:
        for s in plan_reminders(due, settings.reminders, tz, settings.send_hour, settings.send_minute).slots:
            slots[s.days_from_due] = s.at
    sent: dict[int, EmailLogEntry] = {}
    for e in emails:
        offset = _reminder_offset(e, rec.id, due)
        if offset is not None:
            sent[offset] = e
            slots.setdefault(offset, as_utc(e.scheduled_at))  # a schedule changed since
    ahead: dict[int, ReminderSlot] = {s.days_from_due: s for s in query.pending_reminders} if query else {}
    for offset, slot in ahead.items():
        slots[offset] = slot.at  # the workflow's plan is the one it acts on
    closed_at = next(
        (e.at for e in timeline if isinstance(e, StatusEntry) and e.status != "open" and e.previous == "open"), None
    )
    out = []
    for offset, at in sorted(slots.items(), key=lambda item: item[1]):
        at = as_utc(at)
        state, reason, email_id = _slot_state(
            rec, offset, at, sent.get(offset), ahead, workflow, closed_at, now, logged_since
        )
        out.append(
            PlanSlot(
                days_from_due=offset,
                at=at,
                local_time=at.astimezone(zone).isoformat(),
                time_zone=tz,
                state=state,
                reason=reason,
                email_id=email_id,
            )
        )
    return ReminderPlanOut(
        time_zone=tz,
        time_zone_source="customer" if customer_tz and tz == customer_tz else "account",
        source="workflow" if query is not None else "log",
        workflow_busy=bool(query and query.busy),
        due_date=due,
        slots=out,
    )


def _slot_state(
    rec: InvoiceRecord,
    offset: int,
    at: datetime,
    entry: EmailLogEntry | None,
    ahead: dict[int, ReminderSlot],
    workflow: WorkflowView,
    closed_at: datetime | None,
    now: datetime,
    logged_since: datetime,
) -> tuple[str, str | None, str | None]:
    if entry is not None:
        return _LOG_STATES.get(entry.status, "pending"), entry.error, entry.id
    if workflow.query is not None:
        if offset in ahead:
            return "ahead", None, None
    elif workflow.status in (None, "RUNNING") and rec.status == "open" and at > now:
        return "ahead", "the workflow did not answer: expected from the schedule", None
    if rec.status != "open" and (closed_at is None or at >= closed_at):
        return "skipped", f"the invoice was {rec.status} first", None
    if at < logged_since:
        return "unknown", "older than the email log's retention: whether it went out is not known", None
    if rec.status == "open" and workflow.status not in (None, "RUNNING"):
        return "skipped", f"the invoice's workflow is {workflow.status.lower()}", None
    return "skipped", "past when the plan was made, or folded into a later reminder", None
