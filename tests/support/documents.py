"""Complete invoices and credit notes, Stripe-shaped, on Stripe's own fixture objects
(tests/specs/stripe/fixtures3.json): what the document-facts tests feed Relance."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.events import invoice, stripe_fixtures, ts

# Finalized at 23:30 UTC on March 1, which is already March 2 in Paris and Berlin.
FINALIZED = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
PERIOD_START = datetime(2026, 2, 1, 12, tzinfo=UTC)
PERIOD_END = datetime(2026, 2, 28, 12, tzinfo=UTC)

SELLER_FR: dict[str, Any] = {
    "legal_name": "Acme SAS",
    "country": "FR",
    "address": {"line1": "1 rue de la Paix", "postal_code": "75002", "city": "Paris", "country": "FR"},
    "tax_ids": [{"type": "eu_vat", "value": "FR12345678901"}, {"type": "fr_siren", "value": "123 456 789"}],
    "registration": ["RCS Paris 123 456 789", "SAS au capital de 10 000 €"],
}


def tax_rate(rate_id: str, percentage: float | int, name: str = "VAT", **extra: Any) -> dict[str, Any]:
    obj = copy.deepcopy(stripe_fixtures()["tax_rate"])
    obj.update(id=rate_id, percentage=percentage, display_name=name, **extra)
    return obj


def tax(amount: int, taxable: int, rate: str | dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One entry of `taxes` / `total_taxes` (API 2025-03-31 and later)."""
    return {
        "amount": amount,
        "taxable_amount": taxable,
        "tax_behavior": extra.pop("behavior", "exclusive"),
        "taxability_reason": extra.pop("reason", "standard_rated"),
        "tax_rate_details": {"tax_rate": rate},
        "type": "tax_rate_details",
        **extra,
    }


def line(
    description: str,
    amount: int,
    *,
    quantity: int = 1,
    unit: str | None = None,
    taxes: list[dict[str, Any]] | None = None,
    start: datetime = PERIOD_START,
    end: datetime = PERIOD_END,
    discounts: list[dict[str, Any]] | None = None,
    currency: str = "eur",
) -> dict[str, Any]:
    item = copy.deepcopy(stripe_fixtures()["line_item"])
    item.update(
        description=description,
        amount=amount,
        currency=currency,
        quantity=quantity,
        period={"start": ts(start), "end": ts(end)},
        pricing={"type": "price_details", "unit_amount_decimal": unit},
        taxes=taxes or [],
        discount_amounts=discounts or [],
    )
    return item


def complete_invoice(
    invoice_id: str = "in_facts",
    *,
    currency: str = "eur",
    lines: list[dict[str, Any]],
    total_taxes: list[dict[str, Any]],
    discounts: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An open invoice to a German business customer, with totals that add up."""
    subtotal = sum(item["amount"] for item in lines)
    discount = sum(d["amount"] for d in discounts or [])
    exclusive = sum(t["amount"] for t in total_taxes if t["tax_behavior"] == "exclusive")
    total = subtotal - discount + exclusive
    obj = invoice(invoice_id, "cus_facts", currency=currency, amount=total, number="F-2026-0042")
    obj["lines"]["data"] = lines
    obj.update(
        # Stripe's fixture account is American; this one is the French seller's.
        account_country="FR",
        customer_name="Muster GmbH",
        customer_address={"line1": "Hauptstraße 1", "postal_code": "10115", "city": "Berlin", "country": "DE"},
        customer_tax_ids=[{"type": "eu_vat", "value": "DE123456789"}],
        customer_shipping={
            "name": "Muster GmbH, Lager",
            "address": {"line1": "Lagerweg 7", "postal_code": "20095", "city": "Hamburg", "country": "DE"},
        },
        customer_tax_exempt="none",
        status_transitions={"finalized_at": ts(FINALIZED), "paid_at": None},
        created=ts(FINALIZED - timedelta(hours=2)),
        due_date=ts(FINALIZED + timedelta(days=30)),
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total_discount_amounts=discounts or [],
        total_excluding_tax=subtotal - discount,
        total_taxes=total_taxes,
        total=total,
    )
    obj.update(extra)
    return obj


def two_rate_invoice(invoice_id: str = "in_facts", **extra: Any) -> dict[str, Any]:
    """Two VAT rates (20 % and 5.5 %), a 10 % coupon on the first line, one line billed
    for a single day, and one whose unit price is finer than a cent."""
    discount = {"amount": 1000, "discount": {"id": "di_1", "coupon": {"id": "co_1", "name": "Bienvenue"}}}
    lines = [
        line(
            "Pro plan",
            10000,
            quantity=2,
            unit="5000",
            taxes=[tax(1800, 9000, "txr_fr20")],
            discounts=[discount],
        ),
        line(
            "Workshop",
            20000,
            unit="20000",
            taxes=[tax(1100, 20000, "txr_fr55")],
            start=PERIOD_START,
            end=PERIOD_START,
        ),
        line("API calls", 1250, quantity=1000, unit="1.25", taxes=[tax(250, 1250, "txr_fr20")]),
    ]
    totals = [tax(2050, 10250, "txr_fr20"), tax(1100, 20000, "txr_fr55")]
    return complete_invoice(invoice_id, lines=lines, total_taxes=totals, discounts=[discount], **extra)


def complete_credit_note(credit_note_id: str = "cn_facts", invoice_id: str = "in_facts") -> dict[str, Any]:
    cn = copy.deepcopy(stripe_fixtures()["credit_note"])
    item = copy.deepcopy(cn["lines"]["data"][0])
    item.update(
        description="Workshop, cancelled",
        amount=20000,
        quantity=1,
        unit_amount=None,
        unit_amount_decimal="20000",
        tax_rates=[],
        taxes=[tax(1100, 20000, "txr_fr55")],
    )
    cn.update(
        id=credit_note_id,
        customer="cus_facts",
        invoice=invoice_id,
        number="F-2026-0042-CN-01",
        currency="eur",
        reason="order_change",
        memo=None,
        created=ts(FINALIZED + timedelta(days=3)),
        effective_at=ts(FINALIZED + timedelta(days=3)),
        lines={"data": [item], "has_more": False, "object": "list"},
        subtotal=20000,
        subtotal_excluding_tax=20000,
        total_excluding_tax=20000,
        total_taxes=[tax(1100, 20000, "txr_fr55")],
        amount=21100,
        total=21100,
    )
    return cn
