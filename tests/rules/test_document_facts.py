"""Stripe's invoice and credit note objects -> the facts of the document: unit prices as
exact Decimals, tax per rate named from the rates Relance knows (or derived and marked),
the seller from settings and the invoice, the dates, the legal mentions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from relance.contracts.account import AccountSettings
from relance.contracts.documents import PaymentFacts, PaymentMeans, TaxId
from relance.contracts.email_context import CustomerView
from relance.contracts.events import CreditNote, Invoice, TaxRateObject, parse_event
from relance.rules.document_facts import credit_note_facts, invoice_facts, tax_rate_ids
from tests.support.documents import (
    FINALIZED,
    PERIOD_END,
    PERIOD_START,
    SELLER_FR,
    complete_credit_note,
    complete_invoice,
    line,
    tax,
    tax_rate,
    two_rate_invoice,
)
from tests.support.events import event, stripe_fixtures, ts

FR = AccountSettings.model_validate({"seller": SELLER_FR})
KNOWN = {
    "txr_fr20": TaxRateObject.model_validate(tax_rate("txr_fr20", 20, "TVA", country="FR", jurisdiction="FR")),
    "txr_fr55": TaxRateObject.model_validate(tax_rate("txr_fr55", 5.5, "TVA", country="FR")),
}


def facts_of(obj: dict, settings: AccountSettings = FR, known: dict | None = None):
    return invoice_facts(Invoice.model_validate(obj), settings, KNOWN if known is None else known)


def test_a_two_rate_invoice_with_a_discount() -> None:
    f = facts_of(two_rate_invoice())
    assert f.number == "F-2026-0042" and f.currency == "eur" and f.issue_date == FINALIZED
    assert (f.supply_start, f.supply_end) == (PERIOD_START, PERIOD_END)
    assert f.due_date == FINALIZED + timedelta(days=30) and f.payment_terms_days == 30
    pro, workshop, api = f.lines
    assert (pro.quantity, pro.unit_amount_excluding_tax, pro.amount) == (Decimal(2), Decimal(5000), 10000)
    assert [(d.amount, d.name) for d in pro.discounts] == [(1000, "Bienvenue")]
    # Finer than a cent, kept exactly (no float anywhere).
    assert api.unit_amount_excluding_tax == Decimal("1.25") and api.quantity == Decimal(1000)
    assert [t.rate.percentage for t in workshop.taxes] == [Decimal("5.5")]
    t = f.totals
    assert (t.subtotal, t.total_excluding_tax, t.total) == (31250, 30250, 33400)
    assert [(d.amount, d.name) for d in t.discounts] == [(1000, "Bienvenue")]
    assert [(x.rate.display_name, x.rate.percentage, x.taxable_amount, x.amount) for x in t.taxes] == [
        ("TVA", Decimal(20), 10250, 2050),
        ("TVA", Decimal("5.5"), 20000, 1100),
    ]
    assert not any(x.rate.derived for x in t.taxes)
    assert f.buyer.name == "Muster GmbH" and f.buyer.country == "DE"
    assert f.buyer.tax_ids == [TaxId(type="eu_vat", value="DE123456789")]
    assert f.shipping is not None and f.shipping.address is not None and f.shipping.address.city == "Hamburg"
    assert f.seller.name == "Acme SAS" and f.seller.registration == SELLER_FR["registration"]
    assert [x.type for x in f.seller.tax_ids] == ["eu_vat", "fr_siren"]
    # France by default: late-payment penalties and the 40 EUR indemnity, not art. 293 B.
    assert f.legal_mentions == ["fr_late_payment", "fr_recovery_indemnity"]


def test_an_unknown_rate_is_derived_from_the_amounts_and_marked() -> None:
    f = facts_of(two_rate_invoice(), known={})
    [twenty, five] = f.totals.taxes
    assert (twenty.rate.percentage, twenty.rate.derived, twenty.rate.id) == (Decimal(20), True, "txr_fr20")
    assert (five.rate.percentage, five.rate.derived) == (Decimal("5.5"), True)
    assert f.totals.taxes[0].rate.display_name is None


def test_an_expanded_rate_inside_the_invoice_needs_no_lookup() -> None:
    obj = two_rate_invoice()
    obj["total_taxes"][1]["tax_rate_details"]["tax_rate"] = tax_rate("txr_fr55", 5.5, "TVA réduite")
    f = facts_of(obj, known={})
    assert [(x.rate.display_name, x.rate.derived) for x in f.totals.taxes] == [(None, True), ("TVA réduite", False)]
    assert tax_rate_ids(Invoice.model_validate(obj)) == {"txr_fr20", "txr_fr55"}


def test_unit_price_from_amount_over_quantity_exactly_and_inclusive_tax_taken_out() -> None:
    lines = [
        line("Thirds", 1000, quantity=3),  # no unit price given: 1000 / 3
        # 120.00 including 20 % VAT: 100.00 excluding it, 50.00 a unit.
        line("Inclusive", 12000, quantity=2, unit="6000", taxes=[tax(2000, 10000, "txr_fr20", behavior="inclusive")]),
    ]
    obj = complete_invoice(lines=lines, total_taxes=[tax(2000, 10000, "txr_fr20", behavior="inclusive")])
    thirds, inclusive = facts_of(obj).lines
    assert thirds.unit_amount_excluding_tax == Decimal("333.3333")
    assert inclusive.unit_amount_excluding_tax == Decimal(5000) and inclusive.amount_excluding_tax == 10000
    assert facts_of(obj).totals.taxes[0].inclusive


def test_older_api_shapes_give_the_same_facts() -> None:
    """Before 2025-03-31: total_tax_amounts, a line's tax_amounts and tax_rates, price."""
    new = two_rate_invoice()
    old = two_rate_invoice()
    old.pop("total_taxes")
    old["total_tax_amounts"] = [
        {"amount": 2050, "inclusive": False, "tax_rate": "txr_fr20", "taxable_amount": 10250},
        {"amount": 1100, "inclusive": False, "tax_rate": "txr_fr55", "taxable_amount": 20000},
    ]
    for item in old["lines"]["data"]:
        item["tax_amounts"] = [
            {
                "amount": t["amount"],
                "inclusive": False,
                "tax_rate": t["tax_rate_details"]["tax_rate"],
                "taxable_amount": t["taxable_amount"],
            }
            for t in item.pop("taxes")
        ]
        item["price"] = {"unit_amount_decimal": item.pop("pricing")["unit_amount_decimal"]}
    new_facts, old_facts = facts_of(new), facts_of(old)
    assert old_facts.totals.taxes == [t.model_copy(update={"taxability_reason": None}) for t in new_facts.totals.taxes]
    assert [x.unit_amount_excluding_tax for x in old_facts.lines] == [
        x.unit_amount_excluding_tax for x in new_facts.lines
    ]
    assert [len(x.taxes) for x in old_facts.lines] == [1, 1, 1]


def test_issue_date_falls_back_to_effective_at_then_created() -> None:
    obj = two_rate_invoice(status_transitions={"finalized_at": None})
    obj.update(effective_at=ts(FINALIZED + timedelta(days=1)))
    assert facts_of(obj).issue_date == FINALIZED + timedelta(days=1)
    obj.update(effective_at=None)
    assert facts_of(obj).issue_date == FINALIZED - timedelta(hours=2)


def test_the_invoice_names_the_seller_first() -> None:
    """account_name and account_country win; account_tax_ids count only expanded."""
    tax_id = dict(stripe_fixtures()["tax_id"], type="eu_vat", value="BE0123456789", country="BE")
    obj = two_rate_invoice(account_name="Acme Belgium SRL", account_country="BE", account_tax_ids=[tax_id, "txi_bare"])
    f = facts_of(obj)
    assert (f.seller.name, f.seller.country) == ("Acme Belgium SRL", "BE")
    assert [x.value for x in f.seller.tax_ids] == ["BE0123456789", "FR12345678901", "123 456 789"]
    # No French presets for a Belgian seller.
    assert f.legal_mentions == []


def test_reverse_charge_and_the_german_date_of_supply() -> None:
    de = AccountSettings.model_validate({"seller": {"legal_name": "Beispiel GmbH", "country": "DE"}})
    obj = two_rate_invoice(customer_tax_exempt="reverse", account_country="DE")
    for item in obj["lines"]["data"]:
        item["period"] = None
    f = facts_of(obj, de)
    assert f.tax_exempt == "reverse" and f.legal_mentions == ["de_service_date"]
    # No line period: the date of supply is stated as the date of issue.
    assert f.supply_start == f.supply_end == FINALIZED


def test_legal_mentions_chosen_in_settings() -> None:
    chosen = AccountSettings.model_validate(
        {
            "seller": {
                **SELLER_FR,
                "legal_mentions": ["fr_vat_franchise", "fr_late_payment"],
                "late_payment_rate": "12.5",
            }
        }
    )
    untaxed = complete_invoice(lines=[line("Conseil", 50000)], total_taxes=[])
    f = facts_of(untaxed, chosen)
    assert f.legal_mentions == ["fr_vat_franchise", "fr_late_payment"] and f.late_payment_rate == Decimal("12.5")
    # The franchise statement never goes on an invoice that charges VAT.
    assert facts_of(two_rate_invoice(), chosen).legal_mentions == ["fr_late_payment"]
    with pytest.raises(ValueError, match="legal_mentions"):
        AccountSettings.model_validate({"seller": {"legal_mentions": ["fr_made_up"]}})
    with pytest.raises(ValueError, match="country"):
        AccountSettings.model_validate({"seller": {"country": "France"}})


def test_a_zero_decimal_currency() -> None:
    lines = [
        line("年間プラン", 120000, quantity=12, unit="10000", currency="jpy", taxes=[tax(12000, 120000, "txr_jp")])
    ]
    obj = complete_invoice(currency="jpy", lines=lines, total_taxes=[tax(12000, 120000, "txr_jp")])
    f = facts_of(obj, known={})
    assert f.currency == "jpy" and f.lines[0].unit_amount_excluding_tax == Decimal(10000)
    assert f.totals.total == 132000 and f.totals.taxes[0].rate.percentage == Decimal(10)


def test_a_credit_note_names_the_invoice_it_corrects() -> None:
    inv = Invoice.model_validate(two_rate_invoice())
    cn = CreditNote.model_validate(complete_credit_note())
    f = credit_note_facts(cn, FR, KNOWN, None, inv)
    assert f.type == "credit_note" and f.number == "F-2026-0042-CN-01" and f.reason == "order_change"
    assert f.corrects is not None and (f.corrects.number, f.corrects.issue_date) == ("F-2026-0042", FINALIZED)
    assert f.issue_date == FINALIZED + timedelta(days=3)
    assert f.buyer.name == "Muster GmbH" and f.seller.name == "Acme SAS"
    [credited] = f.lines
    assert (credited.unit_amount_excluding_tax, credited.amount) == (Decimal(20000), 20000)
    assert [(t.rate.percentage, t.amount) for t in f.totals.taxes] == [(Decimal("5.5"), 1100)]
    assert (f.totals.subtotal, f.totals.total_excluding_tax, f.totals.total) == (20000, 20000, 21100)
    # Without the stored invoice: its id only, the buyer from the customer record.
    alone = credit_note_facts(cn, FR, KNOWN)
    assert alone.corrects is not None and (alone.corrects.id, alone.corrects.number) == ("in_facts", None)


def test_stripe_fixtures_parse_and_old_events_still_decode() -> None:
    f = stripe_fixtures()
    inv = Invoice.model_validate(f["invoice"])
    assert inv.customer_shipping is not None and inv.account_tax_ids is None
    cn = CreditNote.model_validate(f["credit_note"])
    assert cn.lines.data[0].tax_rates and cn.lines.data[0].tax_rates[0].percentage == Decimal(19)
    # An invoice stored before these fields were read decodes unchanged.
    minimal = Invoice.model_validate({"id": "in_old", "customer": "cus_1", "currency": "eur"})
    assert invoice_facts(minimal, AccountSettings(), {}).totals.taxes == []
    # A percentage sent as a JSON number keeps its decimal text.
    ev = parse_event(event("tax_rate.created", tax_rate("txr_x", 19.6)))
    assert ev.tax_rate.percentage == Decimal("19.6")  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="percentage"):
        parse_event(event("tax_rate.updated", dict(tax_rate("txr_x", 1), percentage=None)))


def test_payment_means_from_what_relance_knows() -> None:
    """The method the invoice's attempts used, else a transfer to the seller's IBAN, else
    "not said"; the seller's contact (BG-6) and the customer's buyer reference (BT-10)."""
    banked = AccountSettings.model_validate(
        {
            "seller": {**SELLER_FR, "iban": "fr76 3000 6000 0112 3456 7890 189", "bic": "bnpafrpp"},
            "branding": {"support_email": "help@acme.test", "support_phone": "+33 1 00 00 00 00"},
        }
    )
    inv = Invoice.model_validate(two_rate_invoice())
    card = PaymentFacts(method_type="card", brand="visa", last4="4242", outcome="failed")
    assert invoice_facts(inv, banked, KNOWN, payment=card).payment_means == PaymentMeans(
        code="48", card_last4="4242", method_type="card"
    )
    sepa = PaymentFacts(method_type="sepa_debit", last4="3000")
    assert invoice_facts(inv, banked, KNOWN, payment=sepa).payment_means.code == "59"  # type: ignore[union-attr]
    other = PaymentFacts(method_type="us_bank_account")
    assert invoice_facts(inv, banked, KNOWN, payment=other).payment_means.code == "ZZZ"  # type: ignore[union-attr]
    f = invoice_facts(inv, banked, KNOWN, CustomerView(id="cus_1", buyer_reference="04011000-12345-34"))
    assert f.payment_means == PaymentMeans(
        code="58", iban="FR7630006000011234567890189", bic="BNPAFRPP", account_name="Acme SAS"
    )
    assert f.buyer_reference == "04011000-12345-34"
    assert (f.seller.contact_name, f.seller.email, f.seller.phone) == (None, "help@acme.test", "+33 1 00 00 00 00")
    assert facts_of(two_rate_invoice()).payment_means == PaymentMeans(code="1")
    contact = {"contact_name": "Compta", "contact_phone": "+33 9", "contact_email": "compta@acme.test"}
    s = AccountSettings.model_validate({"seller": {**SELLER_FR, **contact}})
    assert (lambda p: (p.contact_name, p.phone, p.email))(facts_of(two_rate_invoice(), s).seller) == (
        "Compta",
        "+33 9",
        "compta@acme.test",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("iban", "FR7630006000011234567890188"),  # check digits
        ("iban", "FR133000600001123456789018"),  # check digits right, one digit short for France
        ("iban", "not an iban"),
        ("bic", "BNP"),
        ("contact_email", "x"),
        ("contact_email", "compta@acme"),
    ],
)
def test_seller_payment_and_contact_fields_are_checked(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        AccountSettings.model_validate({"seller": {field: value}})


def test_seller_bank_details_are_stored_compact() -> None:
    seller = AccountSettings.model_validate(
        {"seller": {"iban": "de89 3704 0044 0532 0130 00", "bic": "cobadeffxxx", "contact_email": "Compta@Acme.test"}}
    ).seller
    assert (seller.iban, seller.bic, seller.contact_email) == (
        "DE89370400440532013000",
        "COBADEFFXXX",
        "Compta@acme.test",
    )


def test_buyer_reference_from_a_customer_event_and_its_metadata() -> None:
    from relance.contracts.events import Customer

    assert (
        Customer.model_validate({"id": "c", "buyer_reference": " 991-01234-56 "}).buyer_reference_set == "991-01234-56"
    )
    meta = Customer.model_validate({"id": "c", "metadata": {"buyer_reference": "04011000-1", "n": 3}})
    assert meta.buyer_reference_set == "04011000-1"
    assert Customer.model_validate({"id": "c", "metadata": {}}).buyer_reference_set is None
