"""The document facts on the page: real WeasyPrint renders of complete invoices,
receipts and credit notes, read back with pypdf, in French, German and English (and
Arabic, right to left). Each PDF is rendered once per module."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader

from relance.contracts.account import AccountSettings
from relance.contracts.documents import DocumentFacts, PaymentFacts
from relance.contracts.events import CreditNote, Invoice, TaxRateObject
from relance.contracts.kinds import DocumentKind
from relance.contracts.views import credit_note_view
from relance.rendering.context import customer_view, invoice_view
from relance.rendering.pdf import DocumentContext, render_document_html, render_document_pdf
from relance.rules.document_facts import credit_note_facts, invoice_facts
from tests.rendering.test_pdf import pages_text
from tests.support import documents as d

FR = AccountSettings.model_validate({"seller": d.SELLER_FR, "branding": {"business_name": "Acme"}})
DE = AccountSettings.model_validate(
    {
        "seller": {
            "legal_name": "Beispiel GmbH",
            "country": "DE",
            "address": {"line1": "Unter den Linden 5", "postal_code": "10117", "city": "Berlin", "country": "DE"},
            "tax_ids": [{"type": "eu_vat", "value": "DE999999999"}, {"type": "de_stn", "value": "12/345/67890"}],
            "registration": ["Amtsgericht Berlin HRB 12345"],
        }
    }
)
KNOWN = {
    "txr_fr20": TaxRateObject.model_validate(d.tax_rate("txr_fr20", 20, "TVA")),
    "txr_fr55": TaxRateObject.model_validate(d.tax_rate("txr_fr55", 5.5, "TVA")),
}


def context(inv: Invoice, facts: DocumentFacts, settings: AccountSettings, tz: str = "Europe/Paris") -> DocumentContext:
    return DocumentContext(
        branding=settings.branding,
        customer=customer_view(None, inv.customer, inv),
        invoice=invoice_view(inv),
        facts=facts,
        timezone=tz,
    )


def render(kind: DocumentKind, ctx: DocumentContext, locale: str) -> list[str]:
    return pages_text(render_document_pdf(kind, ctx, locale))


def invoice_ctx(obj: dict, settings: AccountSettings = FR, known: dict | None = None, **kw) -> DocumentContext:
    inv = Invoice.model_validate(obj)
    return context(inv, invoice_facts(inv, settings, KNOWN if known is None else known, **kw), settings)


@pytest.fixture(scope="module")
def two_rates() -> DocumentContext:
    return invoice_ctx(d.two_rate_invoice())


@pytest.fixture(scope="module")
def fr_page(two_rates: DocumentContext) -> str:
    [page] = render(DocumentKind.invoice, two_rates, "fr")
    return page


@pytest.fixture(scope="module")
def de_page(two_rates: DocumentContext) -> str:
    [page] = render(DocumentKind.invoice, two_rates, "de")
    return page


@pytest.fixture(scope="module")
def en_page(two_rates: DocumentContext) -> str:
    [page] = render(DocumentKind.invoice, two_rates, "en")
    return page


def assert_in(page: str, *expected: str) -> None:
    missing = [e for e in expected if e not in page]
    assert not missing, f"missing {missing} in:\n{page}"


def test_a_complete_invoice_in_french(fr_page: str) -> None:
    assert_in(
        fr_page,
        # Seller: legal name, address, tax ids by type, registration.
        "Acme SAS",
        "1 rue de la Paix",
        "75002 Paris",
        "Numéro de TVA FR12345678901",
        "SIREN 123 456 789",
        "RCS Paris 123 456 789",
        "SAS au capital de 10 000 €",
        # Dates (Paris time: finalized 23:30 UTC on March 1), terms, currency by name.
        "Numéro de facture F-2026-0042",
        "Date d’émission 2 mars 2026",
        "Période de prestation 1er févr. 2026 – 28 févr. 2026",
        "Date d’échéance 1er avril 2026",
        "Conditions de paiement Sous 30 jours",
        "Devise euro",
        # Buyer and shipping, the country by name.
        "Muster GmbH",
        "Hauptstraße 1",
        "10115 Berlin",
        "Allemagne",
        "Numéro de TVA DE123456789",
        "Livraison à",
        "Muster GmbH, Lager",
        "20095 Hamburg",
        # Lines: quantity, unit price excluding tax, rate, amount, the discount.
        "Prix unitaire HT",
        "Pro plan",
        "2 50,00 € 20 % 100,00 €",
        "Remise Bienvenue −10,00 €",
        "1 000 0,0125 € 20 % 12,50 €",
        "5,5 % 200,00 €",
        # The tax table and the totals.
        "Taux Base imposable Taxes",
        "TVA 20 % 102,50 € 20,50 €",
        "TVA 5,5 % 200,00 € 11,00 €",
        "Sous-total 312,50 €",
        "Total HT 302,50 €",
        "Taxes 31,50 €",
        "Total 334,00 €",
        "Montant dû 334,00 €",
        # France's mentions, in French.
        "Pénalités de retard : trois fois le taux d’intérêt légal",
        "Indemnité forfaitaire pour frais de recouvrement",
        "40,00 €",
    )
    # The single-day line shows its day once; no raw codes.
    assert "1er févr. 2026 – 1er févr. 2026" not in fr_page
    assert not re.search(r"\b(DE|FR|EUR|eur)\b", fr_page.replace("FR12345678901", "").replace("DE123456789", ""))
    assert "≈" not in fr_page


def test_the_same_invoice_in_german(de_page: str) -> None:
    assert_in(
        de_page,
        "USt-IdNr. FR12345678901",
        "Rechnungsnummer F-2026-0042",
        "Ausstellungsdatum 2. März 2026",
        "Leistungszeitraum 01.02.2026 – 28.02.2026",
        "Fälligkeitsdatum 1. April 2026",
        "Zahlungsbedingungen Innerhalb von 30 Tagen",
        "Währung Euro",
        "Frankreich",
        "Deutschland",
        "Lieferadresse",
        "Einzelpreis netto",
        "2 50,00 € 20 % 100,00 €",
        "Rabatt Bienvenue −10,00 €",
        "Steuersatz Bemessungsgrundlage Steuer",
        "TVA 5,5 % 200,00 € 11,00 €",
        "Gesamtbetrag netto 302,50 €",
        "Gesamt 334,00 €",
        "Verzugszinsen",
    )


def test_the_same_invoice_in_english(en_page: str) -> None:
    assert_in(
        en_page,
        "VAT number FR12345678901",
        "Date of issue March 2, 2026",
        "Supply period Feb 1, 2026 – Feb 28, 2026",
        "Date due April 1, 2026",
        "Payment terms Within 30 days",
        "Currency Euro",
        "France",
        "Germany",
        "Ship to",
        "Unit price excl. tax",
        "2 €50.00 20% €100.00",
        "1,000 €0.0125 20% €12.50",
        "Discount Bienvenue −€10.00",
        "Tax rate Taxable amount Tax",
        "TVA 20% €102.50 €20.50",
        "TVA 5.5% €200.00 €11.00",
        "Subtotal €312.50",
        "Total excl. tax €302.50",
        "Tax €31.50",
        "Total €334.00",
        "Amount due €334.00",
        "Late payment penalties: three times the French legal interest rate",
        "fixed indemnity of €40.00 for recovery costs",
    )


@pytest.fixture(scope="module")
def reverse_charge_page() -> str:
    """A German seller, a reverse-charge customer, rates Relance never saw."""
    lines = [
        d.line(
            "Beratung", 150000, quantity=10, unit="15000", taxes=[d.tax(0, 150000, "txr_rc", reason="reverse_charge")]
        )
    ]
    obj = d.complete_invoice(
        "in_rc",
        lines=lines,
        total_taxes=[d.tax(0, 150000, "txr_rc", reason="reverse_charge")],
        account_country="DE",
        customer_tax_exempt="reverse",
        customer_address={"line1": "Rue Neuve 1", "postal_code": "1000", "city": "Bruxelles", "country": "BE"},
        customer_tax_ids=[{"type": "eu_vat", "value": "BE0123456789"}],
    )
    [page] = render(DocumentKind.invoice, invoice_ctx(obj, DE, known={}), "de")
    return page


def test_reverse_charge_with_a_derived_rate_in_german(reverse_charge_page: str) -> None:
    assert_in(
        reverse_charge_page,
        "Beispiel GmbH",
        "USt-IdNr. DE999999999",
        "Steuernummer 12/345/67890",
        "Amtsgericht Berlin HRB 12345",
        "Belgien",
        "USt-IdNr. BE0123456789",
        "Steuerschuldnerschaft des Leistungsempfängers",
        "Art. 196 der Richtlinie 2006/112/EG",
        # Unknown rate: worked out from the amounts, marked.
        "≈ 0 %",
        "≈ Steuersatz aus Steuerbetrag und Bemessungsgrundlage berechnet",
        "Leistungszeitraum",
    )
    assert "Verzugszinsen" not in reverse_charge_page  # French mentions are for French sellers


@pytest.fixture(scope="module")
def yen_page() -> str:
    rate = d.tax_rate("txr_jp", 10, "JCT")
    lines = [
        d.line("Annual plan", 120000, quantity=12, unit="10000", currency="jpy", taxes=[d.tax(12000, 120000, rate)])
    ]
    obj = d.complete_invoice("in_jpy", currency="jpy", lines=lines, total_taxes=[d.tax(12000, 120000, rate)])
    [page] = render(DocumentKind.invoice, invoice_ctx(obj, known={}), "en")
    return page


def test_a_zero_decimal_currency(yen_page: str) -> None:
    assert_in(
        yen_page,
        "12 ¥10,000 10% ¥120,000",
        "JCT 10% ¥120,000 ¥12,000",
        "Total ¥132,000",
        "Currency Japanese Yen",
    )
    assert "¥10,000.00" not in yen_page and "≈" not in yen_page


@pytest.fixture(scope="module")
def receipt_pages() -> dict[str, str]:
    obj = d.two_rate_invoice("in_paid", status="paid", receipt_number="2233-4455")
    obj.update(amount_paid=obj["total"], amount_remaining=0)
    payment = PaymentFacts(
        method_type="card",
        brand="visa",
        last4="4242",
        paid_at=d.FINALIZED + timedelta(days=2),
        receipt_number="2233-4455",
    )
    inv = Invoice.model_validate(obj)
    facts = invoice_facts(inv, FR, KNOWN, payment=payment, doc_type="receipt")
    ctx = context(inv, facts, FR)
    return {loc: render(DocumentKind.receipt, ctx, loc)[0] for loc in ("en", "fr")}


def test_a_receipt_names_the_payment(receipt_pages: dict[str, str]) -> None:
    assert_in(
        receipt_pages["en"],
        "Receipt number 2233-4455",
        "Date paid March 4, 2026",
        "Payment method Visa •••• 4242",
        "TVA 20% €102.50 €20.50",
        "Amount paid €334.00",
    )
    assert_in(receipt_pages["fr"], "Moyen de paiement Visa •••• 4242", "Date de paiement 4 mars 2026")


@pytest.mark.parametrize(
    ("method", "named"),
    [
        (PaymentFacts(method_type="sepa_debit", last4="3000"), "SEPA Debit •••• 3000"),
        (PaymentFacts(method_type="card", brand="cartes_bancaires", last4="1881"), "Cartes Bancaires •••• 1881"),
        (PaymentFacts(method_type="us_bank_account", last4="6789"), "ACH Direct Debit •••• 6789"),
        (PaymentFacts(method_type="paypal"), "PayPal"),
    ],
)
def test_the_receipt_names_the_method_as_the_receipt_email_does(method: PaymentFacts, named: str) -> None:
    """One naming for PDFs and emails (relance.rendering.payment_methods)."""
    obj = d.two_rate_invoice("in_paid", status="paid", receipt_number="2233-4455")
    inv = Invoice.model_validate(obj)
    facts = invoice_facts(inv, FR, KNOWN, payment=method, doc_type="receipt")
    html = render_document_html(DocumentKind.receipt, context(inv, facts, FR), "de")
    [label] = re.findall(rf"<th>([^<]+)</th><td>{re.escape(named)}</td>", html)
    unknown = invoice_facts(inv, FR, KNOWN, payment=PaymentFacts(outcome="succeeded"), doc_type="receipt")
    assert f"<th>{label}</th>" not in render_document_html(DocumentKind.receipt, context(inv, unknown, FR), "de")


@pytest.fixture(scope="module")
def credit_note_pages() -> dict[str, str]:
    inv = Invoice.model_validate(d.two_rate_invoice())
    cn = CreditNote.model_validate(d.complete_credit_note())
    facts = credit_note_facts(cn, FR, KNOWN, None, inv)
    ctx = DocumentContext(
        branding=FR.branding,
        customer=customer_view(None, cn.customer, inv),
        credit_note=credit_note_view(cn),
        facts=facts,
        timezone="Europe/Paris",
    )
    return {loc: render(DocumentKind.credit_note, ctx, loc)[0] for loc in ("fr", "de", "en")}


def test_a_credit_note_names_the_invoice_it_corrects(credit_note_pages: dict[str, str]) -> None:
    assert_in(
        credit_note_pages["fr"],
        "Numéro d’avoir F-2026-0042-CN-01",
        "Facture d’origine F-2026-0042 du 2 mars 2026",
        "Date d’émission 5 mars 2026",
        "Workshop, cancelled",
        "1 200,00 € 5,5 % 200,00 €",
        "TVA 5,5 % 200,00 € 11,00 €",
        "Total HT 200,00 €",
        "Muster GmbH",
        "Numéro de TVA DE123456789",
    )
    assert_in(credit_note_pages["de"], "Ursprüngliche Rechnung F-2026-0042 vom 2. März 2026")
    assert_in(
        credit_note_pages["en"],
        "Original invoice F-2026-0042 dated March 2, 2026",
        "Order change",
        "Total credited €211.00",
    )


def test_right_to_left_documents_keep_their_direction(two_rates: DocumentContext) -> None:
    html = render_document_html(DocumentKind.invoice, two_rates, "ar")
    assert 'dir="rtl"' in html and "<bdi" in html
    [page] = pages_text(render_document_pdf(DocumentKind.invoice, two_rates, "ar"))
    for expected in ("فرنسا", "ألمانيا", "المبلغ الخاضع للضريبة", "FR12345678901", "F-2026-0042", "334.00"):
        assert expected in page, expected


# ---- a long invoice ------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_invoice() -> list[str]:
    """300 lines over three rates: it pages, the header repeats, the totals and the tax
    table stay together on the last page."""
    rates = [("txr_fr20", 20), ("txr_fr10", 10), ("txr_fr55", Decimal("5.5"))]
    lines, per_rate = [], {r: [0, 0] for r, _ in rates}
    for i in range(300):
        rate_id, pct = rates[i % 3]
        amount = 1000 + i
        tax_amount = int((Decimal(amount) * Decimal(pct) / 100).quantize(Decimal(1)))
        per_rate[rate_id][0] += tax_amount
        per_rate[rate_id][1] += amount
        lines.append(d.line(f"Seat {i + 1}", amount, unit=str(amount), taxes=[d.tax(tax_amount, amount, rate_id)]))
    totals = [d.tax(a, base, r) for r, (a, base) in per_rate.items()]
    known = {**KNOWN, "txr_fr10": TaxRateObject.model_validate(d.tax_rate("txr_fr10", 10, "TVA"))}
    return render(
        DocumentKind.invoice,
        invoice_ctx(d.complete_invoice("in_long", lines=lines, total_taxes=totals), known=known),
        "en",
    )


def test_a_300_line_invoice_pages_cleanly(long_invoice: list[str]) -> None:
    pages = long_invoice
    assert len(pages) >= 5, len(pages)
    for n, page in enumerate(pages, 1):
        assert f"Page {n} of {len(pages)}" in page
        if "Seat" in page:
            assert "Description Qty Unit price excl. tax Tax Amount" in page, n  # thead repeated
    assert "Seat 1 " in pages[0] and "Seat 300 " in "".join(pages[-2:])
    # The tax table and every total on one page, once.
    [closing] = [p for p in pages if "Taxable amount" in p]
    assert_in(closing, "TVA 20%", "TVA 10%", "TVA 5.5%", "Subtotal", "Total excl. tax", "Amount due")
    assert sum(p.count("Amount due") for p in pages) == 1
    reader_pages = [p for p in pages if "Subtotal" in p]
    assert reader_pages == [closing]


def test_pages_without_facts_still_render() -> None:
    """Documents rendered from the views alone (nothing richer known) keep working."""
    inv = Invoice.model_validate(d.two_rate_invoice())
    ctx = DocumentContext(
        branding=FR.branding, customer=customer_view(None, inv.customer, inv), invoice=invoice_view(inv)
    )
    [page] = pages_text(render_document_pdf(DocumentKind.invoice, ctx, "en"))
    assert "Acme" in page and "Total €334.00" in page and "Unit price" not in page
    assert PdfReader(io.BytesIO(render_document_pdf(DocumentKind.invoice, ctx, "fr"))).pages
