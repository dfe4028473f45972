"""What a template sees. Built by the prepare activity from the database at send time.

Amounts stay integers in minor units with their currency; templates format them with
the locale-bound `money` filter and dates with `date` (Babel underneath). Nothing here
is pre-formatted, so one context renders in any locale.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from relance.contracts.documents import PaymentFacts


class Branding(BaseModel):
    business_name: str = "Your company"
    logo_data_uri: str | None = None  # data:image/png;base64,... (never a remote URL)
    brand_color: str = "#1f2937"
    accent_color: str = "#2563eb"
    address_lines: list[str] = Field(default_factory=list)
    support_email: str | None = None
    support_phone: str | None = None
    support_url: str | None = None
    footer: str | None = None
    legal_text: str | None = None


class LineItem(BaseModel):
    description: str = ""
    quantity: int | None = None
    amount: int = 0  # minor units
    currency: str
    period_start: datetime | None = None
    period_end: datetime | None = None


class InvoiceView(BaseModel):
    id: str
    number: str | None = None
    currency: str
    amount_due: int = 0
    amount_paid: int = 0
    amount_remaining: int = 0
    subtotal: int | None = None
    tax: int | None = None
    total: int | None = None
    created: datetime | None = None
    due_date: datetime | None = None
    paid_at: datetime | None = None
    description: str | None = None
    footer: str | None = None
    receipt_number: str | None = None
    collection_method: str = "send_invoice"
    status: str = "open"
    attempt_count: int = 0
    next_payment_attempt: datetime | None = None
    lines: list[LineItem] = Field(default_factory=list)


class CustomerView(BaseModel):
    id: str
    name: str | None = None
    email: str | None = None
    address_lines: list[str] = Field(default_factory=list)
    buyer_reference: str | None = None  # BT-10 of its e-invoices


class Links(BaseModel):
    pay_url: str | None = None
    update_payment_url: str | None = None
    confirm_payment_url: str | None = None
    invoice_url: str | None = None


class ReminderView(BaseModel):
    days_from_due: int  # negative before the due date, 0 on it, positive after
    manual: bool = False


class CardView(BaseModel):
    brand: str | None = None
    last4: str | None = None
    exp_month: int
    exp_year: int


class CreditNoteView(BaseModel):
    id: str
    invoice_id: str | None = None
    number: str | None = None
    currency: str
    amount: int
    reason: str | None = None
    created: datetime | None = None
    invoice_number: str | None = None
    memo: str | None = None
    lines: list[LineItem] = Field(default_factory=list)


class RefundView(BaseModel):
    id: str
    invoice_id: str | None = None
    currency: str
    amount: int
    created: datetime | None = None
    reason: str | None = None
    invoice_number: str | None = None


class SubscriptionView(BaseModel):
    id: str
    plan_name: str | None = None
    trial_end: datetime | None = None
    canceled_at: datetime | None = None
    ended_at: datetime | None = None


class EmailContext(BaseModel):
    """Everything a template for any kind may use; fields a kind does not need stay None."""

    branding: Branding = Field(default_factory=Branding)
    customer: CustomerView
    invoice: InvoiceView | None = None
    links: Links = Field(default_factory=Links)
    reminder: ReminderView | None = None
    card: CardView | None = None
    credit_note: CreditNoteView | None = None
    refund: RefundView | None = None
    subscription: SubscriptionView | None = None
    # A receipt's payment, or the failed attempt a failure notice is about (method,
    # decline code); None when no event described it.
    payment: PaymentFacts | None = None
    timezone: str = "UTC"  # dates are shown in this zone
