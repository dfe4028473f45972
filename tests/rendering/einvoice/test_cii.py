"""The CII XML of every profile passes its XSD and schematron, says what the facts say,
and a document whose totals do not add up is refused with its rules named."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from lxml import etree

from relance.contracts.documents import DocumentFacts
from relance.contracts.einvoice import EInvoiceProfile
from relance.rendering.einvoice.cii import NSMAP, DocumentTexts, build_cii
from relance.rendering.einvoice.validate import check_xsd, validate
from tests.rendering.einvoice import facts as cases

PROFILES: tuple[EInvoiceProfile, ...] = ("basic", "en16931", "extended", "xrechnung")
pytestmark = pytest.mark.usefixtures("schematrons")


def _tree(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def _text(tree: etree._Element, path: str) -> list[str]:
    return [el.text for el in tree.xpath(path, namespaces=NSMAP)]


SUMMARY = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/"


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("case", sorted(cases.CASES))
def test_every_profile_validates(profile: EInvoiceProfile, case: str) -> None:
    xml = build_cii(cases.CASES[case](), profile, "Europe/Paris")
    assert validate(xml, profile) == []


def test_guideline_ids_and_type_codes() -> None:
    ids = {
        p: _text(_tree(build_cii(cases.multi_rate(), p)), "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID")
        for p in PROFILES
    }
    assert ids == {
        "basic": ["urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic"],
        "en16931": ["urn:cen.eu:en16931:2017"],
        "extended": ["urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended"],
        "xrechnung": ["urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"],
    }
    assert _text(_tree(build_cii(cases.multi_rate(), "en16931")), "//rsm:ExchangedDocument/ram:TypeCode") == ["380"]
    note = _tree(build_cii(cases.credit_note(), "en16931"))
    assert _text(note, "//rsm:ExchangedDocument/ram:TypeCode") == ["381"]
    assert _text(note, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == ["ACME-0042"]
    assert _text(note, "//ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString") == ["20260301"]


def test_values_are_the_facts() -> None:
    facts = cases.multi_rate()
    texts = DocumentTexts(mentions={}, payment_terms="30 days net")
    tree = _tree(build_cii(facts, "en16931", "Europe/Paris", texts))
    assert _text(tree, "//rsm:ExchangedDocument/ram:ID") == ["ACME-0042"]
    assert _text(tree, "//rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == ["20260301"]
    assert _text(tree, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString") == ["20260331"]
    assert _text(tree, "//ram:SpecifiedTradePaymentTerms/ram:Description") == ["30 days net"]
    assert _text(tree, "//ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString") == ["20260301"]
    assert _text(tree, "//ram:InvoiceCurrencyCode") == ["EUR"]
    seller = "//ram:SellerTradeParty/"
    assert _text(tree, seller + "ram:Name") == ["Acme SAS"]
    assert _text(tree, seller + "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == ["FR40123456789"]
    assert _text(tree, seller + "ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002']") == ["123456789"]
    assert _text(tree, seller + "ram:Description") == ["RCS Paris 123 456 789; SAS au capital de 10 000 €"]
    assert _text(tree, seller + "ram:PostalTradeAddress/ram:CountryID") == ["FR"]
    assert _text(tree, "//ram:BuyerTradeParty/ram:Name") == ["Zoé Martin SARL"]
    assert _text(tree, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == ["FR61987654321"]
    # Tax per rate: basis and tax as the facts give them, one entry per rate.
    header_tax = tree.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", namespaces=NSMAP)
    per_rate = {
        el.findtext("ram:RateApplicablePercent", namespaces=NSMAP): (
            el.findtext("ram:CategoryCode", namespaces=NSMAP),
            el.findtext("ram:BasisAmount", namespaces=NSMAP),
            el.findtext("ram:CalculatedAmount", namespaces=NSMAP),
        )
        for el in header_tax
    }
    assert per_rate == {"20.00": ("S", "100.00", "20.00"), "5.50": ("S", "37.50", "2.06")}
    assert _text(tree, SUMMARY + "ram:LineTotalAmount") == ["137.50"]
    assert _text(tree, SUMMARY + "ram:TaxBasisTotalAmount") == ["137.50"]
    assert _text(tree, SUMMARY + "ram:TaxTotalAmount[@currencyID='EUR']") == ["22.06"]
    assert _text(tree, SUMMARY + "ram:GrandTotalAmount") == ["159.56"]
    assert _text(tree, SUMMARY + "ram:DuePayableAmount") == ["159.56"]
    # Lines: unit price excluding tax, quantity, net amount.
    assert _text(tree, "//ram:NetPriceProductTradePrice/ram:ChargeAmount") == ["50", "12.5"]
    assert _text(tree, "//ram:BilledQuantity") == ["2", "3"]
    assert _text(tree, "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount") == ["100.00", "37.50"]


def test_dates_are_the_documents_calendar_day() -> None:
    """23:30 UTC on 28 February is 1 March in Paris, as the page says."""
    from datetime import UTC, datetime

    facts = cases.multi_rate().model_copy(update={"issue_date": datetime(2026, 2, 28, 23, 30, tzinfo=UTC)})
    assert _text(_tree(build_cii(facts, "en16931", "Europe/Paris")), "//ram:IssueDateTime/udt:DateTimeString") == [
        "20260301"
    ]
    assert _text(_tree(build_cii(facts, "en16931", "UTC")), "//ram:IssueDateTime/udt:DateTimeString") == ["20260228"]


def test_reverse_charge_is_category_ae_with_its_reason() -> None:
    tree = _tree(build_cii(cases.reverse_charge(), "en16931"))
    header = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/"
    assert _text(tree, header + "ram:CategoryCode") == ["AE"]
    assert _text(tree, header + "ram:ExemptionReason") == ["Reverse charge"]
    assert _text(tree, header + "ram:ExemptionReasonCode") == ["VATEX-EU-AE"]
    assert _text(tree, header + "ram:CalculatedAmount") == ["0.00"]
    assert _text(tree, "//ram:IncludedSupplyChainTradeLineItem//ram:CategoryCode") == ["AE"]
    assert _text(tree, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == ["DE123456789"]


def test_discount_is_an_allowance_per_rate() -> None:
    tree = _tree(build_cii(cases.discounted(), "en16931"))
    allowance = "//ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeAllowanceCharge/"
    assert _text(tree, allowance + "ram:ActualAmount") == ["15.00"]
    assert _text(tree, allowance + "ram:Reason") == ["WELCOME10"]
    assert _text(tree, allowance + "ram:CategoryTradeTax/ram:RateApplicablePercent") == ["20.00"]
    assert _text(tree, SUMMARY + "ram:LineTotalAmount") == ["150.00"]
    assert _text(tree, SUMMARY + "ram:AllowanceTotalAmount") == ["15.00"]
    assert _text(tree, SUMMARY + "ram:TaxBasisTotalAmount") == ["135.00"]
    assert _text(tree, SUMMARY + "ram:GrandTotalAmount") == ["162.00"]


def test_zero_decimal_currency() -> None:
    tree = _tree(build_cii(cases.yen(), "en16931"))
    assert _text(tree, "//ram:InvoiceCurrencyCode") == ["JPY"]
    assert _text(tree, SUMMARY + "ram:TaxBasisTotalAmount") == ["12000"]
    assert _text(tree, SUMMARY + "ram:TaxTotalAmount") == ["2400"]
    assert _text(tree, SUMMARY + "ram:GrandTotalAmount") == ["14400"]
    assert _text(tree, "//ram:NetPriceProductTradePrice/ram:ChargeAmount") == ["3000"]


def test_paid_invoice_owes_nothing() -> None:
    tree = _tree(build_cii(cases.paid(), "en16931"))
    assert _text(tree, SUMMARY + "ram:TotalPrepaidAmount") == ["159.56"]
    assert _text(tree, SUMMARY + "ram:DuePayableAmount") == ["0.00"]


def test_sub_cent_unit_price_is_exact() -> None:
    facts = cases.multi_rate()
    facts.lines[0].unit_amount_excluding_tax = Decimal("4999.995")
    assert (
        _text(_tree(build_cii(facts, "en16931")), "//ram:NetPriceProductTradePrice/ram:ChargeAmount")[0] == "49.99995"
    )


def _broken(change: Callable[[DocumentFacts], None]) -> DocumentFacts:
    facts = cases.multi_rate()
    change(facts)
    return facts


@pytest.mark.parametrize("profile", PROFILES)
def test_totals_that_do_not_add_up_are_caught(profile: EInvoiceProfile) -> None:
    def wrong_total(f: DocumentFacts) -> None:
        f.totals.total += 100  # one euro more than excluding tax + tax
        f.totals.amount_remaining = f.totals.total

    failures = validate(build_cii(_broken(wrong_total), profile), profile)
    # EN 16931's BR-CO-15 (EXTENDED names its own: BR-FXEXT-CO-15).
    assert any(f.rule.endswith("CO-15") and "BT-112" in f.text for f in failures), failures


def test_a_tax_basis_the_lines_do_not_make_is_caught() -> None:
    def wrong_basis(f: DocumentFacts) -> None:
        f.totals.taxes[0].taxable_amount += 500

    rules = {f.rule for f in validate(build_cii(_broken(wrong_basis), "en16931"), "en16931")}
    assert "BR-S-08" in rules, rules


def test_a_buyer_without_a_country_is_caught() -> None:
    def no_country(f: DocumentFacts) -> None:
        f.buyer.address = None
        f.buyer.country = None

    failures = validate(build_cii(_broken(no_country), "en16931"), "en16931")
    assert failures and all(f.text for f in failures)


def test_xsd_failure_is_named() -> None:
    xml = build_cii(cases.multi_rate(), "basic").replace(b"<ram:TypeCode>380</ram:TypeCode>", b"")
    assert [f.rule for f in check_xsd(xml, "basic")] == ["XSD"]


def test_receipt_has_no_einvoice() -> None:
    with pytest.raises(ValueError):
        build_cii(cases.paid().model_copy(update={"type": "receipt"}), "en16931")
