"""Request and response bodies of the HTTP API, and its one error shape.

Every error is `{"error": {"type": ..., "message": ..., "field": ...}}` so a client can
branch on `type` and show `field` next to the right input without parsing messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Header, Path
from pydantic import BaseModel, ConfigDict, Field

from relance.contracts.account import AccountSettings
from relance.contracts.einvoice import CustomerEInvoiceProfile
from relance.rules.settings_advice import Advice


class ApiError(Exception):
    """Raised by routes; rendered as the error shape by the app's handler."""

    def __init__(
        self, status: int, type: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.field = field
        self.headers = headers


class ErrorDetail(BaseModel):
    type: str = Field(
        description="Machine-readable kind, e.g. `invalid_event`, `unauthorized`, "
        "`invoice_not_open`, `temporal_unavailable`."
    )
    message: str = Field(description="For humans; never contains secrets.")
    field: str | None = Field(default=None, description="Dotted path of the offending input, when one is to blame.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retrying with the same key sends once.",
    ),
]
CustomerId = Annotated[str, Path(min_length=1, max_length=255, description="Your customer id (Stripe's `cus_...`).")]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the listed error statuses (all share ErrorResponse)."""
    descriptions = {
        400: "Invalid request; `error.field` names the offending input.",
        401: "Missing or wrong API key (also when the server has no key configured).",
        404: "Not found.",
        409: "Conflict with the current state.",
        503: "Temporal is unreachable; nothing was lost, retry later (see `Retry-After`).",
    }
    return {s: {"model": ErrorResponse, "description": descriptions[s]} for s in statuses}


# ---- events ---------------------------------------------------------------------------


class AcceptedEvent(BaseModel):
    id: str = Field(description="The event id.")
    type: str
    workflow_id: str = Field(description="The Temporal workflow that now holds the event (e.g. `invoice-in_123`).")


class EventsAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    events: list[AcceptedEvent]


class EventsDuplicate(BaseModel):
    status: Literal["duplicate"] = "duplicate"


class WebhookIgnored(BaseModel):
    status: Literal["ignored"] = "ignored"


# ---- customers -----------------------------------------------------------------------


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None


class CustomerIn(BaseModel):
    """The customer as Relance should know it. `email`, `name`, `preferred_locales` and
    `address` replace what is stored; `invoice_emails`, `cc_emails` and `timezone` are left
    unchanged when omitted or null (`[]` clears a list)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "email": "ada@example.com",
                "name": "Ada Lovelace",
                "preferred_locales": ["fr"],
                "timezone": "Europe/Paris",
                "invoice_emails": ["ap@example.com"],
                "cc_emails": ["cfo@example.com"],
            }
        },
    )

    email: str | None = Field(default=None, description="The account email; used as To when `invoice_emails` is empty.")
    name: str | None = None
    preferred_locales: list[str] = Field(default_factory=list, description="BCP 47 tags, most preferred first.")
    timezone: str | None = Field(default=None, description="IANA zone for this customer's reminders.")
    einvoice_profile: CustomerEInvoiceProfile | None = Field(
        default=None,
        description="The e-invoice this customer's invoice PDFs carry; `default`: the account's "
        "`einvoice.profile`. Omitted or null: unchanged.",
    )
    buyer_reference: str | None = Field(
        default=None,
        max_length=100,
        description="The reference on this customer's e-invoices (BT-10; a German public buyer's Leitweg-ID). "
        "Omitted or null: unchanged; empty: cleared.",
    )
    invoice_emails: list[str] | None = Field(
        default=None, description="To list for every billing email; replaces `email`."
    )
    cc_emails: list[str] | None = Field(default=None, description="Copied on every billing email.")
    address: AddressIn | None = None


class CustomerOut(BaseModel):
    id: str
    email: str | None = None
    name: str | None = None
    preferred_locales: list[str] = Field(default_factory=list)
    timezone: str | None = None
    invoice_emails: list[str] = Field(default_factory=list)
    cc_emails: list[str] = Field(default_factory=list)
    address_lines: list[str] = Field(default_factory=list)
    einvoice_profile: str | None = Field(default=None, description="None: the account's `einvoice.profile`.")
    buyer_reference: str | None = None
    updated_at: datetime | None = None


class CustomerAccepted(BaseModel):
    status: Literal["applied", "accepted"] = Field(
        description="`applied`: stored, the next email uses it. `accepted`: held by Temporal and applied "
        "shortly (the worker was busy or down)."
    )
    event_id: str = Field(description="Id of the `customer.updated` event the change travelled as.")
    workflow_id: str
    customer: CustomerOut


# ---- settings --------------------------------------------------------------------------


class SettingsOut(BaseModel):
    version: int = Field(description="Increases on every change; 0 until settings are first saved.")
    settings: AccountSettings
    advice: list[Advice] = Field(
        default_factory=list,
        description=(
            "Valid settings that are probably not what you want (an email with no link, a sender not yet "
            "verified), each naming the field to change. Never refused."
        ),
    )


# ---- invoices --------------------------------------------------------------------------


class ReminderAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    invoice_id: str
    request_id: str = Field(description="The Idempotency-Key, or a generated one: the same id never sends twice.")
    workflow_id: str


# ---- email log -------------------------------------------------------------------------


class EmailSummary(BaseModel):
    id: str
    time: datetime = Field(description="When Relance prepared the email.")
    scheduled_at: datetime = Field(description="When the workflow decided it was due.")
    sent_at: datetime | None = None
    kind: str
    invoice: str | None = None
    status: Literal["pending", "sent", "failed", "skipped"] | str
    to: list[str]
    cc: list[str]
    subject: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    delivery_status: str | None = Field(
        default=None,
        description="What the provider reported last (SendGrid's Event Webhook): processed, "
        "deferred, delivered, bounce, blocked, dropped or spamreport; null when nothing was reported.",
    )
    customer: str | None = None
    outcome: str | None = Field(
        default=None,
        description="`status` refined: pending, held, sent, failed, skipped, suppressed, or, for a sent "
        "email the provider reported on, delivered or bounced (what GET /v1/emails filters by).",
    )
    resend_of: str | None = Field(default=None, description="The email this one resent.")
    test: bool = Field(default=False, description="A test send (sample data).")


class EmailPage(BaseModel):
    data: list[EmailSummary]
    has_more: bool
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last one.")


class EmailLogPage(BaseModel):
    data: list[EmailSummary]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one.")


class Recipients(BaseModel):
    """Corrected recipients for a resend; an omitted list keeps the original's."""

    model_config = ConfigDict(extra="forbid")

    to: list[str] | None = Field(default=None, max_length=50)
    cc: list[str] | None = Field(default=None, max_length=50)


class EmailAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    id: str = Field(description="The new email's id in the log (GET /v1/emails/{id}).")
    request_id: str = Field(description="The Idempotency-Key, or a generated one: the same id never sends twice.")
    workflow_id: str
    resend_of: str | None = None


class TestEmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="An email kind, e.g. `receipt`.")
    to: str = Field(max_length=320, description="Where the test goes.")
    locale: str = Field(default="en", max_length=20)


class EmailHeaders(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str | None = Field(default=None, alias="From")
    to: str | None = Field(default=None, alias="To")
    cc: str | None = Field(default=None, alias="Cc")
    reply_to: str | None = Field(default=None, alias="Reply-To")
    subject: str | None = Field(default=None, alias="Subject")
    message_id: str | None = Field(default=None, alias="Message-ID")


class AttachmentOut(BaseModel):
    filename: str
    content_type: str
    size: int | None = Field(description="Bytes; null while the PDF is not rendered yet.")
    url: str = Field(description="Path of the file on this API (same authentication).")


class EmailOut(BaseModel):
    id: str
    time: datetime
    sent_at: datetime | None = None
    kind: str
    customer: str
    invoice: str | None = None
    status: str
    provider_message_id: str | None = None
    error: str | None = None
    resend_of: str | None = None
    test: bool = False
    einvoice: str | None = Field(
        default=None,
        description="What became of the e-invoice in the PDF it carries: embedded, or invalid and sent as a "
        "plain PDF with the failed rules (docs/einvoicing.md).",
    )
    headers: EmailHeaders
    html: str | None = Field(description="Null when no message was rendered (skipped, or failed before rendering).")
    text: str | None = None
    attachments: list[AttachmentOut]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
