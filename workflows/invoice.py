"""One durable workflow per invoice: the emails it owes its customer, at the right time.

Events arrive as signals (signal-with-start creates the workflow on the first one, of any
type). Each is first applied to the database, which merges out-of-order and duplicate
events into one truth (status only moves forward); the workflow then acts on the merged
state: invoice email, failure notices, 3D Secure, receipt, and reminder timers that an
`invoice.updated` with a new due date re-plans and a payment cancels.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities.invoices import InvoiceActivities
    from relance.contracts import search_attributes as sa
    from relance.contracts.kinds import EmailKind
    from relance.contracts.models import (
        TERMINAL_STATUSES,
        ApplyInvoiceEventRequest,
        EmailRequest,
        InvoiceCarriedState,
        InvoiceSignal,
        InvoiceState,
        InvoiceWorkflowInput,
        InvoiceWorkflowStatus,
        ManualReminder,
        PendingEmail,
        PlanRemindersRequest,
        ReminderPlan,
        ReminderSlot,
    )
    from relance.contracts.payments import PaymentNotice, PaymentOutcome
    from relance.rules.invoice_webhooks import PAID_TYPES
    from relance.rules.payment_attempts import DETAILS_WAIT, same_attempt
    from workflows.email_steps import send_email
    from workflows.options import RECORD
    from workflows.webhook_emit import emit_invoice_event, emit_reminder_due

MAX_SEEN_IDS = 500  # duplicates older than this are caught by the database instead
MAX_PAYMENT_NOTICES = 20


@workflow.defn
class InvoiceWorkflow:
    def __init__(self) -> None:
        self._inbox: list[InvoiceSignal] = []
        self._manual: list[ManualReminder] = []
        self._seen: list[str] = []
        self._state: InvoiceState | None = None
        self._plan: ReminderPlan | None = None
        self._handled: set[int] = set()  # offsets of the current plan already sent or skipped
        self._busy = True
        self._offset = timedelta(0)
        self._pins: dict[str, int] | None = None  # custom template versions, fixed at first event
        self._ids: tuple[str, str] = ("", "")
        self._payments: list[PaymentNotice] = []  # attempts stored meanwhile (payment workflows)
        # While an email waits for its payment's details: the outcome, the invoice
        # event's time, and until when (business time).
        self._awaiting: tuple[PaymentOutcome, datetime, datetime] | None = None

    # ---- messages ------------------------------------------------------------------

    @workflow.signal
    def event(self, signal: InvoiceSignal) -> None:
        if signal.event_id in self._seen:
            return
        self._seen.append(signal.event_id)
        del self._seen[:-MAX_SEEN_IDS]
        self._inbox.append(signal)

    @workflow.signal
    def payment(self, notice: PaymentNotice) -> None:
        self._payments.append(notice)
        del self._payments[:-MAX_PAYMENT_NOTICES]

    @workflow.signal
    def send_reminder_now(self, request: ManualReminder) -> None:
        key = f"manual:{request.request_id}"
        if key in self._seen:
            return
        self._seen.append(key)
        self._manual.append(request)

    @workflow.query
    def status(self) -> InvoiceWorkflowStatus:
        return InvoiceWorkflowStatus(
            status=self._state.status if self._state else None,
            # Waiting for a payment's details is idle, whatever else queued meanwhile: the
            # wait is a timer the clock has to move.
            busy=self._awaiting is None and (self._busy or bool(self._inbox or self._manual)),
            due_date=self._state.due_date if self._state else None,
            pending_reminders=self._pending_slots(),
        )

    @workflow.query
    def pending_emails(self) -> list[PendingEmail]:
        pending = [PendingEmail(kind=EmailKind.invoice_reminder, at=s.at) for s in self._pending_slots()]
        if self._awaiting is not None:
            outcome, _, until = self._awaiting
            kind = EmailKind.payment_failed if outcome == "failed" else EmailKind.receipt
            pending.insert(0, PendingEmail(kind=kind, at=until))
        return pending

    # ---- main loop -----------------------------------------------------------------

    @workflow.run
    async def run(self, inp: InvoiceWorkflowInput) -> str:
        self._offset = timedelta(seconds=inp.clock_offset_seconds)
        if inp.carried:
            self._restore(inp.carried)
        self._ids = (inp.invoice_id, inp.customer_id)
        while True:
            self._busy = True
            if self._inbox:
                await self._handle_event(self._inbox.pop(0))
                continue
            if self._manual:
                await self._handle_manual(self._manual.pop(0), inp.invoice_id)
                continue
            if self._state is not None and self._state.status in TERMINAL_STATUSES:
                return self._state.status
            due = [s for s in self._pending_slots() if s.at <= self._now()]
            if due:
                await self._send_reminders(due)
                continue
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(inp.model_copy(update={"carried": self._carry()}))
            self._busy = False
            upcoming = self._pending_slots()
            timeout = (upcoming[0].at - self._now()).total_seconds() if upcoming else None
            try:
                await workflow.wait_condition(
                    lambda: bool(self._inbox or self._manual),
                    timeout=timeout,
                    timeout_summary=upcoming[0].summary() if upcoming else None,
                )
            except TimeoutError:
                pass  # a reminder is due: the next turn of the loop sends it

    # ---- handlers ------------------------------------------------------------------

    async def _handle_event(self, signal: InvoiceSignal) -> None:
        """One activity records the event and answers the template pins and the webhook
        subscribers; the search attributes go up in one upsert of those it changed."""
        # Emails an event triggers are dated when the workflow took the event, not after
        # the activities that precede them.
        at = self._now()
        applied = await workflow.execute_activity_method(
            InvoiceActivities.apply_invoice_event,
            ApplyInvoiceEventRequest(signal=signal, pin_templates=self._pins is None),
            **RECORD,
        )
        state = self._state = applied.state
        if applied.template_pins is not None:
            self._pins = applied.template_pins
        if state.duplicate:
            return
        # Re-plan first (a payment cancels pending reminders before anything else), so the
        # new status and due date go up in one upsert.
        await self._replan()
        self._publish()
        final = state.status in TERMINAL_STATUSES
        attempt = signal.invoice.attempt_count or 0
        occurrence = f"attempt-{attempt or signal.event_id}"
        await emit_invoice_event(signal.type, signal.event_id, state, occurrence, at, applied.webhook_endpoints)
        if signal.type == "invoice.finalized" and state.status == "open" and state.collection_method == "send_invoice":
            await self._email(EmailKind.invoice_finalized, "finalized", scheduled_at=at)
        elif signal.type in ("invoice.payment_failed", "invoice.payment_action_required") and not final:
            if applied.awaits_payment and not await self._await_payment(applied.awaits_payment, signal.created):
                return
            kind = EmailKind(signal.type.removeprefix("invoice."))
            await self._email(kind, occurrence, attempt=attempt, scheduled_at=at, attempted_at=signal.created)
        elif signal.type in PAID_TYPES and state.status == "paid":
            if applied.awaits_payment:
                await self._await_payment(applied.awaits_payment, signal.created)
            await self._email(EmailKind.receipt, "paid", scheduled_at=at)

    async def _await_payment(self, outcome: PaymentOutcome, event_at: datetime) -> bool:
        """Waits, at most DETAILS_WAIT, for the attempt's own event (the method, the
        decline reason), which Stripe may send after the invoice's. False when a payment
        came meanwhile and the failure notice is no longer owed."""

        def described() -> bool:
            return any(
                n.outcome == outcome
                and n.has_details
                and (outcome == "succeeded" or same_attempt(n.attempted_at, event_at))
                for n in self._payments
            )

        def paid_meanwhile() -> bool:
            return outcome == "failed" and any(s.type in PAID_TYPES for s in self._inbox)

        self._awaiting = (outcome, event_at, self._now() + DETAILS_WAIT)
        try:
            await workflow.wait_condition(
                lambda: described() or paid_meanwhile(),
                timeout=DETAILS_WAIT,
                timeout_summary=f"details of the {outcome} payment",
            )
        except TimeoutError:
            pass  # sent with the wording for an unknown method
        finally:
            self._awaiting = None
        return not paid_meanwhile()

    async def _handle_manual(self, request: ManualReminder, invoice_id: str) -> None:
        if self._state is None:
            self._state = await workflow.execute_activity_method(InvoiceActivities.load_invoice, invoice_id, **RECORD)
            await self._replan()
            self._publish()
        if self._state is None or self._state.status != "open":
            workflow.logger.info(
                "manual reminder ignored: invoice is %s", self._state.status if self._state else "unknown"
            )
            return
        await emit_reminder_due(
            self._state, f"manual:{request.request_id}", self._now(), days_from_due=None, manual=True
        )
        await self._email(EmailKind.invoice_reminder, f"manual:{request.request_id}", manual=True)

    async def _send_reminders(self, due: list[ReminderSlot]) -> None:
        # After an outage several slots can be due at once: one reminder, the latest, not a burst.
        for slot in due:
            self._handled.add(slot.days_from_due)
        latest = due[-1]
        assert self._plan is not None
        occurrence = f"due-{int(self._plan.due_date.timestamp())}:{latest.days_from_due:+d}"
        assert self._state is not None
        # Even when reminder emails are turned off: a team may send its own.
        await emit_reminder_due(self._state, occurrence, latest.at, days_from_due=latest.days_from_due)
        await self._email(
            EmailKind.invoice_reminder, occurrence, days_from_due=latest.days_from_due, scheduled_at=latest.at
        )

    async def _replan(self) -> None:
        state = self._state
        wants = (
            state is not None
            and state.status == "open"
            and state.collection_method == "send_invoice"
            and state.due_date is not None
        )
        if not wants:
            self._plan = None
            return
        assert state is not None and state.due_date is not None
        if self._plan is not None and self._plan.due_date == state.due_date:
            return
        self._plan = await workflow.execute_activity_method(
            InvoiceActivities.plan_reminders,
            PlanRemindersRequest(invoice_id=state.invoice_id, customer_id=state.customer_id, due_date=state.due_date),
            **RECORD,
        )
        # Slots already past when the plan is made are skipped, not sent late.
        now = self._now()
        self._handled = {s.days_from_due for s in self._plan.slots if s.at < now}

    # ---- helpers -------------------------------------------------------------------

    async def _email(
        self,
        kind: EmailKind,
        occurrence: str,
        *,
        days_from_due: int | None = None,
        manual: bool = False,
        attempt: int | None = None,
        scheduled_at: datetime | None = None,
        attempted_at: datetime | None = None,
    ) -> None:
        state = self._state
        assert state is not None
        await send_email(
            EmailRequest(
                kind=kind,
                idempotency_key=f"{state.invoice_id}:{kind.value}:{occurrence}",
                customer_id=state.customer_id,
                invoice_id=state.invoice_id,
                invoice_revision=state.revision,
                scheduled_at=scheduled_at or self._now(),
                reminder_days_from_due=days_from_due,
                manual=manual,
                attempt=attempt,
                attempted_at=attempted_at,
                template_version=self._pins.get(kind.value, 0) if self._pins is not None else None,
            )
        )

    def _pending_slots(self) -> list[ReminderSlot]:
        if self._plan is None:
            return []
        return [s for s in self._plan.slots if s.days_from_due not in self._handled]

    def _now(self) -> datetime:
        return workflow.now() - self._offset

    def _publish(self) -> None:
        """Search attributes ops filter by in the Temporal UI, in one upsert of those that
        changed (no command at all when none did). The run's info holds them as last set,
        inherited across continue-as-new."""
        wanted: list[tuple[SearchAttributeKey[Any], Any]] = [
            (sa.INVOICE_ID, self._ids[0]),
            (sa.CUSTOMER_ID, self._ids[1]),
        ]
        if self._state is not None:
            wanted.append((sa.INVOICE_STATUS, self._state.status))
        if self._plan is not None:
            wanted.append((sa.DUE_AT, self._plan.due_date))
        current = workflow.info().typed_search_attributes
        updates = [key.value_set(value) for key, value in wanted if current.get(key) != value]
        if updates:
            workflow.upsert_search_attributes(updates)

    def _carry(self) -> InvoiceCarriedState:
        return InvoiceCarriedState(
            state=self._state,
            plan=self._plan,
            seen_event_ids=self._seen,
            pending_signals=self._inbox,
            pending_manual=self._manual,
            handled_offsets=sorted(self._handled),
            template_pins=self._pins,
        )

    def _restore(self, carried: InvoiceCarriedState) -> None:
        self._state, self._plan = carried.state, carried.plan
        self._seen = list(carried.seen_event_ids)
        self._inbox = list(carried.pending_signals) + self._inbox
        self._manual = list(carried.pending_manual) + self._manual
        self._handled = set(carried.handled_offsets)
        self._pins = carried.template_pins
