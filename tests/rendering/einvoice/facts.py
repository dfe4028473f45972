"""DocumentFacts written by hand, as the facts builder would give them for Stripe
invoices: the cases an e-invoice has to get right."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from relance.contracts.documents import (
    CorrectedInvoice,
    DiscountAmount,
    DocumentFacts,
    DocumentLine,
    DocumentTotals,
    Party,
    PaymentMeans,
    PostalAddress,
    TaxAmount,
    TaxId,
    TaxRate,
)

ISSUED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
DUE = datetime(2026, 3, 31, 9, 30, tzinfo=UTC)

SELLER = Party(
    name="Acme SAS",
    address=PostalAddress(line1="1 rue de la Paix", postal_code="75002", city="Paris", country="FR"),
    country="FR",
    tax_ids=[TaxId(type="eu_vat", value="FR40123456789"), TaxId(type="fr_siren", value="123456789")],
    email="billing@acme.test",
    phone="+33 1 23 45 67 89",
    contact_name="Service facturation",
    registration=["RCS Paris 123 456 789", "SAS au capital de 10 000 €"],
)
FR_BUYER = Party(
    name="Zoé Martin SARL",
    address=PostalAddress(line1="3 av. Foch", postal_code="69006", city="Lyon", country="FR"),
    country="FR",
    tax_ids=[TaxId(type="eu_vat", value="FR61987654321")],
    email="compta@zoe.test",
)
DE_BUYER = Party(
    name="Müller GmbH",
    address=PostalAddress(line1="Hauptstraße 1", postal_code="10115", city="Berlin", country="DE"),
    country="DE",
    tax_ids=[TaxId(type="eu_vat", value="DE123456789")],
)

TRANSFER = PaymentMeans(code="58", iban="FR7630006000011234567890189", bic="BNPAFRPP", account_name="Acme SAS")

VAT20 = TaxRate(id="txr_20", percentage=Decimal("20"), display_name="TVA", country="FR", tax_type="vat")
VAT55 = TaxRate(id="txr_55", percentage=Decimal("5.5"), display_name="TVA", country="FR", tax_type="vat")
REVERSE = TaxRate(id="txr_rc", percentage=Decimal("0"), display_name="VAT", tax_type="vat")


def tax(rate: TaxRate, taxable: int, amount: int, **kw: object) -> TaxAmount:
    return TaxAmount(rate=rate, taxable_amount=taxable, amount=amount, **kw)  # type: ignore[arg-type]


def line(
    description: str, quantity: int, unit: int, rate: TaxRate | None, tax_amount: int = 0, **kw: object
) -> DocumentLine:
    amount = quantity * unit
    taxes = [tax(rate, amount, tax_amount)] if rate is not None else []
    return DocumentLine(
        description=description,
        quantity=Decimal(quantity),
        unit_amount_excluding_tax=Decimal(unit),
        amount=amount,
        taxes=taxes,
        **kw,  # type: ignore[arg-type]
    )


def _invoice(lines: list[DocumentLine], taxes: list[TaxAmount], **kw: object) -> DocumentFacts:
    excl = sum(t.taxable_amount for t in taxes)
    total = excl + sum(t.amount for t in taxes)
    values: dict[str, object] = dict(
        type="invoice",
        id="in_1",
        number="ACME-0042",
        currency="eur",
        issue_date=ISSUED,
        supply_start=ISSUED,
        supply_end=DUE,
        due_date=DUE,
        buyer_reference="04011000-12345-34",
        payment_means=TRANSFER,
        seller=SELLER,
        buyer=FR_BUYER,
        lines=lines,
        totals=DocumentTotals(
            subtotal=sum(x.amount for x in lines),
            taxes=taxes,
            total_excluding_tax=excl,
            total=total,
            amount_remaining=total,
        ),
    )
    values.update(kw)
    # Deep: a test that changes its facts must not change the module's parties.
    return DocumentFacts.model_validate(values).model_copy(deep=True)


def multi_rate() -> DocumentFacts:
    """20 % on a subscription, 5.5 % on books."""
    return _invoice(
        [line("Plan Pro", 2, 5000, VAT20, 2000), line("Guide (book)", 3, 1250, VAT55, 206)],
        [tax(VAT20, 10000, 2000), tax(VAT55, 3750, 206)],
    )


def reverse_charge() -> DocumentFacts:
    """French seller, German business buyer: VAT due by the buyer (AE)."""
    rc = tax(REVERSE, 30000, 0, taxability_reason="reverse_charge")
    lines = [line("Consulting, March", 3, 10000, None)]
    lines[0].taxes = [rc]
    return _invoice(lines, [rc], buyer=DE_BUYER, tax_exempt="reverse")


def discounted() -> DocumentFacts:
    """A 10 % coupon on the whole invoice: Stripe's taxable amount is after it."""
    lines = [line("Plan Pro", 1, 10000, VAT20, 1800), line("Extra seats", 5, 1000, VAT20, 900)]
    facts = _invoice(lines, [tax(VAT20, 13500, 2700)])
    totals = facts.totals.model_copy(update={"discounts": [DiscountAmount(amount=1500, name="WELCOME10")]})
    return facts.model_copy(update={"totals": totals})


def yen() -> DocumentFacts:
    """A zero-decimal currency: 12 000 JPY is 12000, not 120.00."""
    return _invoice(
        [line("Plan Pro", 4, 3000, VAT20, 2400)],
        [tax(VAT20, 12000, 2400)],
        currency="jpy",
    )


def inclusive() -> DocumentFacts:
    """A price including VAT: 120.00 with 20.00 of VAT in it."""
    included = tax(VAT20, 10000, 2000, inclusive=True)
    item = DocumentLine(
        description="Plan Pro (VAT included)",
        quantity=Decimal(1),
        unit_amount_excluding_tax=Decimal(10000),
        amount=12000,
        amount_excluding_tax=10000,
        taxes=[included],
    )
    facts = _invoice([item], [included])
    return facts.model_copy(update={"totals": facts.totals.model_copy(update={"subtotal": 12000})})


def paid() -> DocumentFacts:
    facts = multi_rate()
    t = facts.totals
    return facts.model_copy(update={"totals": t.model_copy(update={"amount_paid": t.total, "amount_remaining": 0})})


def credit_note() -> DocumentFacts:
    """Credits one seat of the multi-rate invoice."""
    return _invoice(
        [line("Plan Pro, one seat", 1, 5000, VAT20, 1000)],
        [tax(VAT20, 5000, 1000)],
        type="credit_note",
        id="cn_1",
        number="ACME-0042-CN-01",
        reason="order_change",
        corrects=CorrectedInvoice(id="in_1", number="ACME-0042", issue_date=ISSUED),
        due_date=None,
        payment_means=PaymentMeans(code="1"),
    )


CASES = {
    "multi_rate": multi_rate,
    "reverse_charge": reverse_charge,
    "discount": discounted,
    "jpy": yen,
    "inclusive": inclusive,
    "paid": paid,
    "credit_note": credit_note,
}
