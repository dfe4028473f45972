"""Tables. Times are stored as UTC; SQLite drops the zone, so readers use `as_utc`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import DDL, JSON, Column, Index, LargeBinary, Text, event
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
@overload
def as_utc(value: datetime | None) -> datetime | None: ...
def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class InvoiceRecord(SQLModel, table=True):
    """The invoice as Relance knows it: the merge of every event received, in any order."""

    __tablename__ = "invoices"
    # A customer's invoices, newest first (the dashboard). Migration 0002. Invoices by the
    # time they were finalized (the recovery report's months). Migration 0004.
    __table_args__ = (
        Index("ix_invoices_customer_last_event", "customer_id", "last_event_at"),
        Index("ix_invoices_finalized_at", "finalized_at"),
    )

    id: str = Field(primary_key=True, max_length=255)
    customer_id: str = Field(max_length=255)
    status: str = Field(max_length=20)
    collection_method: str = Field(max_length=30)
    currency: str = Field(max_length=3)
    number: str | None = None
    amount_due: int = 0
    amount_paid: int = 0
    amount_remaining: int = 0
    due_date: datetime | None = None
    attempt_count: int = 0
    next_payment_attempt: datetime | None = None
    hosted_invoice_url: str | None = Field(default=None, sa_column=Column(Text))
    customer_email: str | None = None
    customer_name: str | None = None
    revision: str = Field(max_length=64)  # sha256 of the newest document
    last_event_at: datetime
    # When it was finalized and paid: Stripe's status_transitions, else the time of the
    # first event that showed it (event time, not when Relance received it). The earliest
    # wins, whatever order events arrive in. Migration 0004.
    finalized_at: datetime | None = None
    paid_at: datetime | None = None
    # invoice.payment_failed events applied, and the time of the newest (event time).
    payment_failures: int = 0
    last_payment_failed_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class InvoiceRevision(SQLModel, table=True):
    """Each distinct invoice document received, so a PDF is rendered once per revision."""

    __tablename__ = "invoice_revisions"

    invoice_id: str = Field(primary_key=True, max_length=255)
    revision: str = Field(primary_key=True, max_length=64)
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class ProcessedEvent(SQLModel, table=True):
    """Event ids already applied: duplicates are recognised even after a workflow ended."""

    __tablename__ = "processed_events"

    id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=100)
    object_id: str = Field(index=True, max_length=255)
    received_at: datetime = Field(default_factory=utcnow, index=True)
    # The workflow run that applied it. A worker can die after the activity committed and
    # before Temporal heard of it; the retry then finds the event processed. Applied by
    # the same run, it is that same application, not a duplicate: the workflow must still
    # send the emails it owes (found lost by tests/faults/test_worker_kills.py).
    run_id: str | None = Field(default=None, max_length=64)


class CustomerRecord(SQLModel, table=True):
    __tablename__ = "customers"

    id: str = Field(primary_key=True, max_length=255)
    email: str | None = None
    name: str | None = None
    preferred_locales: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    invoice_emails: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cc_emails: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    timezone: str | None = None
    address_lines: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # off | basic | en16931 | extended | xrechnung; None: the account's (migration 0008).
    einvoice_profile: str | None = Field(default=None, max_length=20)
    # BT-10 of its e-invoices (a Leitweg-ID); None: none (migration 0009).
    buyer_reference: str | None = Field(default=None, max_length=100)
    last_event_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class SettingsRecord(SQLModel, table=True):
    __tablename__ = "account_settings"

    id: int = Field(default=1, primary_key=True)
    version: int = 1
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class EmailLogEntry(SQLModel, table=True):
    """One row per email Relance decided to send (or skip), keyed by its idempotency key."""

    __tablename__ = "email_log"
    # A customer's emails within the log's retention, newest first (email_log.customer_emails).
    # Migration 0002. The others serve the log's filters (email_log_query), newest first
    # by (created_at, id): migration 0004; bench/email_log_query.py times them.
    __table_args__ = (
        Index("ix_email_log_customer_created", "customer_id", "created_at"),
        Index("ix_email_log_created_id", "created_at", "id"),
        Index("ix_email_log_kind_created", "kind", "created_at", "id"),
        Index("ix_email_log_status_created", "status", "created_at", "id"),
        Index("ix_email_log_delivery_created", "delivery_status", "created_at", "id"),
        # `q` is a substring search: a trigram index on PostgreSQL; SQLite scans.
        Index(
            "ix_email_log_search_trgm",
            "search",
            postgresql_using="gin",
            postgresql_ops={"search": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: str = Field(primary_key=True, max_length=32)
    idempotency_key: str = Field(unique=True, index=True, max_length=400)
    kind: str = Field(max_length=40)
    customer_id: str = Field(max_length=255)
    invoice_id: str | None = Field(default=None, index=True, max_length=255)
    status: str = Field(max_length=20)  # pending | sent | failed | skipped
    scheduled_at: datetime  # when the workflow decided to send (its clock)
    created_at: datetime = Field(default_factory=utcnow)  # indexed by ix_email_log_created_id
    sent_at: datetime | None = None
    to: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cc: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    from_email: str | None = None
    subject: str | None = Field(default=None, sa_column=Column(Text))
    locale: str | None = None
    message_ref: str | None = None
    attachments: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    provider: str | None = None
    provider_message_id: str | None = Field(default=None, index=True)
    error: str | None = Field(default=None, sa_column=Column(Text))
    note: str | None = Field(default=None, sa_column=Column(Text))  # e.g. a custom template fell back
    # What became of the e-invoice of the PDF it carries: embedded, or invalid and sent
    # plain with the failed rules (EInvoiceOutcome.summary; migration 0008).
    einvoice: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    # The email this one resent (POST /v1/emails/{id}/resend); null for every other email.
    resend_of: str | None = Field(default=None, index=True, max_length=32)
    # A test send (POST /v1/test-emails): sample data, to an address the operator typed.
    is_test: bool = False
    # Subject and recipients, lower-cased, for the log's text search (`q`).
    search: str | None = Field(default=None, sa_column=Column(Text))
    # email_delivery's status, copied here by webhooks_store.set_delivery_status so the
    # log's `delivered` and `bounced` filters (the bounce report) read one indexed table.
    delivery_status: str | None = Field(default=None, max_length=20)


# The trigram operator class of ix_email_log_search_trgm, for databases built from the
# models (migration 0004 creates it on upgraded ones). pg_trgm is a trusted extension:
# the database's owner may create it.
event.listen(
    EmailLogEntry.__table__,  # type: ignore[attr-defined]
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
)


class StoredDocument(SQLModel, table=True):
    """Rendered bodies and PDFs, by reference: workflow payloads carry only the key."""

    __tablename__ = "documents"

    key: str = Field(primary_key=True, max_length=400)
    media_type: str = Field(max_length=100)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int = 0
    created_at: datetime = Field(default_factory=utcnow, index=True)


class CustomTemplateRecord(SQLModel, table=True):
    """Versions of a user's template for one email kind. The newest version is the one
    new invoices pin; `is_default` marks a return to Relance's own template."""

    __tablename__ = "custom_templates"

    kind: str = Field(primary_key=True, max_length=40)
    version: int = Field(primary_key=True)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    html: str = Field(default="", sa_column=Column(Text, nullable=False))
    text: str | None = Field(default=None, sa_column=Column(Text))
    is_default: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class WebhookEndpointRecord(SQLModel, table=True):
    """Where events are posted (webhooks out). During a rotation the previous secret keeps
    signing alongside the new one until `previous_secret_expires_at`."""

    __tablename__ = "webhook_endpoints"

    id: str = Field(primary_key=True, max_length=40)
    url: str = Field(sa_column=Column(Text, nullable=False))
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text))
    secret: str = Field(max_length=200)
    previous_secret: str | None = Field(default=None, max_length=200)
    previous_secret_expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class WebhookDeliveryRecord(SQLModel, table=True):
    """One event to one endpoint, for ops: pending while retrying, then delivered or failed."""

    __tablename__ = "webhook_deliveries"

    endpoint_id: str = Field(primary_key=True, max_length=40)
    event_id: str = Field(primary_key=True, max_length=64)
    event_type: str = Field(max_length=60)
    status: str = Field(default="pending", max_length=20)  # pending | delivered | failed | skipped
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class EmailDeliveryRecord(SQLModel, table=True):
    """What the provider reported after an email was sent (SendGrid's Event Webhook), beside
    the email log row (whose status stays `sent`)."""

    __tablename__ = "email_delivery"

    email_id: str = Field(primary_key=True, max_length=32)
    delivery_status: str = Field(
        max_length=20
    )  # processed | deferred | delivered | bounce | blocked | dropped | spamreport
    delivery_status_at: datetime
    reason: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime = Field(default_factory=utcnow)


class ProviderEventRecord(SQLModel, table=True):
    """Provider events already applied (SendGrid posts duplicates): keyed by sg_event_id."""

    __tablename__ = "provider_events"

    provider: str = Field(primary_key=True, max_length=20)
    event_id: str = Field(primary_key=True, max_length=200)
    event: str = Field(max_length=40)
    email_id: str | None = Field(default=None, index=True, max_length=32)
    recipient: str | None = None
    occurred_at: datetime | None = None
    received_at: datetime = Field(default_factory=utcnow, index=True)


class SuppressionRecord(SQLModel, table=True):
    """Addresses Relance no longer emails (hard bounce, spam report). Lower-cased."""

    __tablename__ = "suppressions"

    address: str = Field(primary_key=True, max_length=320)
    reason: str = Field(max_length=40)  # bounce | spamreport | manual
    detail: str | None = Field(default=None, sa_column=Column(Text))
    email_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class TransportHoldRecord(SQLModel, table=True):
    """A provider that refused our credentials (SendGrid 401): emails are held, not sent,
    until the key changes or a probe succeeds (relance/storage/transport_holds.py)."""

    __tablename__ = "transport_holds"

    provider: str = Field(primary_key=True, max_length=20)
    key_fingerprint: str = Field(max_length=64)  # a hash of the key it refused, never the key
    error: str | None = Field(default=None, sa_column=Column(Text))
    held_since: datetime = Field(default_factory=utcnow)
    probe_after: datetime  # the next attempt allowed through to see if it was fixed provider-side


class TaxRateRecord(SQLModel, table=True):
    """A tax rate as Stripe last described it (`tax_rate.*` events, or expanded inside an
    invoice), so documents that name it by id can show its percentage and name."""

    __tablename__ = "tax_rates"

    id: str = Field(primary_key=True, max_length=255)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # the tax_rate object
    last_event_at: datetime  # the newest event's time wins
    updated_at: datetime = Field(default_factory=utcnow)


class PaymentAttemptRecord(SQLModel, table=True):
    """What the events about one payment attempt said, merged (relance/storage/payments.py):
    each field from the newest event that had it. Keyed by the charge, else the payment
    intent, else the invoice payment. Migration 0007."""

    __tablename__ = "payment_attempts"

    key: str = Field(primary_key=True, max_length=255)
    charge_id: str | None = Field(default=None, max_length=255)
    payment_intent_id: str | None = Field(default=None, index=True, max_length=255)
    invoice_id: str | None = Field(default=None, index=True, max_length=255)
    customer_id: str | None = Field(default=None, max_length=255)
    outcome: str | None = Field(default=None, max_length=20)
    method_type: str | None = Field(default=None, max_length=100)
    brand: str | None = Field(default=None, max_length=100)
    last4: str | None = Field(default=None, max_length=4)
    failure_code: str | None = Field(default=None, max_length=100)
    failure_message: str | None = Field(default=None, sa_column=Column(Text))
    receipt_number: str | None = Field(default=None, max_length=255)
    paid_at: datetime | None = None
    attempted_at: datetime  # the newest event's time
    updated_at: datetime = Field(default_factory=utcnow)


class PaymentIntentLink(SQLModel, table=True):
    """Which invoice a payment intent collects, from whichever event said it first (the
    invoice, an invoice payment, an older API's charge): newer charges name only their
    payment intent. Migration 0007."""

    __tablename__ = "payment_intent_invoices"

    payment_intent_id: str = Field(primary_key=True, max_length=255)
    invoice_id: str = Field(index=True, max_length=255)
