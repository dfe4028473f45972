"""Right to left: Arabic and Hebrew emails and PDFs carry dir="rtl", mirror their layout
and keep amounts, dates, ids and emails isolated; left-to-right output does not move.

The PDF checks read where WeasyPrint drew each text run (pypdf's text visitor): in an
Arabic invoice the customer block is on the right half of the page and the summary
amount on the left, and the reverse in English."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from relance.contracts.kinds import DocumentKind, EmailKind
from relance.rendering.bidi import FSI, LRI, PDI, isolate_html, isolate_text, isolation_filters, text_direction
from relance.rendering.custom import sample_context
from relance.rendering.email import render_email
from relance.rendering.pdf import DocumentContext, render_document_html, render_document_pdf


@pytest.mark.parametrize(
    ("locale", "direction"),
    [
        ("ar", "rtl"),
        ("he", "rtl"),
        ("ar-EG", "rtl"),
        ("fa", "rtl"),
        ("en", "ltr"),
        ("ja", "ltr"),
        ("zh_Hant_TW", "ltr"),
    ],
)
def test_direction_comes_from_cldr(locale: str, direction: str) -> None:
    assert text_direction(locale) == direction


def test_unknown_locale_is_left_to_right() -> None:
    assert text_direction("xx-Nope") == "ltr"


def test_isolates() -> None:
    assert isolate_html("INV-1 <b>", "ltr") == '<bdi dir="ltr">INV-1 &lt;b&gt;</bdi>'
    assert isolate_html("7 ديسمبر 2026") == "<bdi>7 ديسمبر 2026</bdi>"
    assert isolate_html("") == ""
    assert isolate_text("INV-1", "ltr") == f"{LRI}INV-1{PDI}"
    assert isolate_text("7 בדצמבר 2026") == f"{FSI}7 בדצמבר 2026{PDI}"


def test_left_to_right_filters_change_nothing() -> None:
    filters = isolation_filters("fr", True, {"money": lambda a, c: "1,00 €"})
    assert set(filters) == {"bdi"}
    assert filters["bdi"]("INV-1", "ltr") == "INV-1"


def _arabic_email(kind: EmailKind = EmailKind.invoice_finalized):
    return render_email(kind, sample_context(kind), "ar")


def test_arabic_email_is_rtl_with_isolated_values() -> None:
    rendered = _arabic_email()
    html = rendered.html
    assert '<html lang="ar" dir="rtl">' in html
    # Again inside, for clients that drop <html> and <body> attributes.
    assert 'class="wrapper"' in html and html.count('dir="rtl"') >= 4
    assert '<bdi dir="ltr">INV-2026-0042</bdi>' in html
    # The amount (with CLDR's U+200F) in a first-strong isolate.
    assert "<bdi>\u200f" in html
    # Mirrored alignment, inlined on the cells themselves.
    assert "text-align: right" in html.split('class="summary"')[1].split("</th>")[0]
    text = rendered.text
    assert f"{LRI}INV-2026-0042{PDI}" in text
    assert f"{FSI}\u200f" in text
    assert f"{LRI}INV-2026-0042{PDI}" in rendered.subject


def test_english_email_is_unchanged_by_isolation() -> None:
    rendered = render_email(EmailKind.invoice_finalized, sample_context(EmailKind.invoice_finalized), "en")
    assert 'dir="ltr"' in rendered.html
    assert "<bdi" not in rendered.html
    assert not {LRI, FSI, PDI} & set(rendered.text + rendered.subject)


def _document(name: str, address: list[str]) -> DocumentContext:
    ctx = sample_context(EmailKind.invoice_finalized)
    return DocumentContext(
        branding=ctx.branding,
        customer=ctx.customer.model_copy(update={"name": name, "address_lines": address, "email": "c@example.test"}),
        invoice=ctx.invoice,
    )


def _runs(pdf: bytes) -> list[tuple[float, str]]:
    """(x where a text object starts, its text) on page 1, in drawing order. WeasyPrint
    draws a line's pieces (one per font and direction run) from one text matrix, so the
    pieces that share it are joined."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    pieces: list[tuple[tuple[float, float], str]] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        origin = (tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5])
        if pieces and pieces[-1][0] == origin:
            pieces[-1] = (origin, pieces[-1][1] + text)
        else:
            pieces.append((origin, text))

    page.extract_text(visitor_text=visit)
    return [(origin[0], text.strip()) for origin, text in pieces if text.strip()]


def _x_of(runs: list[tuple[float, str]], needle: str) -> float:
    xs = [x for x, text in runs if needle in text]
    assert xs, f"{needle!r} not drawn: {runs}"
    return xs[0]


A4_MIDDLE = 595.28 / 2


def test_arabic_invoice_pdf_is_mirrored_and_reads_right() -> None:
    ctx = _document("محمد العلي", ["شارع الملك فهد", "الرياض"])
    html = render_document_html(DocumentKind.invoice, ctx, "ar")
    assert '<html lang="ar" dir="rtl">' in html
    assert '<bdi dir="ltr">INV-2026-0042</bdi>' in html
    assert '<bdi dir="ltr">c@example.test</bdi>' in html
    runs = _runs(render_document_pdf(DocumentKind.invoice, ctx, "ar"))
    # The customer block on the right, the document number and the summary on the left.
    assert _x_of(runs, "محمد العلي") > A4_MIDDLE
    assert _x_of(runs, "INV-2026-0042") < A4_MIDDLE
    assert _x_of(runs, ctx.branding.business_name) > A4_MIDDLE
    # Words in reading order, the id and the email whole (isolated from the Arabic).
    texts = [text for _, text in runs]
    assert "محمد العلي" in texts and "شارع الملك فهد" in texts
    assert "INV-2026-0042" in texts and "c@example.test" in texts
    # Amounts keep their digits in order, beside their currency.
    assert "€\xa01,234.50" in texts


def test_english_invoice_pdf_is_not_mirrored() -> None:
    ctx = _document("Zoé Martin", ["3 av. Foch", "69006 Lyon"])
    runs = _runs(render_document_pdf(DocumentKind.invoice, ctx, "en"))
    assert _x_of(runs, "Zoé Martin") < A4_MIDDLE
    assert _x_of(runs, ctx.branding.business_name) < A4_MIDDLE


def test_names_inside_arabic_sentences_are_isolated() -> None:
    # "Northwind Studio has sent you an invoice": the Latin business name sits in an
    # Arabic sentence; isolated, its space and the sentence's full stop stay in place.
    rendered = _arabic_email()
    business = sample_context(EmailKind.invoice_finalized).branding.business_name
    assert f"<bdi>{business}</bdi>" in rendered.html
    assert f"{FSI}{business}{PDI}" in rendered.text
    # Values a filter isolated already are not wrapped twice.
    assert "<bdi><bdi" not in rendered.html and f"{FSI}{FSI}" not in rendered.text


def test_custom_templates_isolate_like_the_defaults_in_right_to_left() -> None:
    from relance.rendering.custom import CustomTemplate, render_custom

    kind = EmailKind.invoice_finalized
    template = CustomTemplate(
        subject="{{ invoice.number|bdi('ltr') }}",
        html="<p>{{ branding.business_name|bdi }}: {{ invoice.amount_due|money(invoice.currency) }}</p>",
    )
    ctx = sample_context(kind)
    arabic = render_custom(kind, template, ctx, "ar")
    assert f"<bdi>{ctx.branding.business_name}</bdi>" in arabic.html
    assert "<bdi>\u200f" in arabic.html  # the amount, as in the default templates
    assert arabic.subject == f"{LRI}{ctx.invoice.number}{PDI}"
    english = render_custom(kind, template, ctx, "en")
    assert "<bdi" not in english.html and english.subject == ctx.invoice.number
