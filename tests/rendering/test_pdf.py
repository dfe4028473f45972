"""PDF documents: real WeasyPrint renders, read back with pypdf.

Renders are shared through module-scoped fixtures; the whole file stays within a few
seconds of rendering.
"""

from __future__ import annotations

import base64
import io
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from pypdf import PdfReader
from pypdf.generic import IndirectObject, StreamObject

from relance.contracts.email_context import Branding, CreditNoteView, CustomerView, InvoiceView, LineItem
from relance.contracts.kinds import DocumentKind
from relance.rendering.i18n import LOCALES_DIR, supported_locales
from relance.rendering.pdf import (
    PDF_TEMPLATES_DIR,
    DocumentContext,
    css_page_counter,
    html_to_pdf,
    locked_fetcher,
    render_document_html,
    render_document_pdf,
)

# 23:30 UTC on March 1 is already March 2 in Paris: the documents show Paris dates.
ISSUED = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a2e0d6a30000000049454e44ae426082"
    )
).decode()


def make_ctx(n_lines: int = 3, currency: str = "eur", **invoice_fields) -> DocumentContext:
    lines = [
        LineItem(
            description=f"Pro plan seat {i}",
            quantity=i % 5 + 1,
            amount=41150 + i,
            currency=currency,
            period_start=ISSUED,
            period_end=ISSUED + timedelta(days=30),
        )
        for i in range(n_lines)
    ]
    invoice = dict(
        id="in_1",
        number="INV-0042",
        currency=currency,
        amount_due=123450,
        amount_remaining=123450,
        subtotal=102875,
        tax=20575,
        total=123450,
        created=ISSUED,
        due_date=ISSUED + timedelta(days=14),
        receipt_number="RCPT-9",
        lines=lines,
    )
    invoice.update(invoice_fields)
    return DocumentContext(
        branding=Branding(
            business_name="Acme SAS",
            logo_data_uri=f"data:image/png;base64,{PNG_1PX}",
            address_lines=["1 rue de la Paix", "75002 Paris"],
            support_email="billing@acme.test",
            support_phone="+33 1 23 45 67 89",
            footer="Thanks for your business!",
            legal_text="SIREN 123 456 789",
        ),
        customer=CustomerView(id="cus_1", name="Zoé Martin", email="zoe@example.com", address_lines=["3 av. Foch"]),
        invoice=InvoiceView(**invoice),
        credit_note=CreditNoteView(
            id="cn_1",
            number="CN-7",
            currency=currency,
            amount=5000,
            reason="duplicate",
            invoice_number="INV-0042",
            memo="Charged twice in March.",
            created=ISSUED,
            lines=lines[:2],
        ),
        timezone="Europe/Paris",
    )


def normalize(text: str) -> str:
    # pypdf gives U+202F / U+00A0 back as themselves or as plain spaces depending on the
    # font's mapping; layout adds line breaks. Compare words, not whitespace.
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\u00a0", " ")).strip()


def pages_text(pdf: bytes) -> list[str]:
    return [normalize(page.extract_text()) for page in PdfReader(io.BytesIO(pdf)).pages]


def everything_in(pdf: bytes) -> bytes:
    """The file plus every object decompressed, object streams included: what a reader
    could get out of it."""
    reader = PdfReader(io.BytesIO(pdf))
    refs = {(num, gen) for gen, entries in reader.xref.items() for num in entries}
    refs |= {(num, 0) for num in reader.xref_objStm}
    parts = [pdf]
    for num, gen in sorted(refs):
        obj = reader.get_object(IndirectObject(num, gen, reader))
        parts.append(obj.get_data() if isinstance(obj, StreamObject) else repr(obj).encode())
    return b"\n".join(parts)


def attachments_of(pdf: bytes) -> dict:
    return dict(PdfReader(io.BytesIO(pdf)).attachments)


@pytest.fixture(scope="module")
def invoice_en() -> bytes:
    return render_document_pdf(DocumentKind.invoice, make_ctx(), "en")


@pytest.fixture(scope="module")
def invoice_fr() -> bytes:
    return render_document_pdf(DocumentKind.invoice, make_ctx(), "fr")


# ---- content and locale ------------------------------------------------------------


def test_invoice_in_english(invoice_en: bytes) -> None:
    [text] = pages_text(invoice_en)
    for expected in [
        "Acme SAS",
        "1 rue de la Paix",
        "billing@acme.test",
        "+33 1 23 45 67 89",
        "Invoice",
        "INV-0042",
        "March 2, 2026",
        "March 16, 2026",
        "Bill to",
        "Zoé Martin",
        "3 av. Foch",
        "zoe@example.com",
        "Pro plan seat 2",
        "Mar 2, 2026 – Apr 1, 2026",
        "€411.52",
        "Subtotal €1,028.75",
        "Tax €205.75",
        "Total €1,234.50",
        "Amount due €1,234.50",
        "€1,234.50 due March 16, 2026",
        "Thanks for your business!",
        "SIREN 123 456 789",
        "Page 1 of 1",
    ]:
        assert expected in text, expected
    reader = PdfReader(io.BytesIO(invoice_en))
    assert reader.pages[0].images, "the logo data URI is drawn"
    assert reader.metadata.title == "Invoice INV-0042 – Acme SAS"
    assert reader.metadata.author == "Acme SAS"


def test_invoice_in_french(invoice_fr: bytes) -> None:
    [text] = pages_text(invoice_fr)
    for expected in [
        "Facture",
        "Numéro de facture INV-0042",
        "Date d’émission 2 mars 2026",
        "Date d’échéance 16 mars 2026",
        "Facturé à",
        "Zoé Martin",
        "Qté",
        "Montant",
        "411,52 €",
        "2 mars 2026 – 1er avr. 2026",
        "Sous-total 1 028,75 €",
        "Taxes 205,75 €",
        "Montant dû 1 234,50 €",
        "1 234,50 € à payer d’ici le 16 mars 2026",
        "Page 1 sur 1",
    ]:
        assert expected in text, expected
    assert "Amount due" not in text and "Page 1 of" not in text
    assert PdfReader(io.BytesIO(invoice_fr)).metadata.title == "Facture INV-0042 – Acme SAS"


def test_french_amounts_keep_their_narrow_no_break_spaces() -> None:
    html = render_document_html(DocumentKind.invoice, make_ctx(), "fr")
    assert "1\u202f234,50\u00a0€" in html
    assert 'lang="fr"' in html


def test_pdf_a3b_metadata(invoice_en: bytes) -> None:
    reader = PdfReader(io.BytesIO(invoice_en))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part[^0-9]{1,3}3", xmp) and re.search(r"pdfaid:conformance[^A-Z]{1,3}B", xmp)
    assert "/OutputIntents" in reader.trailer["/Root"]


def test_jpy_has_no_decimals() -> None:
    ctx = make_ctx(
        n_lines=2, currency="jpy", subtotal=10000, tax=2345, total=12345, amount_due=12345, amount_remaining=12345
    )
    [en] = pages_text(render_document_pdf(DocumentKind.invoice, ctx, "en"))
    [fr] = pages_text(render_document_pdf(DocumentKind.invoice, ctx, "fr"))
    assert "Amount due ¥12,345" in en and "¥41,150" in en
    assert not re.search(r"¥[\d,]+\.\d", en)
    assert "Montant dû 12 345 JPY" in fr and "41 150 JPY" in fr
    assert not re.search(r"\d,\d\d JPY", fr)


def test_receipt() -> None:
    paid = dict(amount_paid=123450, amount_remaining=0, status="paid", paid_at=ISSUED + timedelta(days=3))
    [en] = pages_text(render_document_pdf(DocumentKind.receipt, make_ctx(**paid), "en"))
    for expected in [
        "Receipt",
        "Paid",
        "Receipt number RCPT-9",
        "Invoice number INV-0042",
        "Date paid March 5, 2026",
        "€1,234.50 paid on March 5, 2026",
        "Summary (3 items)",
        "Pro plan seat 1",
        "Amount paid €1,234.50",
        "Thank you for your payment.",
    ]:
        assert expected in en, expected
    [fr] = pages_text(render_document_pdf(DocumentKind.receipt, make_ctx(n_lines=1, **paid), "fr"))
    for expected in [
        "Reçu",
        "Payé",
        "Numéro de reçu RCPT-9",
        "Date de paiement 5 mars 2026",
        "Récapitulatif (1 article)",
        "Montant payé 1 234,50 €",
    ]:
        assert expected in fr, expected


def test_credit_note() -> None:
    [en] = pages_text(render_document_pdf(DocumentKind.credit_note, make_ctx(), "en"))
    for expected in [
        "Credit note",
        "Credit note number CN-7",
        "Invoice number INV-0042",
        "Credited to",
        "Zoé Martin",
        "Reason Duplicate charge",
        "2 lines credited",
        "Pro plan seat 1",
        "Total credited €50.00",
        "Memo Charged twice in March.",
    ]:
        assert expected in en, expected
    ctx = make_ctx()
    ctx.credit_note = ctx.credit_note.model_copy(
        update={"reason": "Geste commercial", "lines": ctx.credit_note.lines[:1]}
    )
    [fr] = pages_text(render_document_pdf(DocumentKind.credit_note, ctx, "fr"))
    for expected in [
        "Avoir",
        "Numéro d’avoir CN-7",
        "Motif Geste commercial",
        "1 ligne créditée",
        "Total crédité 50,00 €",
        "Crédit de 50,00 €",
    ]:
        assert expected in fr, expected


def test_a_document_without_its_data_is_refused() -> None:
    ctx = make_ctx()
    with pytest.raises(ValueError, match="credit_note"):
        render_document_html(DocumentKind.credit_note, ctx.model_copy(update={"credit_note": None}), "en")
    with pytest.raises(ValueError, match="invoice"):
        render_document_html(DocumentKind.receipt, ctx.model_copy(update={"invoice": None}), "en")


# ---- long documents ----------------------------------------------------------------


def test_long_invoice_repeats_the_header_and_shows_totals_once() -> None:
    pdf = render_document_pdf(DocumentKind.invoice, make_ctx(n_lines=200), "en")
    pages = pages_text(pdf)
    assert len(pages) >= 4
    for number, text in enumerate(pages, start=1):
        assert "Description Qty Amount" in text, f"table header missing on page {number}"
        assert f"Page {number} of {len(pages)}" in text
        assert "INV-0042" in text  # masthead on page 1, running header after
    everything = " ".join(pages)
    for label in ["Subtotal", "Amount due", "Total €1,234.50"]:
        assert everything.count(label) == 1, label
        assert label in pages[-1]
    # Every row whole on one page: its description, period and amount together.
    for i in range(200):
        amount = f"€{(41150 + i) / 100:,.2f}"
        row = re.compile(rf"Pro plan seat {i} Mar 2, 2026 – Apr 1, 2026 {i % 5 + 1} {re.escape(amount)}")
        assert sum(bool(row.search(text)) for text in pages) == 1, f"row {i}"


# ---- nothing leaves the sandbox -----------------------------------------------------


def hostile(spy_url: str, secret: Path) -> list[str]:
    return [
        '<link rel="attachment" href="file:///etc/passwd">',
        f'<link rel="attachment" href="file://{secret}">',
        f'<link rel="stylesheet" href="{spy_url}/name.css">',
        '<style>@import url(file:///etc/passwd); @import url("' + spy_url + '/import.css");</style>',
        f'<img src="file://{secret}"><img src="{spy_url}/pixel.png">',
        # Allowed scheme, hostile content: what a data: URL loads goes through the lock too.
        '<link rel="stylesheet" href="data:text/css,@import url(file:///etc/passwd);">',
    ]


def svg_logo(secret: Path, spy_url: str) -> str:
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10">'
        f'<image href="file://{secret}" width="5" height="5"/>'
        f'<image xlink:href="{spy_url}/svg.png" width="5" height="5"/>'
        '<rect width="10" height="10" fill="#123456"/></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def test_hostile_text_is_shown_not_obeyed(spy_server, secret_file: Path) -> None:
    url, hits = spy_server
    evil = " ".join(hostile(url, secret_file))
    ctx = make_ctx(footer=evil, description=evil)
    ctx.customer.name = evil
    ctx.customer.address_lines = [evil]
    ctx.invoice.lines[0].description = evil
    ctx.branding = ctx.branding.model_copy(
        update={
            "footer": evil,
            "legal_text": evil,
            "address_lines": [evil],
            "brand_color": "red;} @import url(file:///etc/passwd); h1{color:red",
            "accent_color": f"url({url}/accent.png)",
            # A legitimate data: logo whose SVG points at a file and at the network.
            "logo_data_uri": svg_logo(secret_file, url),
        }
    )
    html = render_document_html(DocumentKind.invoice, ctx, "en")
    assert "<link" not in html and '<img src="file' not in html and "@import" not in html.split("</style>")[0]
    assert "&lt;link rel=&#34;attachment&#34;" in html
    assert "file:///etc/passwd" not in html.split("</head>")[0]
    assert 'class="logo" src="data:image/svg+xml;base64,' in html

    pdf = render_document_pdf(DocumentKind.invoice, ctx, "en")
    assert attachments_of(pdf) == {}
    blob = everything_in(pdf)
    assert b"root:" not in blob and b"TOP-SECRET" not in blob
    text = " ".join(pages_text(pdf))
    assert '<link rel="attachment" href="file:///etc/passwd">' in text  # shown as text
    assert hits == []


def test_the_fetcher_refuses_files_and_network_in_raw_html(spy_server, secret_file: Path) -> None:
    """Not through the templates: raw HTML and CSS straight into the rendering helper."""
    url, hits = spy_server
    fetcher = locked_fetcher()
    assert fetcher.fetch("data:text/plain,ok").read() == b"ok"
    for refused in [f"file://{secret_file}", f"{url}/direct", "FILE:///etc/passwd", "ftp://127.0.0.1/x"]:
        with pytest.raises(ValueError):
            fetcher.fetch(refused)
    html = (
        "<html><head>"
        + "".join(hostile(url, secret_file))
        + f'<link rel="stylesheet" href="file://{secret_file}"><link rel="attachment" href="secret.txt">'
        + '</head><body><p>Still rendered</p><img src="etc/passwd"></body></html>'
    )
    css = f"@import url(file:///etc/passwd); @import url({url}/extra.css); body {{ background: url({url}/bg.png) }}"
    html = html.replace("</body>", f'<img src="{svg_logo(secret_file, url)}"></body>')
    pdf = html_to_pdf(html, extra_css=(css,))
    assert "Still rendered" in pages_text(pdf)[0]
    assert attachments_of(pdf) == {}
    blob = everything_in(pdf)
    assert b"root:" not in blob and b"TOP-SECRET" not in blob
    assert hits == []


def test_a_non_data_logo_is_dropped() -> None:
    ctx = make_ctx()
    ctx.branding.logo_data_uri = "file:///etc/passwd"
    assert "<img" not in render_document_html(DocumentKind.invoice, ctx, "en")


def test_the_leak_checks_would_catch_a_leak(secret_file: Path) -> None:
    """Control: WeasyPrint's default fetcher does embed the file, and the checks above see it."""
    from weasyprint import HTML

    pdf = HTML(string=f'<link rel="attachment" href="file://{secret_file}"><p>x</p>').write_pdf()
    assert any(b"TOP-SECRET" in b"".join(v) for v in attachments_of(pdf).values())
    assert b"TOP-SECRET" in everything_in(pdf)


def test_page_counter_label_cannot_break_out_of_css() -> None:
    assert str(css_page_counter("Page {page} of {pages}")) == '"Page " counter(page) " of " counter(pages)'
    value = str(css_page_counter('x"}</style><link href="file:///x">{page}'))
    token = r'(?:"(?:[^"\\<>]|\\[0-9a-f]+ )*"|counter\(pages?\))'
    assert re.fullmatch(rf"{token}(?: {token})*", value), value


# ---- process pool ------------------------------------------------------------------


def test_the_pool_renders_what_a_direct_call_renders(invoice_fr: bytes) -> None:
    from relance.rendering.pdf_pool import configure_pool, render_pdf_in_pool, shutdown_pool

    configure_pool(1)
    try:
        with ThreadPoolExecutor(max_workers=3) as threads:
            results = list(threads.map(lambda _: render_pdf_in_pool(DocumentKind.invoice, make_ctx(), "fr"), range(3)))
    finally:
        shutdown_pool()
    for pdf in results:
        assert pages_text(pdf) == pages_text(invoice_fr)


# ---- translations ------------------------------------------------------------------


@pytest.mark.parametrize("locale", [loc for loc in supported_locales() if loc != "en"])
def test_pdf_catalog_is_complete(locale: str) -> None:
    """Every string of every PDF template translated in every shipped locale (pdf.po and
    documents.po, merged as at load)."""
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "pdf.po").open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "documents.po").open("rb") as fh:
        for message in read_po(fh, locale=locale):
            if message.id:
                catalog[message.id] = message
    extracted = {
        msg
        for _, _, msg, _, _ in extract_from_dir(
            str(PDF_TEMPLATES_DIR),
            method_map=[("**.html", "jinja2")],
            options_map={"**.html": {"trimmed": "true", "extensions": "jinja2.ext.i18n"}},
        )
    }
    assert extracted, "no messages extracted"
    ids = set()
    for msg in extracted:
        msgid = msg[0] if isinstance(msg, tuple) else msg
        ids.add(msgid)
        entry = catalog.get(msgid)
        assert entry is not None, f"missing: {msgid!r}"
        assert not entry.fuzzy, msgid
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert all(strings), f"untranslated: {msgid!r}"
        if isinstance(msg, tuple):
            assert entry.pluralizable and len(strings) == catalog.num_plurals, msgid
    assert {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id} == ids, "stale entries"
    problems = [(m.id, errs) for m, errs in catalog.check()]
    assert problems == []
