"""Stripe's invoice or credit note, the seller settings and the tax rates Relance knows ->
the facts of the document (relance.contracts.documents). Pure: the page and the
e-invoice are both built from what this returns.

Amounts stay integers in minor units; unit prices are exact Decimals of minor units
(never floats): Stripe's `unit_amount_decimal` when it gives one, else the line's amount
over its quantity, with inclusive taxes taken out first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import get_args

from relance.contracts.account import AccountSettings
from relance.contracts.documents import (
    CorrectedInvoice,
    DiscountAmount,
    DocumentFacts,
    DocumentLine,
    DocumentTotals,
    DocumentType,
    Party,
    PaymentFacts,
    PaymentMeans,
    PostalAddress,
    Shipping,
    TaxAmount,
    TaxExempt,
    TaxId,
    TaxRate,
)
from relance.contracts.email_context import CustomerView
from relance.contracts.events import (
    Address,
    CreditNote,
    CreditNoteLine,
    DiscountAmountObject,
    Invoice,
    InvoiceLine,
    TaxAmountObject,
    TaxIdObject,
    TaxRateObject,
)

# A derived percentage (tax over taxable amount) to two decimals: "≈ 19.6 %".
PERCENT_STEP = Decimal("0.01")
# Sub-minor precision kept for a unit price computed by division (1000 / 3 = 333.3333).
UNIT_STEP = Decimal("0.0001")
_EXEMPTIONS = frozenset(get_args(TaxExempt))


def plain(value: Decimal) -> Decimal:
    """Trailing zeros dropped, never an exponent: 1190.00 -> 1190, 19.60 -> 19.6."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def tax_rate_ids(doc: Invoice | CreditNote) -> set[str]:
    """Every tax rate id the invoice or credit note names (to look up the ones Relance knows)."""
    taxes = list(doc.tax_list)
    for line in doc.lines.data:
        taxes.extend(line.tax_list)
    return {rate.id for tax in taxes if (rate := tax.rate) is not None}


def _postal(address: Address | None) -> PostalAddress | None:
    if address is None or not any(address.model_dump().values()):
        return None
    return PostalAddress(**address.model_dump())


def _tax_ids(objects: Iterable[TaxIdObject]) -> list[TaxId]:
    # Only objects that arrived expanded carry a type and value; bare ids are skipped.
    return [TaxId(type=t.type, value=t.value, country=t.country) for t in objects if t.type and t.value]


def _merged_tax_ids(*groups: Iterable[TaxId]) -> list[TaxId]:
    seen: set[tuple[str, str]] = set()
    out: list[TaxId] = []
    for group in groups:
        for tax_id in group:
            key = (tax_id.type, tax_id.value.replace(" ", "").upper())
            if key not in seen:
                seen.add(key)
                out.append(tax_id)
    return out


def seller_party(settings: AccountSettings, inv: Invoice | None) -> Party:
    s = settings.seller
    b = settings.branding
    country = (inv.account_country if inv else None) or s.country or (s.address.country if s.address else None)
    return Party(
        name=(inv.account_name if inv else None) or s.legal_name or b.business_name,
        address=s.address,
        address_lines=[] if s.address else list(b.address_lines),
        country=country.upper() if country else None,
        tax_ids=_merged_tax_ids(_tax_ids(inv.account_tax_ids or []) if inv else [], s.tax_ids),
        email=s.contact_email or b.support_email,
        phone=s.contact_phone or b.support_phone,
        contact_name=s.contact_name,
        registration=list(s.registration),
    )


def buyer_party(inv: Invoice | None, customer: CustomerView | None) -> Party:
    address = _postal(inv.customer_address) if inv else None
    name = (inv.customer_name if inv else None) or (customer.name if customer else None)
    return Party(
        name=name,
        address=address,
        address_lines=[] if address or customer is None else list(customer.address_lines),
        country=address.country.upper() if address and address.country else None,
        tax_ids=_tax_ids(inv.customer_tax_ids or []) if inv else [],
        email=(inv.customer_email if inv else None) or (customer.email if customer else None),
        phone=inv.customer_phone if inv else None,
    )


def _shipping(inv: Invoice) -> Shipping | None:
    ship = inv.customer_shipping
    if ship is None or not (ship.name or _postal(ship.address)):
        return None
    return Shipping(name=ship.name, address=_postal(ship.address), phone=ship.phone)


def _rate(tax: TaxAmountObject, known: Mapping[str, TaxRateObject]) -> TaxRate:
    ref = tax.rate
    found = ref if ref is not None and ref.expanded else known.get(ref.id) if ref is not None else None
    if found is not None:
        return TaxRate(
            id=found.id,
            percentage=found.percentage,
            display_name=found.display_name,
            jurisdiction=found.jurisdiction,
            country=found.country,
            inclusive=bool(found.inclusive),
            tax_type=found.tax_type,
        )
    # Never described to Relance: the percentage the amounts imply, marked as derived.
    percentage = None
    if tax.taxable_amount:
        percentage = plain(
            (Decimal(tax.amount) * 100 / Decimal(tax.taxable_amount)).quantize(PERCENT_STEP, ROUND_HALF_EVEN)
        )
    return TaxRate(id=ref.id if ref else None, percentage=percentage, inclusive=tax.is_inclusive, derived=True)


def tax_amounts(taxes: Iterable[TaxAmountObject], known: Mapping[str, TaxRateObject]) -> list[TaxAmount]:
    return [
        TaxAmount(
            rate=_rate(t, known),
            amount=t.amount,
            taxable_amount=t.taxable_amount if t.taxable_amount is not None else 0,
            inclusive=t.is_inclusive,
            taxability_reason=t.taxability_reason,
        )
        for t in taxes
    ]


def _rate_key(tax: TaxAmount) -> tuple[str | None, Decimal | None, bool, str | None]:
    return (tax.rate.id, tax.rate.percentage, tax.inclusive, tax.taxability_reason)


def sum_per_rate(taxes: Iterable[TaxAmount]) -> list[TaxAmount]:
    """Line taxes added up per rate, in the order rates first appear (for documents that
    give no document-level breakdown)."""
    out: dict[tuple[str | None, Decimal | None, bool, str | None], TaxAmount] = {}
    for tax in taxes:
        key = _rate_key(tax)
        if key in out:
            prev = out[key]
            out[key] = prev.model_copy(
                update={"amount": prev.amount + tax.amount, "taxable_amount": prev.taxable_amount + tax.taxable_amount}
            )
        else:
            out[key] = tax
    return list(out.values())


def _discounts(amounts: Iterable[DiscountAmountObject] | None) -> list[DiscountAmount]:
    return [
        DiscountAmount(amount=d.amount, name=d.discount.name if d.discount else None) for d in amounts or [] if d.amount
    ]


def unit_excluding_tax(
    amount: int, quantity: Decimal | None, unit: Decimal | None, inclusive_tax: int, unit_excluding: Decimal | None
) -> Decimal | None:
    """The unit price without tax. `unit` is the price's unit amount, which includes tax
    when the line's tax is inclusive: then it comes from the amount without that tax."""
    if unit_excluding is not None:
        return plain(unit_excluding)
    if unit is not None and not inclusive_tax:
        return plain(unit)
    if quantity:
        return plain((Decimal(amount - inclusive_tax) / quantity).quantize(UNIT_STEP, ROUND_HALF_EVEN))
    return None


def document_line(line: InvoiceLine | CreditNoteLine, known: Mapping[str, TaxRateObject]) -> DocumentLine:
    """An invoice's or a credit note's line (a credit note's lines have no period)."""
    taxes = tax_amounts(line.tax_list, known)
    inclusive = sum(t.amount for t in taxes if t.inclusive)
    quantity = plain(line.quantity_value) if line.quantity_value is not None else None
    period = line.period if isinstance(line, InvoiceLine) else None
    return DocumentLine(
        description=line.description or "",
        quantity=quantity,
        unit_amount_excluding_tax=unit_excluding_tax(
            line.amount, quantity, line.unit_price, inclusive, line.unit_amount_excluding_tax
        ),
        amount=line.amount,
        amount_excluding_tax=line.amount_excluding_tax
        if line.amount_excluding_tax is not None
        else line.amount - inclusive,
        period_start=period.start if period else None,
        period_end=period.end if period else None,
        taxes=taxes,
        discounts=_discounts(line.discount_amounts),
    )


def issue_date(inv: Invoice) -> datetime | None:
    finalized = inv.status_transitions.finalized_at if inv.status_transitions else None
    return finalized or inv.effective_at or inv.created


def _supply(lines: list[DocumentLine]) -> tuple[datetime | None, datetime | None]:
    """From the lines' periods only. The invoice's own period_start / period_end are
    when its items were gathered (for a subscription, the period before the one it
    bills), not when anything was supplied."""
    starts = [line.period_start for line in lines if line.period_start]
    ends = [line.period_end for line in lines if line.period_end]
    return (min(starts) if starts else None), (max(ends) if ends else None)


def _tax_exempt(value: str | None) -> TaxExempt:
    return value if value in _EXEMPTIONS else "none"  # type: ignore[return-value]


def _mentions(settings: AccountSettings, seller: Party, taxes: list[TaxAmount]) -> list[str]:
    chosen: list[str] = list(settings.seller.mentions(seller.country))
    # The VAT franchise statement is false on an invoice that charges VAT.
    if any(t.amount for t in taxes):
        chosen = [m for m in chosen if m != "fr_vat_franchise"]
    return chosen


# Stripe's payment method types -> UNTDID 4461 (BT-81).
_CARD_TYPES = frozenset({"card", "card_present", "interac_present"})


def payment_means(settings: AccountSettings, payment: PaymentFacts | None) -> PaymentMeans:
    """How the buyer pays: the method Relance learned from the invoice's payment attempts
    when it knows one (a card, a SEPA direct debit, or another method the parties agreed,
    ZZZ), else a credit transfer to the seller's IBAN when one is set, else 1 (not said)."""
    method = payment.method_type if payment else None
    if payment is not None and (method in _CARD_TYPES or (method is None and payment.brand)):
        return PaymentMeans(code="48", card_last4=payment.last4, method_type=method or "card")
    if method == "sepa_debit":
        return PaymentMeans(code="59", method_type=method)
    if method is not None:
        return PaymentMeans(code="ZZZ", method_type=method)
    s = settings.seller
    if s.iban:
        return PaymentMeans(code="58", iban=s.iban, bic=s.bic, account_name=s.legal_name)
    return PaymentMeans(code="1")


def _payment_days(inv: Invoice, issued: datetime | None) -> int | None:
    if inv.days_until_due is not None:
        return inv.days_until_due
    if issued and inv.due_date and inv.due_date >= issued:
        return (inv.due_date.date() - issued.date()).days
    return None


def invoice_facts(
    inv: Invoice,
    settings: AccountSettings,
    known_rates: Mapping[str, TaxRateObject],
    customer: CustomerView | None = None,
    payment: PaymentFacts | None = None,
    doc_type: DocumentType = "invoice",
) -> DocumentFacts:
    """An invoice, or its receipt (`doc_type="receipt"`), as the page and the e-invoice show it."""
    lines = [document_line(line, known_rates) for line in inv.lines.data]
    taxes = tax_amounts(inv.tax_list, known_rates) or sum_per_rate(t for line in lines for t in line.taxes)
    seller = seller_party(settings, inv)
    mentions = _mentions(settings, seller, taxes)
    issued = issue_date(inv)
    start, end = _supply(lines)
    if start is None and end is None and "de_service_date" in mentions:
        # German invoices state the date of supply; without a period it is the issue date.
        start = end = issued
    totals = DocumentTotals(
        subtotal=inv.subtotal if inv.subtotal is not None else sum(line.amount for line in lines),
        subtotal_excluding_tax=inv.subtotal_excluding_tax,
        discounts=_discounts(inv.total_discount_amounts),
        taxes=taxes,
        total_excluding_tax=inv.total_excluding_tax,
        total=inv.total if inv.total is not None else inv.amount_due,
        pre_payment_credit_notes=inv.pre_payment_credit_notes_amount or 0,
        post_payment_credit_notes=inv.post_payment_credit_notes_amount or 0,
        amount_paid=inv.amount_paid,
        amount_remaining=inv.amount_remaining,
    )
    return DocumentFacts(
        type=doc_type,
        id=inv.id,
        number=(inv.receipt_number or inv.number) if doc_type == "receipt" else inv.number,
        currency=inv.currency,
        issue_date=issued,
        supply_start=start,
        supply_end=end,
        due_date=inv.due_date,
        payment_terms_days=_payment_days(inv, issued),
        seller=seller,
        buyer=buyer_party(inv, customer),
        shipping=_shipping(inv),
        tax_exempt=_tax_exempt(inv.customer_tax_exempt),
        buyer_reference=customer.buyer_reference if customer else None,
        payment_means=payment_means(settings, payment) if doc_type == "invoice" else None,
        lines=lines,
        totals=totals,
        legal_mentions=mentions,
        late_payment_rate=settings.seller.late_payment_rate,
        payment=payment,
        memo=inv.description,
    )


def credit_note_facts(
    cn: CreditNote,
    settings: AccountSettings,
    known_rates: Mapping[str, TaxRateObject],
    customer: CustomerView | None = None,
    corrected: Invoice | None = None,
) -> DocumentFacts:
    """A credit note; `corrected` is the invoice it corrects when Relance has it stored
    (its number, date, buyer and seller then come from there)."""
    lines = [document_line(line, known_rates) for line in cn.lines.data]
    taxes = tax_amounts(cn.tax_list, known_rates) or sum_per_rate(t for line in lines for t in line.taxes)
    seller = seller_party(settings, corrected)
    corrects = None
    if cn.invoice:
        corrects = CorrectedInvoice(
            id=cn.invoice,
            number=corrected.number if corrected else None,
            issue_date=issue_date(corrected) if corrected else None,
        )
    totals = DocumentTotals(
        subtotal=cn.subtotal if cn.subtotal is not None else sum(line.amount for line in lines),
        subtotal_excluding_tax=cn.subtotal_excluding_tax,
        discounts=_discounts(cn.discount_amounts),
        taxes=taxes,
        total_excluding_tax=cn.total_excluding_tax,
        total=cn.total if cn.total is not None else cn.amount,
    )
    return DocumentFacts(
        type="credit_note",
        id=cn.id,
        number=cn.number,
        currency=cn.currency,
        issue_date=cn.effective_at or cn.created,
        seller=seller,
        buyer=buyer_party(corrected, customer),
        shipping=_shipping(corrected) if corrected else None,
        tax_exempt=_tax_exempt(corrected.customer_tax_exempt if corrected else None),
        buyer_reference=customer.buyer_reference if customer else None,
        # Credited to the invoice, the balance or the card: nothing the buyer pays.
        payment_means=PaymentMeans(code="1"),
        lines=lines,
        totals=totals,
        legal_mentions=[m for m in _mentions(settings, seller, taxes) if m == "fr_vat_franchise"],
        corrects=corrects,
        reason=cn.reason,
        memo=cn.memo,
    )
