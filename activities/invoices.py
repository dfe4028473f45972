"""Invoice state and reminder planning: database reads and writes for the invoice workflow."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from relance.contracts.models import (
    AppliedInvoiceEvent,
    ApplyInvoiceEventRequest,
    InvoiceState,
    PlanRemindersRequest,
    ReminderPlan,
)
from relance.contracts.payments import PaymentOutcome
from relance.rules.invoice_webhooks import invoice_event_type
from relance.rules.payment_attempts import attempt_window, awaited_outcome
from relance.rules.schedule import plan_reminders as compute_plan
from relance.storage.customers import get_customer
from relance.storage.database import session_scope
from relance.storage.invoices import load_invoice_document, load_invoice_state, record_invoice_event
from relance.storage.payments import link_payment_intent, payment_details_known, receives_payment_events
from relance.storage.settings_store import load_settings
from relance.storage.tables import InvoiceRecord
from relance.storage.templates_store import current_versions
from relance.storage.webhooks_store import subscribers


def _billed_by_subscription(session, invoice_id: str) -> bool:
    """From the invoice's newest stored document: the workflow's state and history carry
    no subscription, and need not."""
    rec = session.get(InvoiceRecord, invoice_id)
    return rec is not None and load_invoice_document(session, invoice_id, rec.revision).subscription_id is not None


def _awaits_payment(session, req: ApplyInvoiceEventRequest, state: InvoiceState) -> PaymentOutcome | None:
    """The outcome whose details the email this event owes waits for: none when they are
    stored already, or when this deployment is never sent payment events."""
    inv = req.signal.invoice
    if state.duplicate:
        return None
    outcome = awaited_outcome(req.signal.type, state.status, state.collection_method, bool(inv.payment_intent_ids))
    if outcome is None or not receives_payment_events(session):
        return None
    within = attempt_window(req.signal.created) if outcome == "failed" else None
    return None if payment_details_known(session, inv.id, outcome, within=within) else outcome


class InvoiceActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def apply_invoice_event(self, req: ApplyInvoiceEventRequest) -> AppliedInvoiceEvent:
        """Records the event and reads, in the same transaction and round trip through
        Temporal, the template versions an invoice keeps for its whole life (first event
        only: a template changed later applies to invoices finalized after the change) and
        the webhook subscribers the event owes."""
        run_id = activity.info().workflow_run_id if activity.in_activity() else None
        with session_scope(self.engine) as session:
            state = record_invoice_event(session, req.signal, run_id)
            for payment_intent in req.signal.invoice.payment_intent_ids:
                link_payment_intent(session, payment_intent, req.signal.invoice.id)
            pins = current_versions(session) if req.pin_templates else None
            owed = None if state.duplicate else invoice_event_type(req.signal.type, state)
            endpoints = subscribers(session, owed) if owed is not None else None
            return AppliedInvoiceEvent(
                state=state,
                template_pins=pins,
                webhook_endpoints=endpoints,
                awaits_payment=_awaits_payment(session, req, state),
            )

    @activity.defn
    def load_invoice(self, invoice_id: str) -> InvoiceState | None:
        with session_scope(self.engine) as session:
            return load_invoice_state(session, invoice_id)

    @activity.defn
    def plan_reminders(self, req: PlanRemindersRequest) -> ReminderPlan:
        # The schedule is read once per due date: a running invoice keeps the plan it was
        # given, a changed schedule applies to due dates set after the change.
        with session_scope(self.engine) as session:
            settings, _ = load_settings(session)
            customer = get_customer(session, req.customer_id)
            if not settings.remind_subscription_invoices and _billed_by_subscription(session, req.invoice_id):
                return ReminderPlan(due_date=req.due_date, slots=[])
        tz = (customer.timezone if customer and customer.timezone else None) or settings.timezone
        return compute_plan(req.due_date, settings.reminders, tz, settings.send_hour, settings.send_minute)
