"""One invoice as an operator reads it: its facts, its timeline and its reminder plan
(GET /v1/invoices/{id} and the dashboard's invoice page)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field


class InvoiceFacts(BaseModel):
    id: str
    number: str | None = None
    customer: str = Field(description="The customer's id.")
    customer_name: str | None = None
    customer_email: str | None = None
    status: str = Field(description="draft, open, paid, void or uncollectible (only moves forward).")
    collection_method: str = Field(description="send_invoice or charge_automatically.")
    currency: str
    amount_due: int = Field(description="In the currency's minor unit.")
    amount_paid: int
    amount_remaining: int
    due_date: datetime | None = None
    attempt_count: int = Field(description="Payment attempts Stripe reported, as of the newest event.")
    next_payment_attempt: datetime | None = None
    hosted_invoice_url: str | None = None
    last_event_at: datetime = Field(description="The newest event's time (Stripe's `created`).")


class EventEntry(BaseModel):
    kind: Literal["event"] = "event"
    at: datetime = Field(description="When Relance received it.")
    event_id: str
    type: str = Field(description="The Stripe event type, e.g. `invoice.paid`.")
    event_time: datetime | None = Field(
        default=None,
        description="When it happened as the invoice records it (`status_transitions`); "
        "null for types the invoice keeps no time of.",
    )


class StatusEntry(BaseModel):
    kind: Literal["status"] = "status"
    at: datetime
    event_id: str = Field(description="The event that moved it.")
    previous: str | None = Field(description="Null for the first status Relance knew.")
    status: str


class PaymentEntry(BaseModel):
    kind: Literal["payment"] = "payment"
    at: datetime
    event_id: str
    outcome: Literal["failed", "action_required", "succeeded"]
    attempt: int | None = Field(default=None, description="Stripe's attempt number, where known.")
    next_payment_attempt: datetime | None = Field(
        default=None, description="When Stripe retries, for the latest failure of an open invoice."
    )


class EmailEntry(BaseModel):
    kind: Literal["email"] = "email"
    at: datetime = Field(description="When Relance logged it.")
    email_id: str
    email_kind: str = Field(description="invoice_finalized, invoice_reminder, payment_failed, receipt, ...")
    status: str = Field(description="pending, sent, failed or skipped.")
    scheduled_at: datetime = Field(description="When the workflow decided it was due.")
    sent_at: datetime | None = None
    to: list[str]
    cc: list[str]
    subject: str | None = None
    reason: str | None = Field(default=None, description="Why it was skipped or failed (or is late).")
    note: str | None = Field(default=None, description="E.g. a custom template that fell back to the default.")
    delivery_status: str | None = Field(default=None, description="What the provider reported last, if anything.")
    reminder_days_from_due: int | None = None


class WebhookEntry(BaseModel):
    kind: Literal["webhook"] = "webhook"
    at: datetime = Field(description="When the delivery was opened.")
    event_id: str = Field(description="The webhook event id (`webhook-id` header).")
    type: str
    endpoint_id: str
    endpoint_url: str
    status: str = Field(description="pending, delivered, failed or skipped.")
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


TimelineEntry = Annotated[
    EventEntry | StatusEntry | PaymentEntry | EmailEntry | WebhookEntry, Field(discriminator="kind")
]


class PlanSlot(BaseModel):
    days_from_due: int
    at: datetime = Field(description="The send instant, UTC.")
    local_time: str = Field(description="The same instant in the plan's time zone, ISO 8601 with its offset.")
    time_zone: str
    state: Literal["sent", "failed", "pending", "skipped", "ahead", "unknown"] = Field(
        description="sent; failed (the email was tried and failed); pending (being sent); skipped (no "
        "email: turned off, no recipient, past when planned, folded into a later reminder, or the "
        "invoice was no longer open); ahead (the workflow still waits for it); unknown (older than the "
        "email log's retention, which no longer says)."
    )
    reason: str | None = None
    email_id: str | None = None


class ReminderPlanOut(BaseModel):
    time_zone: str = Field(description="IANA zone of the local times: the customer's, else the account's.")
    time_zone_source: Literal["customer", "account"]
    source: Literal["workflow", "log"] = Field(
        description="`workflow`: the running workflow said which slots are ahead. `log`: derived from the "
        "email log and the schedule (the workflow is closed, or Temporal did not answer)."
    )
    workflow_busy: bool = Field(default=False, description="The workflow was handling an event: look again shortly.")
    due_date: datetime | None = None
    slots: list[PlanSlot]


class InvoiceLinks(BaseModel):
    customer: str = Field(description="The customer on this API.")
    customer_dashboard: str
    dashboard: str
    temporal_ui: str | None = Field(description="The invoice's workflow in the Temporal UI; null without a UI URL.")


class InvoicePage(BaseModel):
    invoice: InvoiceFacts
    workflow_id: str
    workflow_status: str | None = Field(
        description="RUNNING, COMPLETED, TERMINATED, ...; null when Temporal did not answer or has no such workflow."
    )
    timeline: list[TimelineEntry] = Field(description="Oldest first.")
    reminder_plan: ReminderPlanOut | None = Field(description="Null for an invoice that gets no reminders.")
    links: InvoiceLinks
