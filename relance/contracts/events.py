"""Events in: Stripe's envelope and object shapes, parsed and validated.

A Stripe webhook payload works as is; other backends send the same shape. Fields
Relance does not use are ignored, so real Stripe objects parse unchanged. A bad event is
refused with an `InvalidEvent` naming the field, before anything is started.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import list_currencies
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from relance.contracts.addresses import MAX_RECIPIENTS, normalize_address, normalize_addresses
from relance.contracts.einvoice import CustomerEInvoiceProfile
from relance.contracts.payments import PaymentAttempt


def _unix_to_datetime(value: Any) -> Any:
    # Stripe sends unix seconds; ISO strings are accepted for hand-written events.
    if isinstance(value, bool):
        raise ValueError("expected a unix timestamp")
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("unix timestamp out of range") from None
    return value


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


Timestamp = Annotated[datetime, BeforeValidator(_unix_to_datetime)]

# Validation context for events coming in (parse_event). Checks added after release
# (ISO 4217 currencies, amount bounds, invoice customer_email, the 1,000-recipient cap,
# the 64-octet local part) apply only there. The same models are validated again when
# Temporal decodes a signal, an activity input or a carried state; an event accepted by
# an earlier release must still decode then, or its signal would be dropped and its
# history would no longer replay.
EDGE = {"relance_edge": True}


def at_edge(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("relance_edge"))


# Read once, at import. Validators also run inside the workflow sandbox (Temporal decodes
# signals there, re-validating the models), where opening Babel's data files is refused
# and the signal would be dropped: they must never do I/O.
ISO_CURRENCIES = frozenset(code.lower() for code in list_currencies())


def _iso_currency(value: Any, info: ValidationInfo) -> Any:
    # Stripe's lowercase ISO 4217 codes. An unknown code would be printed as is with two
    # made-up decimals on every email and PDF: refuse it where it comes in.
    if isinstance(value, str):
        if len(value) != 3 or not value.isalpha():
            raise ValueError("must be a three-letter ISO 4217 code")
        if at_edge(info) and value.lower() not in ISO_CURRENCIES:
            raise ValueError(f"unknown currency {value!r} (not an ISO 4217 code)")
        return value.lower()
    return value


Currency = Annotated[str, BeforeValidator(_iso_currency)]

# Amounts (minor units) and counts. Bounded so that a typo or an attack (10**30) is refused
# here, naming the field, instead of overflowing a database column in an activity that
# would retry forever. 10**15 minor units is beyond any real invoice in any currency.
MAX_INTEGER = 10**15


def _bounded(value: int, info: ValidationInfo) -> int:
    if at_edge(info) and not -MAX_INTEGER <= value <= MAX_INTEGER:
        raise ValueError("must be between -10^15 and 10^15 (an integer amount in minor units)")
    return value


Integer = Annotated[int, AfterValidator(_bounded)]


def _id_of(value: Any) -> Any:
    # Expanded objects (`"customer": {"id": "cus_..."}`) count as their id.
    if isinstance(value, dict):
        return value.get("id")
    return value


ObjectId = Annotated[str, BeforeValidator(_id_of)]


def _decimal_text(value: Any) -> Any:
    # A JSON number arrives as a float: read its shortest text, so 19.6 stays 19.6
    # rather than becoming 19.60000000000000142...
    if isinstance(value, float):
        return repr(value)
    return value


# Stripe's decimal strings (unit_amount_decimal, quantity_decimal, percentage), exact.
DecimalValue = Annotated[Decimal, BeforeValidator(_decimal_text)]


def _expanded_or_id(value: Any) -> Any:
    # Fields that hold an object's id, or the object itself when the request expanded
    # it: an id becomes an object with nothing but its id.
    if isinstance(value, str):
        return {"id": value}
    return value


class StripeObject(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TaxRateObject(StripeObject):
    """Stripe's tax_rate. In webhook payloads invoices name rates by id only; the id alone
    parses too, with nothing else set (`expanded` False)."""

    id: str = Field(min_length=1, max_length=255)
    object: Literal["tax_rate"] | None = None
    percentage: DecimalValue | None = None
    effective_percentage: DecimalValue | None = None
    display_name: str | None = None
    description: str | None = None
    jurisdiction: str | None = None
    country: str | None = None
    state: str | None = None
    inclusive: bool | None = None
    tax_type: str | None = None
    active: bool | None = None
    created: Timestamp | None = None

    @property
    def expanded(self) -> bool:
        return self.percentage is not None


TaxRateRef = Annotated[TaxRateObject, BeforeValidator(_expanded_or_id)]


class TaxRateDetails(StripeObject):
    tax_rate: TaxRateRef | None = None


class TaxAmountObject(StripeObject):
    """One tax on a line or on the whole document, in either API shape: `taxes` /
    `total_taxes` (2025-03-31 and later: `tax_rate_details`, `tax_behavior`) or
    `tax_amounts` / `total_tax_amounts` (before: `tax_rate`, `inclusive`)."""

    amount: Integer = 0
    taxable_amount: Integer | None = None
    tax_behavior: str | None = None
    taxability_reason: str | None = None
    tax_rate_details: TaxRateDetails | None = None
    tax_rate: TaxRateRef | None = None
    inclusive: bool | None = None

    @property
    def rate(self) -> TaxRateObject | None:
        return self.tax_rate_details.tax_rate if self.tax_rate_details else self.tax_rate

    @property
    def is_inclusive(self) -> bool:
        if self.tax_behavior is not None:
            return self.tax_behavior == "inclusive"
        return bool(self.inclusive)


class Coupon(StripeObject):
    id: str | None = None
    name: str | None = None


class DiscountObject(StripeObject):
    id: str | None = None
    coupon: Coupon | None = None
    source: dict[str, Any] | None = None  # API 2025-09-30: {"coupon": ...}

    @property
    def name(self) -> str | None:
        if self.coupon is not None and self.coupon.name:
            return self.coupon.name
        coupon = (self.source or {}).get("coupon")
        return coupon.get("name") if isinstance(coupon, dict) else None


class DiscountAmountObject(StripeObject):
    amount: Integer = 0
    discount: Annotated[DiscountObject, BeforeValidator(_expanded_or_id)] | None = None


class TaxIdObject(StripeObject):
    """Stripe's tax_id (`{"type": "eu_vat", "value": "FR..."}`). An invoice's
    `account_tax_ids` are ids unless expanded: an id alone parses with no value."""

    id: str | None = None
    type: str | None = None
    value: str | None = None
    country: str | None = None


TaxIdRef = Annotated[TaxIdObject, BeforeValidator(_expanded_or_id)]


class Period(StripeObject):
    start: Timestamp | None = None
    end: Timestamp | None = None


class LinePricing(StripeObject):
    type: str | None = None
    unit_amount_decimal: DecimalValue | None = None


class LinePrice(StripeObject):
    """The price of a line in API versions before 2025-03-31."""

    unit_amount: Integer | None = None
    unit_amount_decimal: DecimalValue | None = None


class InvoiceLine(StripeObject):
    id: str | None = None
    description: str | None = None
    amount: Integer = 0
    currency: Currency | None = None
    quantity: Integer | None = None
    quantity_decimal: DecimalValue | None = None
    period: Period | None = None
    pricing: LinePricing | None = None
    taxes: list[TaxAmountObject] | None = None
    discount_amounts: list[DiscountAmountObject] | None = None
    # API versions before 2025-03-31.
    price: LinePrice | None = None
    tax_amounts: list[TaxAmountObject] | None = None
    tax_rates: list[TaxRateObject] | None = None
    amount_excluding_tax: Integer | None = None
    unit_amount_excluding_tax: DecimalValue | None = None

    @property
    def tax_list(self) -> list[TaxAmountObject]:
        return list(self.taxes if self.taxes is not None else self.tax_amounts or [])

    @property
    def unit_price(self) -> Decimal | None:
        """The price's unit amount in minor units (including tax when the tax is inclusive)."""
        if self.pricing is not None and self.pricing.unit_amount_decimal is not None:
            return self.pricing.unit_amount_decimal
        if self.price is None:
            return None
        if self.price.unit_amount_decimal is not None:
            return self.price.unit_amount_decimal
        return Decimal(self.price.unit_amount) if self.price.unit_amount is not None else None

    @property
    def quantity_value(self) -> Decimal | None:
        if self.quantity_decimal is not None:
            return self.quantity_decimal
        return Decimal(self.quantity) if self.quantity is not None else None


class LineList(StripeObject):
    data: list[InvoiceLine] = Field(default_factory=list)
    has_more: bool = False


class StatusTransitions(StripeObject):
    finalized_at: Timestamp | None = None
    paid_at: Timestamp | None = None
    voided_at: Timestamp | None = None
    marked_uncollectible_at: Timestamp | None = None


class Address(StripeObject):
    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None

    def lines(self) -> list[str]:
        city = " ".join(p for p in (self.postal_code, self.city) if p)
        return [p for p in (self.line1, self.line2, city, self.state, self.country) if p]


class ShippingObject(StripeObject):
    name: str | None = None
    phone: str | None = None
    address: Address | None = None


class InvoiceSubscriptionDetails(StripeObject):
    subscription: ObjectId | None = None


class InvoiceParent(StripeObject):
    """Where the invoice came from (API versions from 2025-03-31): a subscription or a quote."""

    type: str | None = None
    subscription_details: InvoiceSubscriptionDetails | None = None


class InvoicePaymentTarget(StripeObject):
    type: str | None = None  # payment_intent, charge, or out_of_band_payment
    payment_intent: ObjectId | None = None
    charge: ObjectId | None = None


class InvoicePaymentTransitions(StripeObject):
    paid_at: Timestamp | None = None


class InvoicePaymentEntry(StripeObject):
    """An invoice_payment as the invoice's `payments` list holds it (API versions from
    2025-03-31): which payment intent or charge collects the invoice, and how that went."""

    id: str | None = Field(default=None, max_length=255)
    payment: InvoicePaymentTarget = Field(default_factory=InvoicePaymentTarget)
    status: str | None = None  # open, paid, canceled
    amount_paid: Integer | None = None
    is_default: bool | None = None
    status_transitions: InvoicePaymentTransitions | None = None

    @property
    def paid_at(self) -> datetime | None:
        return self.status_transitions.paid_at if self.status_transitions else None


def _listed_objects(value: Any) -> Any:
    # A list Stripe sends only when the request expanded it: absent, an unexpanded
    # reference (a URL or ids) or its objects; only the objects are read.
    if isinstance(value, dict):
        value = value.get("data")
    if not isinstance(value, list):
        return {"data": []}
    return {"data": [item for item in value if isinstance(item, dict)]}


class InvoicePaymentList(StripeObject):
    data: list[InvoicePaymentEntry] = Field(default_factory=list)


InvoiceStatus = Literal["draft", "open", "paid", "uncollectible", "void"]
CollectionMethod = Literal["send_invoice", "charge_automatically"]


class Invoice(StripeObject):
    id: str = Field(min_length=1, max_length=255)
    object: Literal["invoice"] = "invoice"
    customer: ObjectId = Field(min_length=1, max_length=255)
    number: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    customer_address: Address | None = None
    currency: Currency
    amount_due: Integer = 0
    amount_paid: Integer = 0
    amount_remaining: Integer = 0
    subtotal: Integer | None = None
    total: Integer | None = None
    tax: Integer | None = None
    created: Timestamp | None = None
    due_date: Timestamp | None = None
    collection_method: CollectionMethod = "charge_automatically"
    status: InvoiceStatus | None = None
    lines: LineList = Field(default_factory=LineList)
    hosted_invoice_url: str | None = None
    attempt_count: Integer = 0
    next_payment_attempt: Timestamp | None = None
    payment_intent: ObjectId | None = None  # API versions before 2025-03-31
    payments: Annotated[InvoicePaymentList, BeforeValidator(_listed_objects)] | None = None
    description: str | None = None
    footer: str | None = None
    receipt_number: str | None = None
    status_transitions: StatusTransitions | None = None
    # The subscription that billed it: `subscription` in API versions before 2025-03-31,
    # `parent.subscription_details.subscription` from then on. Neither: a one-off invoice.
    subscription: ObjectId | None = None
    parent: InvoiceParent | None = None
    # What a complete invoice shows (seller, buyer, tax per rate, every total). All
    # optional: events recorded before these were read still decode.
    account_name: str | None = None
    account_country: str | None = None
    account_tax_ids: list[TaxIdRef] | None = None
    customer_phone: str | None = None
    customer_shipping: ShippingObject | None = None
    customer_tax_ids: list[TaxIdObject] | None = None
    customer_tax_exempt: str | None = None
    effective_at: Timestamp | None = None
    period_start: Timestamp | None = None
    period_end: Timestamp | None = None
    days_until_due: Integer | None = None
    subtotal_excluding_tax: Integer | None = None
    total_excluding_tax: Integer | None = None
    total_taxes: list[TaxAmountObject] | None = None
    total_tax_amounts: list[TaxAmountObject] | None = None  # before 2025-03-31
    total_discount_amounts: list[DiscountAmountObject] | None = None
    pre_payment_credit_notes_amount: Integer | None = None
    post_payment_credit_notes_amount: Integer | None = None

    @property
    def tax_list(self) -> list[TaxAmountObject]:
        return list(self.total_taxes if self.total_taxes is not None else self.total_tax_amounts or [])

    @property
    def paid_at(self) -> datetime | None:
        return self.status_transitions.paid_at if self.status_transitions else None

    @property
    def payment_intent_ids(self) -> list[str]:
        """Every payment intent collecting it: `payment_intent` in API versions before
        2025-03-31, from then on those its `payments` list names (when expanded)."""
        listed = [p.payment.payment_intent for p in self.payments.data] if self.payments else []
        return list(dict.fromkeys(pi for pi in (self.payment_intent, *listed) if pi))

    @property
    def subscription_id(self) -> str | None:
        details = self.parent.subscription_details if self.parent else None
        return self.subscription or (details.subscription if details else None)

    @field_validator("customer_email")
    @classmethod
    def _customer_email(cls, v: str | None, info: ValidationInfo) -> str | None:
        # The address of last resort for a customer Relance never heard of: checked at
        # the door like Customer.email, so an injected header is refused, naming it.
        return normalize_address(v, allow_special_use=True) if v and at_edge(info) else v


class Customer(StripeObject):
    id: str = Field(min_length=1, max_length=255)
    object: Literal["customer"] = "customer"
    email: str | None = None
    name: str | None = None
    preferred_locales: list[str] = Field(default_factory=list)
    address: Address | None = None
    # Relance's own fields (Stripe's API has no per-customer To/CC lists for billing email).
    invoice_emails: list[str] | None = None
    cc_emails: list[str] | None = None
    timezone: str | None = None
    # The e-invoice profile for this customer's invoices; "default" goes back to the
    # account's (settings einvoice.profile). Absent: unchanged.
    einvoice_profile: CustomerEInvoiceProfile | None = None
    # The reference the customer wants on its e-invoices (BT-10; a German public buyer's
    # Leitweg-ID). Absent: unchanged; "": cleared. A Stripe customer can carry it as
    # metadata["buyer_reference"], Stripe's place for fields of one's own.
    buyer_reference: str | None = Field(default=None, max_length=100)
    # Stripe's own, read for buyer_reference only; anything else in it is left alone.
    metadata: dict[str, Any] | None = None

    @property
    def buyer_reference_set(self) -> str | None:
        """The buyer reference this event sets (its own field, else its metadata)."""
        if self.buyer_reference is not None:
            return self.buyer_reference
        found = (self.metadata or {}).get("buyer_reference")
        return " ".join(found.split())[:100] if isinstance(found, str) else None

    @field_validator("buyer_reference")
    @classmethod
    def _reference(cls, v: str | None) -> str | None:
        if v is not None and any(c in v for c in "\r\n"):
            raise ValueError("must be one line")
        return v.strip() if v is not None else None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None, info: ValidationInfo) -> str | None:
        return normalize_address(v, allow_special_use=True, strict=at_edge(info)) if v else v

    @field_validator("invoice_emails", "cc_emails")
    @classmethod
    def _lists(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        # Each address checked (the error names it), duplicates dropped, order kept.
        if v is None:
            return None
        addresses = normalize_addresses(v, allow_special_use=True, strict=at_edge(info))
        # SendGrid's per-message limit on To + CC: a list that could never be delivered
        # is refused here rather than failing every email later. Not split into several
        # messages: one invoice email is one thread that every recipient can reply to.
        count = len(addresses) + (len(info.data.get("invoice_emails") or []) if info.field_name == "cc_emails" else 0)
        if at_edge(info) and count > MAX_RECIPIENTS:
            raise ValueError(f"{count} recipients in To and CC together; at most {MAX_RECIPIENTS} per message")
        return addresses

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {v!r}") from None
        return v


class CardDetails(StripeObject):
    brand: str | None = None
    last4: str | None = None
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2200)


class PaymentMethod(StripeObject):
    """A card payment method, or a legacy card source (`customer.source.expiring`)."""

    id: str = Field(min_length=1, max_length=255)
    object: Literal["payment_method", "card"] = "payment_method"
    customer: ObjectId | None = None
    type: str | None = None
    card: CardDetails | None = None
    # Legacy card sources carry the details at the top level.
    brand: str | None = None
    last4: str | None = None
    exp_month: Integer | None = None
    exp_year: Integer | None = None

    def card_details(self) -> CardDetails | None:
        if self.card is not None:
            return self.card
        if self.exp_month is not None and self.exp_year is not None:
            return CardDetails(brand=self.brand, last4=self.last4, exp_month=self.exp_month, exp_year=self.exp_year)
        return None


class Price(StripeObject):
    nickname: str | None = None
    product: ObjectId | None = None


class SubscriptionItem(StripeObject):
    price: Price | None = None
    plan: Price | None = None


class SubscriptionItems(StripeObject):
    data: list[SubscriptionItem] = Field(default_factory=list)


class Subscription(StripeObject):
    id: str = Field(min_length=1, max_length=255)
    object: Literal["subscription"] = "subscription"
    customer: ObjectId = Field(min_length=1, max_length=255)
    status: str | None = None
    trial_end: Timestamp | None = None
    canceled_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    cancel_at_period_end: bool = False
    items: SubscriptionItems = Field(default_factory=SubscriptionItems)

    def plan_name(self) -> str | None:
        for item in self.items.data:
            for p in (item.price, item.plan):
                if p is not None and p.nickname:
                    return p.nickname
        return None


class CreditNoteLine(StripeObject):
    description: str | None = None
    amount: Integer = 0
    quantity: Integer | None = None
    unit_amount: Integer | None = None
    unit_amount_decimal: DecimalValue | None = None
    unit_amount_excluding_tax: DecimalValue | None = None  # before 2025-03-31
    amount_excluding_tax: Integer | None = None  # before 2025-03-31
    taxes: list[TaxAmountObject] | None = None
    tax_amounts: list[TaxAmountObject] | None = None  # before 2025-03-31
    tax_rates: list[TaxRateObject] | None = None
    discount_amounts: list[DiscountAmountObject] | None = None

    @property
    def tax_list(self) -> list[TaxAmountObject]:
        return list(self.taxes if self.taxes is not None else self.tax_amounts or [])

    @property
    def unit_price(self) -> Decimal | None:
        if self.unit_amount_decimal is not None:
            return self.unit_amount_decimal
        return Decimal(self.unit_amount) if self.unit_amount is not None else None

    @property
    def quantity_value(self) -> Decimal | None:
        return Decimal(self.quantity) if self.quantity is not None else None


class CreditNoteLines(StripeObject):
    data: list[CreditNoteLine] = Field(default_factory=list)


class CreditNote(StripeObject):
    id: str = Field(min_length=1, max_length=255)
    object: Literal["credit_note"] = "credit_note"
    customer: ObjectId = Field(min_length=1, max_length=255)
    invoice: ObjectId | None = None
    number: str | None = None
    currency: Currency
    amount: Integer = 0
    total: Integer | None = None
    reason: str | None = None
    memo: str | None = None
    created: Timestamp | None = None
    status: str | None = None
    lines: CreditNoteLines = Field(default_factory=CreditNoteLines)
    effective_at: Timestamp | None = None
    subtotal: Integer | None = None
    subtotal_excluding_tax: Integer | None = None
    total_excluding_tax: Integer | None = None
    total_taxes: list[TaxAmountObject] | None = None
    tax_amounts: list[TaxAmountObject] | None = None  # before 2025-03-31
    discount_amounts: list[DiscountAmountObject] | None = None

    @property
    def tax_list(self) -> list[TaxAmountObject]:
        return list(self.total_taxes if self.total_taxes is not None else self.tax_amounts or [])


class Refund(StripeObject):
    id: str = Field(min_length=1, max_length=255)
    object: Literal["refund"] = "refund"
    amount: Integer = 0
    currency: Currency
    charge: ObjectId | None = None
    customer: ObjectId | None = None
    created: Timestamp | None = None
    reason: str | None = None
    status: str | None = None


class RefundList(StripeObject):
    data: list[Refund] = Field(default_factory=list)


class Charge(StripeObject):
    id: str = Field(min_length=1, max_length=255)
    object: Literal["charge"] = "charge"
    customer: ObjectId | None = None
    invoice: ObjectId | None = None
    currency: Currency
    amount: Integer = 0
    amount_refunded: Integer = 0
    refunds: RefundList | None = None


INVOICE_EVENT_TYPES = frozenset(
    {
        "invoice.created",
        "invoice.finalized",
        "invoice.updated",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.payment_action_required",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "invoice.sent",
    }
)
CUSTOMER_EVENT_TYPES = frozenset({"customer.created", "customer.updated"})
CARD_EVENT_TYPES = frozenset(
    {
        "payment_method.attached",
        "payment_method.updated",
        "payment_method.detached",
        "payment_method.automatically_updated",
        "customer.source.expiring",
    }
)
SUBSCRIPTION_EVENT_TYPES = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.trial_will_end",
    }
)
CREDIT_NOTE_EVENT_TYPES = frozenset({"credit_note.created"})
TAX_RATE_EVENT_TYPES = frozenset({"tax_rate.created", "tax_rate.updated"})
REFUND_EVENT_TYPES = frozenset({"refund.created", "charge.refunded"})
# How each payment attempt went and with which method (relance/contracts/payment_objects.py).
PAYMENT_EVENT_TYPES = frozenset(
    {"charge.succeeded", "charge.failed", "payment_intent.payment_failed", "invoice_payment.paid"}
)
SUPPORTED_EVENT_TYPES = (
    INVOICE_EVENT_TYPES
    | CUSTOMER_EVENT_TYPES
    | CARD_EVENT_TYPES
    | SUBSCRIPTION_EVENT_TYPES
    | CREDIT_NOTE_EVENT_TYPES
    | REFUND_EVENT_TYPES
    | TAX_RATE_EVENT_TYPES
    | PAYMENT_EVENT_TYPES
)


class InvalidEvent(ValueError):
    """The event cannot be used. `field` is a dotted path into the event."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnsupportedEventType(InvalidEvent):
    """A well-formed event of a type Relance does not handle (a webhook receiver ignores it)."""


class EventEnvelope(StripeObject):
    id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1)
    created: Timestamp
    data: dict[str, Any]


class InvoiceEvent(StripeObject):
    id: str
    type: str
    created: datetime
    invoice: Invoice


class CustomerEvent(StripeObject):
    id: str
    type: str
    created: datetime
    customer: Customer


class CardEvent(StripeObject):
    id: str
    type: str
    created: datetime
    payment_method: PaymentMethod


class SubscriptionEvent(StripeObject):
    id: str
    type: str
    created: datetime
    subscription: Subscription


class CreditNoteEvent(StripeObject):
    id: str
    type: str
    created: datetime
    credit_note: CreditNote


class TaxRateEvent(StripeObject):
    id: str
    type: str
    created: datetime
    tax_rate: TaxRateObject


class RefundEvent(StripeObject):
    """`refund.created` (refund set) or `charge.refunded` (charge set)."""

    id: str
    type: str
    created: datetime
    refund: Refund | None = None
    charge: Charge | None = None

    @property
    def charge_id(self) -> str | None:
        return self.charge.id if self.charge else (self.refund.charge if self.refund else None)


class PaymentEvent(StripeObject):
    """A charge, payment intent or invoice payment event, as the attempt it reports."""

    id: str
    type: str
    created: datetime
    attempt: PaymentAttempt


Event = (
    InvoiceEvent
    | CustomerEvent
    | CardEvent
    | SubscriptionEvent
    | CreditNoteEvent
    | RefundEvent
    | TaxRateEvent
    | PaymentEvent
)

# Which typed event, and which field of it, carries each type's object.
_SHAPES: list[tuple[frozenset[str], Callable[..., Event], str, type[BaseModel]]] = [
    (INVOICE_EVENT_TYPES, InvoiceEvent, "invoice", Invoice),
    (CUSTOMER_EVENT_TYPES, CustomerEvent, "customer", Customer),
    (CARD_EVENT_TYPES, CardEvent, "payment_method", PaymentMethod),
    (SUBSCRIPTION_EVENT_TYPES, SubscriptionEvent, "subscription", Subscription),
    (CREDIT_NOTE_EVENT_TYPES, CreditNoteEvent, "credit_note", CreditNote),
    (frozenset({"refund.created"}), RefundEvent, "refund", Refund),
    (frozenset({"charge.refunded"}), RefundEvent, "charge", Charge),
    (TAX_RATE_EVENT_TYPES, TaxRateEvent, "tax_rate", TaxRateObject),
]


def _field_path(prefix: str, loc: tuple[Any, ...]) -> str:
    parts = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def _raise_from(error: ValidationError, prefix: str) -> NoReturn:
    first = error.errors()[0]
    raise InvalidEvent(_field_path(prefix, tuple(first["loc"])), first["msg"]) from None


def parse_event(payload: Any) -> Event:
    """Validate one event (a decoded JSON object) and return its typed form."""
    if not isinstance(payload, dict):
        raise InvalidEvent("event", "expected a JSON object")
    try:
        envelope = EventEnvelope.model_validate(payload)
    except ValidationError as exc:
        _raise_from(exc, "")
    obj = envelope.data.get("object")
    if not isinstance(obj, dict):
        raise InvalidEvent("data.object", "expected a JSON object")
    if envelope.type not in SUPPORTED_EVENT_TYPES:
        raise UnsupportedEventType("type", f"unsupported event type {envelope.type!r}")
    created = _aware(envelope.created)
    assert created is not None
    if envelope.type in PAYMENT_EVENT_TYPES:
        return _payment_event(envelope, obj, created)
    event_cls, field_name, object_cls = next((e, f, o) for types, e, f, o in _SHAPES if envelope.type in types)
    try:
        obj_model = object_cls.model_validate(obj, context=EDGE)
    except ValidationError as exc:
        _raise_from(exc, "data.object")
    if isinstance(obj_model, PaymentMethod) and obj_model.card_details() is None:
        raise InvalidEvent("data.object.card", "a card payment method is required")
    if isinstance(obj_model, Refund) and obj_model.charge is None and obj_model.customer is None:
        raise InvalidEvent("data.object.charge", "a refund needs its charge or customer")
    if isinstance(obj_model, TaxRateObject) and obj_model.percentage is None:
        raise InvalidEvent("data.object.percentage", "a tax rate needs its percentage")
    return event_cls(id=envelope.id, type=envelope.type, created=created, **{field_name: obj_model})


def _payment_event(envelope: EventEnvelope, obj: dict[str, Any], created: datetime) -> PaymentEvent:
    # Imported here: the payment objects build on this module's field types.
    from relance.contracts.payment_objects import PAYMENT_OBJECTS, payment_attempt

    try:
        obj_model = PAYMENT_OBJECTS[envelope.type].model_validate(obj, context=EDGE)
    except ValidationError as exc:
        _raise_from(exc, "data.object")
    return PaymentEvent(
        id=envelope.id, type=envelope.type, created=created, attempt=payment_attempt(envelope.type, obj_model, created)
    )


def parse_events(payload: Any) -> list[Event]:
    """One event or a JSON list of events; a bad one names its index."""
    if isinstance(payload, list):
        events = []
        for i, item in enumerate(payload):
            try:
                events.append(parse_event(item))
            except InvalidEvent as exc:
                raise type(exc)(f"[{i}].{exc.field}", exc.message) from None
        return events
    return [parse_event(payload)]
