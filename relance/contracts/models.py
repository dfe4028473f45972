"""Typed inputs and outputs of workflows and activities.

Kept out of workflow modules on purpose: the workflow sandbox re-imports workflow
modules, and models defined there with `datetime` fields fail to decode. Workflows
import this module passed through. Payloads carry references, never PDFs or HTML.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from relance.contracts.einvoice import EInvoiceOutcome
from relance.contracts.email_context import CardView, CreditNoteView, RefundView, SubscriptionView
from relance.contracts.events import Charge, Customer, Invoice, PaymentMethod, Refund, Subscription, TaxRateObject
from relance.contracts.events import CreditNote as CreditNoteObject
from relance.contracts.kinds import DocumentKind, EmailKind
from relance.contracts.payments import PaymentAttempt, PaymentOutcome

TERMINAL_STATUSES = frozenset({"paid", "void"})


class EventSignal(BaseModel):
    """One Stripe event as delivered to the workflow of the object it is about: one model
    per object kind below, each with its object."""

    event_id: str
    type: str
    created: datetime


class InvoiceSignal(EventSignal):
    invoice: Invoice


class CustomerSignal(EventSignal):
    customer: Customer


class CardSignal(EventSignal):
    payment_method: PaymentMethod


class SubscriptionSignal(EventSignal):
    subscription: Subscription


class CreditNoteSignal(EventSignal):
    credit_note: CreditNoteObject


class TaxRateSignal(EventSignal):
    tax_rate: TaxRateObject


class RefundSignal(EventSignal):
    """`refund.created` carries the refund, `charge.refunded` the charge (maybe with its
    refunds): both reach the charge's workflow."""

    refund: Refund | None = None
    charge: Charge | None = None


class PaymentSignal(EventSignal):
    """charge.succeeded / charge.failed / payment_intent.payment_failed /
    invoice_payment.paid, as the attempt it reports: to the payment's workflow."""

    attempt: PaymentAttempt


class RecordedPayment(BaseModel):
    """A payment event stored. `invoice_id`: its invoice, when the event or a mapping
    stored before names it."""

    invoice_id: str | None = None
    duplicate: bool = False


class CustomerWorkflowInput(BaseModel):
    customer_id: str
    pending: list[CustomerSignal] = Field(default_factory=list)


class ManualReminder(BaseModel):
    """'Send a reminder now'. request_id makes a retried request send once."""

    request_id: str


class InvoiceWorkflowInput(BaseModel):
    invoice_id: str
    customer_id: str
    # Seconds the workflow clock runs ahead of business time. Always 0 in production; the
    # simulator runs scenarios dated in the past on a test server whose clock starts now.
    clock_offset_seconds: float = 0.0
    # State carried across continue-as-new.
    carried: InvoiceCarriedState | None = None


class ReminderSlot(BaseModel):
    days_from_due: int
    at: datetime  # the send instant (account send hour, local date, as UTC)
    # The same instant as the operator reads it, with its zone ("2027-04-08 09:00
    # Europe/Paris"): the timer's summary in the Temporal UI.
    local: str = ""

    def summary(self) -> str:
        when = f"{self.days_from_due:+d} days" if self.days_from_due else "on the due date"
        return f"reminder {when}: {self.local or self.at.strftime('%Y-%m-%d %H:%M UTC')}"


class ReminderPlan(BaseModel):
    due_date: datetime
    slots: list[ReminderSlot] = Field(default_factory=list)


class InvoiceState(BaseModel):
    """What the database knows of an invoice after an event is applied."""

    invoice_id: str
    customer_id: str
    status: str
    collection_method: str
    due_date: datetime | None = None
    attempt_count: int = 0
    revision: str
    duplicate: bool = False  # the event id had been applied before


class InvoiceCarriedState(BaseModel):
    state: InvoiceState | None = None
    plan: ReminderPlan | None = None
    seen_event_ids: list[str] = Field(default_factory=list)
    pending_signals: list[InvoiceSignal] = Field(default_factory=list)
    pending_manual: list[ManualReminder] = Field(default_factory=list)
    handled_offsets: list[int] = Field(default_factory=list)
    template_pins: dict[str, int] | None = None


class ApplyInvoiceEventRequest(BaseModel):
    """One activity per invoice event: record it, and answer in the same round trip what
    the workflow would otherwise ask in separate commands."""

    signal: InvoiceSignal
    pin_templates: bool = False  # the first event of a run: fix the custom template versions


class AppliedInvoiceEvent(BaseModel):
    state: InvoiceState
    template_pins: dict[str, int] | None = None  # when asked for
    # The endpoints subscribed to the webhook this event owes (invoice.paid, ...), read in
    # the same transaction; None when it owes none.
    webhook_endpoints: list[str] | None = None
    # The outcome whose details (method, decline reason) the email this event owes should
    # wait for a little, as the charge's own event has not come yet; None: send at once.
    awaits_payment: PaymentOutcome | None = None


class PlanRemindersRequest(BaseModel):
    invoice_id: str
    customer_id: str
    due_date: datetime


class EmailRequest(BaseModel):
    kind: EmailKind
    idempotency_key: str
    customer_id: str
    invoice_id: str | None = None
    invoice_revision: str | None = None
    scheduled_at: datetime  # business time at which the workflow decided to send
    reminder_days_from_due: int | None = None
    manual: bool = False
    attempt: int | None = None
    # When the invoice event about the payment happened: a failure notice describes the
    # attempt made around then, not an earlier one.
    attempted_at: datetime | None = None
    # The custom template version pinned by the invoice (None: the newest at send time; 0:
    # Relance's default).
    template_version: int | None = None
    # The object a customer-level email is about (small views, carried inline).
    card: CardView | None = None
    subscription: SubscriptionView | None = None
    credit_note: CreditNoteView | None = None
    refund: RefundView | None = None
    # The credit note itself, for the facts its PDF shows (lines, taxes, totals).
    credit_note_document: CreditNoteObject | None = None


class DocumentRequest(BaseModel):
    kind: DocumentKind
    invoice_id: str | None = None
    revision: str | None = None
    locale: str
    filename: str
    customer_id: str | None = None
    credit_note: CreditNoteView | None = None  # for credit note PDFs
    credit_note_document: CreditNoteObject | None = None


class StoredAttachment(BaseModel):
    ref: str
    filename: str
    content_type: str = "application/pdf"
    # A PDF's e-invoice: what became of it (the email log and the einvoice.invalid
    # webhook say so), and its XML when it also goes as a file of its own.
    einvoice: EInvoiceOutcome | None = None
    companion: StoredAttachment | None = None

    def logged(self) -> dict[str, str]:
        """How the email log records a companion file (the e-invoice XML beside its PDF)."""
        return {"filename": self.filename, "ref": self.ref, "content_type": self.content_type}

    @classmethod
    def from_logged(cls, raw: object) -> StoredAttachment | None:
        """The companion file `logged` recorded; None for none (or one never stored)."""
        if not isinstance(raw, dict) or not raw.get("ref"):
            return None
        return cls(ref=raw["ref"], filename=raw["filename"], content_type=raw.get("content_type") or "text/xml")


class PendingEmail(BaseModel):
    """An email a workflow's timer will send, unless an event changes it first: the answer
    to the `pending_emails` query (the simulator runs until none is left)."""

    kind: EmailKind
    at: datetime  # business time


class InvoiceWorkflowStatus(BaseModel):
    """Answer to the invoice workflow's `status` query (ops, the simulator, tests)."""

    status: str | None
    busy: bool
    due_date: datetime | None = None
    pending_reminders: list[ReminderSlot] = Field(default_factory=list)


class PreparedEmail(BaseModel):
    """ready: render the documents, then deliver. done: already handled, nothing to do."""

    status: str  # ready | done | skipped
    reason: str | None = None
    documents: list[DocumentRequest] = Field(default_factory=list)
    # Skipped because it cannot reach anyone (no address, every address suppressed), not
    # because it was turned off: a failure for the account, reported as email.failed.
    undeliverable: bool = False


class DeliveryRequest(BaseModel):
    idempotency_key: str
    attachments: list[StoredAttachment] = Field(default_factory=list)


class DeliveryResult(BaseModel):
    status: str  # sent | failed
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    # The endpoints subscribed to email.<status>, read when the outcome was recorded, so
    # the workflow needs no lookup of its own; None from results made in the workflow,
    # which look the endpoints up.
    webhook_endpoints: list[str] | None = None


class FailureRecord(BaseModel):
    request: EmailRequest
    error: str
    # The type of the last attempt's ApplicationError ("TransportHeld",
    # "RetryableDeliveryError", ...), found through a timeout's cause; None when no
    # attempt raised one.
    error_type: str | None = None


class OperatorEmailRequest(BaseModel):
    """An email an operator asked for (API, dashboard, CLI): a resend of a logged email,
    or a test of a kind on sample data. `email_id` is the new log row's id, derived from
    `idempotency_key`, so the caller knows it before the workflow runs."""

    purpose: Literal["resend", "test"]
    idempotency_key: str
    email_id: str
    kind: EmailKind
    customer_id: str
    invoice_id: str | None = None
    requested_at: datetime
    resend_of: str | None = None
    to: list[str] | None = None  # None: the original's (a resend)
    cc: list[str] | None = None
    locale: str | None = None  # a test's


class PreparedOperatorEmail(BaseModel):
    """ready: deliver with these stored attachments. done: already handled. skipped: not
    sent (e.g. every address suppressed), logged with the reason."""

    status: Literal["ready", "done", "skipped"]
    reason: str | None = None
    attachments: list[StoredAttachment] = Field(default_factory=list)


class ObjectWorkflowInput(BaseModel):
    object_id: str
    clock_offset_seconds: float = 0.0


class RefundLedger(BaseModel):
    """What a charge's refund emails already cover; kept in the database so a later run of
    the refund workflow (after it ended idle) does not email a refund twice."""

    key: str
    emailed: list[str] = Field(default_factory=list)  # refund ids
    covered: int = 0
    unpaired: list[int] = Field(default_factory=list)
    customer_id: str | None = None


class UnattributedRefunds(BaseModel):
    """Refunds of a charge that no event has tied to a customer yet: held, not emailed,
    and listed for the operator until the charge's customer is known."""

    key: str  # the charge's refund ledger key
    charge_id: str
    refunds: list[RefundView] = Field(default_factory=list)


class NoticeTimeRequest(BaseModel):
    """When to send a card-expiry or trial-ending notice for this customer."""

    kind: EmailKind
    customer_id: str
    reference: datetime  # the trial end, or the first instant of the card's expiry month (UTC)
    card_exp_month: int | None = None
    card_exp_year: int | None = None


class NoticeTime(BaseModel):
    at: datetime
    expires_at: datetime  # after this, the notice is pointless (card expired, trial over)


class RetentionInput(BaseModel):
    days: int = 30
    batch_size: int = 500


class PurgeRequest(BaseModel):
    cutoff: datetime
    batch_size: int = 500


InvoiceWorkflowInput.model_rebuild()
