"""What XRechnung adds (buyer reference, seller contact, payment instructions), checked
by Relance's own BR-DE rules; the payment means of each kind of payment; and the French
legal mentions and payment terms in the XML worded exactly as on the page."""

from __future__ import annotations

import pytest
from facturx import get_facturx_xml_from_pdf
from lxml import etree

from relance.contracts.documents import DocumentFacts, PaymentMeans
from relance.contracts.einvoice import EInvoiceOptions, EInvoiceProfile
from relance.contracts.events import Invoice
from relance.contracts.kinds import DocumentKind
from relance.rendering.einvoice.cii import NSMAP, build_cii
from relance.rendering.einvoice.render import render_document
from relance.rendering.einvoice.validate import check_xrechnung, validate
from relance.rules.document_facts import invoice_facts
from tests.rendering.einvoice import facts as cases
from tests.rendering.test_document_pages import FR, KNOWN, context
from tests.rendering.test_pdf import normalize, pages_text
from tests.support import documents as d

PROFILES: tuple[EInvoiceProfile, ...] = ("basic", "en16931", "extended", "xrechnung")
pytestmark = pytest.mark.usefixtures("schematrons")


def _rules(facts: DocumentFacts, profile: EInvoiceProfile = "xrechnung") -> set[str]:
    return {f.rule for f in validate(build_cii(facts, profile), profile)}


def _path(xml: bytes, path: str) -> list[str]:
    return [el.text for el in etree.fromstring(xml).xpath(path, namespaces=NSMAP)]


def test_buyer_reference_contact_and_transfer_account_in_the_xml() -> None:
    xml = build_cii(cases.multi_rate(), "xrechnung")
    assert _path(xml, "//ram:ApplicableHeaderTradeAgreement/ram:BuyerReference") == ["04011000-12345-34"]
    contact = "//ram:SellerTradeParty/ram:DefinedTradeContact/"
    assert _path(xml, contact + "ram:PersonName") == ["Service facturation"]
    assert _path(xml, contact + "ram:TelephoneUniversalCommunication/ram:CompleteNumber") == ["+33 1 23 45 67 89"]
    means = "//ram:SpecifiedTradeSettlementPaymentMeans/"
    assert _path(xml, means + "ram:TypeCode") == ["58"]
    assert _path(xml, means + "ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == [cases.TRANSFER.iban]
    assert _path(xml, means + "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID") == ["BNPAFRPP"]
    assert check_xrechnung(xml) == []


def test_what_xrechnung_requires_is_named_when_missing() -> None:
    facts = cases.multi_rate()
    facts.buyer_reference = None
    facts.seller.contact_name = None
    facts.seller.phone = None
    facts.payment_means = None
    facts.buyer.address = facts.buyer.address.model_copy(update={"postal_code": None})  # type: ignore[union-attr]
    assert {"BR-DE-1", "BR-DE-5", "BR-DE-6", "BR-DE-9", "BR-DE-15"} <= _rules(facts)
    # EN 16931 itself asks none of these: the same document is a valid Factur-X.
    assert _rules(facts, "en16931") == set()


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(
    "means",
    [
        PaymentMeans(code="48", card_last4="4242", method_type="card"),
        PaymentMeans(code="ZZZ", method_type="us_bank_account"),
        PaymentMeans(code="1"),
    ],
    ids=["card", "other", "not_said"],
)
def test_each_payment_means_validates(profile: EInvoiceProfile, means: PaymentMeans) -> None:
    facts = cases.multi_rate()
    facts.payment_means = means
    xml = build_cii(facts, profile)
    assert validate(xml, profile) == []
    assert _path(xml, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == [means.code]


def test_direct_debit_without_mandate_details_is_not_an_xrechnung() -> None:
    # Stripe tells the debited account's last digits only, never its IBAN (BT-91).
    facts = cases.multi_rate()
    facts.payment_means = PaymentMeans(code="59", method_type="sepa_debit")
    assert {"BR-DE-30", "BR-DE-31"} <= _rules(facts)
    assert _rules(facts, "en16931") == set()


def test_a_transfer_without_an_iban_is_caught() -> None:
    facts = cases.multi_rate()
    facts.payment_means = PaymentMeans(code="58")
    assert "BR-DE-23-a" in _rules(facts)


@pytest.mark.parametrize("locale", ["fr", "en", "de"])
def test_legal_mentions_and_terms_in_the_xml_are_the_pages(locale: str) -> None:
    inv = Invoice.model_validate(d.two_rate_invoice())
    ctx = context(inv, invoice_facts(inv, FR, KNOWN), FR).model_copy(
        update={"einvoice": EInvoiceOptions(profile="en16931")}
    )
    rendered = render_document(DocumentKind.invoice, ctx, locale)
    assert rendered.einvoice is not None and rendered.einvoice.status == "embedded", rendered.einvoice
    [page] = pages_text(rendered.pdf)
    _, xml = get_facturx_xml_from_pdf(rendered.pdf, check_xsd=False)
    notes = {
        el.findtext("ram:SubjectCode", namespaces=NSMAP): el.findtext("ram:Content", namespaces=NSMAP)
        for el in etree.fromstring(xml).xpath("//rsm:ExchangedDocument/ram:IncludedNote", namespaces=NSMAP)
    }
    assert set(notes) == {"PMD", "PMT"}  # France's presets: penalties and the recovery indemnity
    for text in notes.values():
        assert text and normalize(text) in page, (text, page)
    [terms] = _path(xml, "//ram:SpecifiedTradePaymentTerms/ram:Description")
    assert normalize(terms) in page and "30" in terms


@pytest.mark.parametrize(
    ("locale", "label"), [("fr", "Virement bancaire"), ("de", "Banküberweisung"), ("en", "Bank transfer")]
)
def test_the_account_to_pay_is_on_the_page_as_in_the_xml(locale: str, label: str) -> None:
    banked = FR.model_copy(
        update={"seller": FR.seller.model_copy(update={"iban": "FR7630006000011234567890189", "bic": "BNPAFRPP"})}
    )
    inv = Invoice.model_validate(d.two_rate_invoice())
    ctx = context(inv, invoice_facts(inv, banked, KNOWN), banked).model_copy(
        update={"einvoice": EInvoiceOptions(profile="en16931")}
    )
    rendered = render_document(DocumentKind.invoice, ctx, locale)
    [page] = pages_text(rendered.pdf)
    assert f"{label} IBAN FR76 3000 6000 0112 3456 7890 189 BIC BNPAFRPP" in page, page
    _, xml = get_facturx_xml_from_pdf(rendered.pdf, check_xsd=False)
    assert _path(xml, "//ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == ["FR7630006000011234567890189"]
