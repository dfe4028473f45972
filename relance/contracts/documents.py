"""The facts of one commercial document (invoice, receipt, credit note), complete enough
for an accountant: parties with their tax ids, lines with unit price and tax, tax per
rate, every total, the dates the law asks for, the payment.

One model feeds both the PDF page and the e-invoice XML (Factur-X / ZUGFeRD), so the two
cannot disagree. Amounts are integers in minor units of `currency`, except unit prices,
which Stripe gives as decimal strings of minor units (`unit_amount_decimal`) and may
carry sub-minor precision. Nothing is pre-formatted or translated: templates do that for
the document's locale; codes (countries, tax id types, reasons) stay codes here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

DocumentType = Literal["invoice", "receipt", "credit_note"]
# Stripe's customer_tax_exempt: "reverse" puts the reverse-charge mention on the document.
TaxExempt = Literal["none", "exempt", "reverse"]


class PostalAddress(BaseModel):
    """Stripe's address shape; `country` is the ISO 3166-1 alpha-2 code."""

    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None


class TaxId(BaseModel):
    """Stripe's tax_id object: `type` such as eu_vat, fr_siren, de_stn, au_abn, in_gst."""

    type: str
    value: str
    country: str | None = None


class Party(BaseModel):
    """Seller or buyer."""

    name: str | None = None
    address: PostalAddress | None = None
    country: str | None = None  # ISO code; the address's when it has one
    tax_ids: list[TaxId] = Field(default_factory=list)
    email: str | None = None
    phone: str | None = None
    # Seller only: the person or department a buyer asks about the invoice (BT-41).
    contact_name: str | None = None
    # Seller only: registration lines as written (RCS, share capital, court of registry).
    registration: list[str] = Field(default_factory=list)
    # The address as written, when only lines are known (a customer record); `address`
    # is preferred when set.
    address_lines: list[str] = Field(default_factory=list)


class Shipping(BaseModel):
    name: str | None = None
    address: PostalAddress | None = None
    phone: str | None = None


class TaxRate(BaseModel):
    """A tax rate as learned from `tax_rate.*` events or expanded objects. When Relance
    never saw the rate, `percentage` is derived from tax over taxable amount and
    `derived` is True (the page marks it)."""

    id: str | None = None
    percentage: Decimal | None = None
    display_name: str | None = None  # "VAT", "USt.", "TVA"
    jurisdiction: str | None = None
    country: str | None = None
    inclusive: bool = False
    tax_type: str | None = None  # Stripe's: vat, gst, sales_tax, ...
    derived: bool = False


class TaxAmount(BaseModel):
    """One tax on a line or on the whole document (Stripe's `taxes` / `total_taxes`)."""

    rate: TaxRate
    amount: int
    taxable_amount: int
    inclusive: bool = False  # Stripe's tax_behavior == "inclusive"
    taxability_reason: str | None = None  # Stripe's: reverse_charge, not_collecting, zero_rated, ...


class DiscountAmount(BaseModel):
    amount: int
    name: str | None = None  # the coupon's or promotion's name when known


class DocumentLine(BaseModel):
    description: str = ""
    quantity: Decimal | None = None
    # Excluding tax, in minor units (Decimal: Stripe's unit_amount_decimal may be finer).
    unit_amount_excluding_tax: Decimal | None = None
    amount: int = 0  # the line's amount as Stripe gives it (before discounts)
    amount_excluding_tax: int | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    taxes: list[TaxAmount] = Field(default_factory=list)
    discounts: list[DiscountAmount] = Field(default_factory=list)


class DocumentTotals(BaseModel):
    subtotal: int = 0
    subtotal_excluding_tax: int | None = None
    discounts: list[DiscountAmount] = Field(default_factory=list)
    taxes: list[TaxAmount] = Field(default_factory=list)  # one per rate, in document order
    total_excluding_tax: int | None = None
    total: int = 0
    pre_payment_credit_notes: int = 0
    post_payment_credit_notes: int = 0
    amount_paid: int = 0
    amount_remaining: int = 0


class PaymentFacts(BaseModel):
    """How the document was paid, or what the last attempt did."""

    method_type: str | None = None  # card, sepa_debit, us_bank_account, link, ...
    brand: str | None = None  # visa, mastercard, amex ...
    last4: str | None = None
    paid_at: datetime | None = None
    receipt_number: str | None = None
    outcome: Literal["succeeded", "failed"] | None = None
    failure_code: str | None = None  # Stripe's decline_code, else failure_code
    failure_message: str | None = None


# UNTDID 4461 codes of the payment means EN 16931 names (BT-81).
PaymentMeansCode = Literal["58", "59", "48", "54", "1", "ZZZ"]


class PaymentMeans(BaseModel):
    """How the buyer pays (BG-16): 58 SEPA credit transfer to the seller's account, 59
    SEPA direct debit, 48 bank card, 54 credit card, ZZZ another method the parties
    agreed (`method_type` names it), 1 not said."""

    code: PaymentMeansCode
    iban: str | None = None  # 58: the seller's account (BT-84)
    bic: str | None = None
    account_name: str | None = None
    card_last4: str | None = None  # 48 / 54: never more than the last digits (BT-87)
    method_type: str | None = None


class CorrectedInvoice(BaseModel):
    """The invoice a credit note corrects."""

    id: str
    number: str | None = None
    issue_date: datetime | None = None


class DocumentFacts(BaseModel):
    type: DocumentType
    id: str
    number: str | None = None
    currency: str
    issue_date: datetime | None = None
    # The supply date, or the period the invoice bills (a single day is shown once).
    supply_start: datetime | None = None
    supply_end: datetime | None = None
    due_date: datetime | None = None
    # Days from issue to due date (Stripe's days_until_due, else the dates' difference).
    payment_terms_days: int | None = None
    seller: Party = Field(default_factory=Party)
    buyer: Party = Field(default_factory=Party)
    shipping: Shipping | None = None
    tax_exempt: TaxExempt = "none"
    # The buyer's reference for routing the invoice (BT-10; a German public buyer's
    # Leitweg-ID), from the customer record.
    buyer_reference: str | None = None
    payment_means: PaymentMeans | None = None
    lines: list[DocumentLine] = Field(default_factory=list)
    totals: DocumentTotals = Field(default_factory=DocumentTotals)
    # Mentions the seller's country asks for (late-payment penalties, art. 293 B...),
    # already chosen by settings; translated by the template.
    legal_mentions: list[str] = Field(default_factory=list)
    # fr_late_payment's annual rate in percent; None: the legal minimum is stated.
    late_payment_rate: Decimal | None = None
    payment: PaymentFacts | None = None
    corrects: CorrectedInvoice | None = None  # credit notes
    reason: str | None = None  # credit notes: Stripe's reason code or text
    memo: str | None = None
