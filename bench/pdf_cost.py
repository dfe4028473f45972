"""What Relance adds to WeasyPrint's own cost for an invoice PDF.

For invoices of about 1, 8 and 50 pages, times (median of a few runs, warm process):
- relance_ms: `render_document_pdf` (Jinja2 + locked fetcher + cached CSS + PDF/A-3b);
- html_ms: the Jinja2 part alone;
- no_pdfa_ms: the same without PDF/A-3b;
- bare_ms: WeasyPrint's defaults on the same HTML and CSS (CSS parsed each time, no
  PDF/A, default fetcher): what a naive integration would pay.

    .venv/bin/python bench/pdf_cost.py [--runs 3] [--without-harfbuzz-subset] [--targets 1,8,50]
        [--scripts en,ja,...] [--no-einvoice]

Also the e-invoice ("einvoice"): per profile, compiling its schematron (once per
process), then per invoice building the CII XML from the one-page invoice's facts, its
XSD check and its schematron check (warm, median), and the one-page PDF with the XML
embedded against the plain one (goal: build + checks under 0.15 s).

Also the one-page invoice in en, ja, zh-Hant-TW, ko, ar and th ("scripts": time and
size; a customer in that script, the fonts templates/pdf/pdf.css picks for it, embedded
as subsets), and the same without relance.rendering.pdf_fonts subsetting large fonts
again ("uncompacted_": WeasyPrint's subsets as they are, which keep every glyph slot up
to the highest one drawn: ~63,000 for Noto Sans CJK).

--without-harfbuzz-subset makes WeasyPrint take the path it takes when Debian's
libharfbuzz-subset0 is missing (fontTools subsetting), without uninstalling the package
(Chromium depends on it here): both Relance and bare WeasyPrint are measured that way.

Prints JSON. Not a test: numbers depend on the machine (and vary by ±5% on a busy one).
"""

from __future__ import annotations

import argparse
import ctypes.util
import io
import json
import platform
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import weasyprint.pdf.fonts  # noqa: E402
import weasyprint.text.ffi  # noqa: E402
from pypdf import PdfReader  # noqa: E402
from pypdf.generic import DictionaryObject  # noqa: E402
from weasyprint import CSS, HTML  # noqa: E402

import relance.contracts.documents as doc  # noqa: E402
import relance.rendering.pdf as pdf_module  # noqa: E402
from relance.contracts.einvoice import EInvoiceOptions  # noqa: E402
from relance.contracts.email_context import Branding, CustomerView, InvoiceView, LineItem  # noqa: E402
from relance.contracts.kinds import DocumentKind  # noqa: E402
from relance.rendering.pdf import (  # noqa: E402
    PDF_TEMPLATES_DIR,
    PDF_VARIANT,
    DocumentContext,
    render_document_html,
    render_document_pdf,
    warm,
)

START = datetime(2026, 3, 1, tzinfo=UTC)


def invoice(n_lines: int) -> DocumentContext:
    lines = [
        LineItem(
            description=f"Usage, project {i}",
            quantity=i % 9 + 1,
            amount=1999 * (i + 1),
            currency="eur",
            period_start=START,
            period_end=START + timedelta(days=30),
        )
        for i in range(n_lines)
    ]
    total = sum(line.amount for line in lines)
    return DocumentContext(
        branding=Branding(
            business_name="Acme SAS",
            address_lines=["1 rue de la Paix", "75002 Paris"],
            support_email="billing@acme.test",
            footer="Thank you.",
            legal_text="SIREN 123 456 789",
        ),
        customer=CustomerView(id="cus_1", name="Zoé Martin", address_lines=["3 av. Foch", "69006 Lyon"]),
        invoice=InvoiceView(
            id="in_1",
            number="INV-0001",
            currency="eur",
            subtotal=total,
            tax=0,
            total=total,
            amount_due=total,
            amount_remaining=total,
            created=START,
            due_date=START + timedelta(days=30),
            lines=lines,
        ),
    )


# One-page invoices in other scripts: the customer's name and address in that script.
SCRIPT_CUSTOMERS = {
    "en": ("Zoë O'Brien", ["221B Baker Street", "London NW1 6XE"]),
    "ja": ("山田 太郎 様", ["東京都千代田区丸の内１－１", "〒100-0005"]),
    "zh-Hant-TW": ("陳大文", ["臺北市信義區市府路45號", "110"]),
    "ko": ("김민준", ["서울특별시 중구 세종대로 110", "04524"]),
    "ar": ("محمد عبد الله", ["شارع الملك فهد ١٢", "الرياض ١١٥٦٤"]),
    "th": ("สมชาย ใจดี", ["123 ถนนสุขุมวิท", "กรุงเทพมหานคร 10110"]),
}


def font_program_bytes(pdf: bytes) -> int:
    """The embedded font programs, uncompressed."""
    total = 0
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources: Any = page["/Resources"].get_object()
        for font in resources["/Font"].values():
            descriptor = font.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            total += len((descriptor.get("/FontFile2") or descriptor["/FontFile3"]).get_object().get_data())
    return total


def timed(fn, samples: list[float]):
    """`fn`, adding the seconds each call takes to `samples`."""

    def wrapper(*args):
        t = time.perf_counter()
        fn(*args)
        samples.append(time.perf_counter() - t)

    return wrapper


def script_results(runs: int, locales: list[str]) -> list[dict[str, object]]:
    out = []
    for locale in locales:
        name, address = SCRIPT_CUSTOMERS[locale]
        ctx = invoice(lines_for(1))
        ctx.customer = ctx.customer.model_copy(update={"name": name, "address_lines": address})
        warm([locale])
        pdf = render_document_pdf(DocumentKind.invoice, ctx, locale)
        render = partial(render_document_pdf, DocumentKind.invoice, ctx, locale)
        # Alternating runs with and without, so that a busy machine weighs on both alike,
        # in wall and CPU time (the process's: steadier when other work shares the cores);
        # compact_ms: the time in compact_fonts alone.
        compact = pdf_module.compact_fonts
        compact_s: list[float] = []
        with_s: list[float] = []
        without_s: list[float] = []
        with_cpu: list[float] = []
        without_cpu: list[float] = []

        try:
            for _ in range(runs):
                pdf_module.compact_fonts = lambda pdf: None
                t, cpu = time.perf_counter(), time.process_time()
                uncompacted = render()
                without_s.append(time.perf_counter() - t)
                without_cpu.append(time.process_time() - cpu)
                pdf_module.compact_fonts = timed(compact, compact_s)
                t, cpu = time.perf_counter(), time.process_time()
                render()
                with_s.append(time.perf_counter() - t)
                with_cpu.append(time.process_time() - cpu)
        finally:
            pdf_module.compact_fonts = compact
        fonts = embedded_fonts(pdf)
        out.append(
            {
                "locale": locale,
                "pages": pages(pdf),
                "relance_ms": round(statistics.median(with_s) * 1000, 1),
                "relance_cpu_ms": round(statistics.median(with_cpu) * 1000, 1),
                "compact_ms": round(statistics.median(compact_s) * 1000, 2),
                "bytes": len(pdf),
                "font_program_bytes": font_program_bytes(pdf),
                "uncompacted_ms": round(statistics.median(without_s) * 1000, 1),
                "uncompacted_cpu_ms": round(statistics.median(without_cpu) * 1000, 1),
                "uncompacted_bytes": len(uncompacted),
                "uncompacted_font_program_bytes": font_program_bytes(uncompacted),
                "fonts": fonts,
            }
        )
    return out


def embedded_fonts(pdf: bytes) -> list[str]:
    """The fonts the pages use, without their subset prefix (ABCDEF+)."""
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = page["/Resources"].get_object()
        assert isinstance(resources, DictionaryObject)
        fonts = resources["/Font"].get_object()
        assert isinstance(fonts, DictionaryObject)
        names |= {str(f.get_object()["/BaseFont"]).split("+", 1)[-1] for f in fonts.values()}
    return sorted(names)


def pages(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def lines_for(target_pages: int) -> int:
    """About `target_pages` worth of lines, from a straight-line fit of pages against
    lines (the first page holds fewer rows). The JSON reports the pages actually made."""
    if target_pages == 1:
        return 8
    p1, p2 = (pages(render_document_pdf(DocumentKind.invoice, invoice(n), "fr")) for n in (40, 200))
    return max(1, round(40 + (target_pages - p1) * 160 / (p2 - p1)))


def median_ms(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return round(statistics.median(samples) * 1000, 1)


def facts_of(ctx: DocumentContext) -> doc.DocumentFacts:
    """The one-page invoice's facts, at 20 % VAT, between two French companies."""
    assert ctx.invoice is not None
    rate = doc.TaxRate(id="txr_20", percentage=Decimal(20), display_name="TVA")
    lines = [
        doc.DocumentLine(
            description=li.description,
            quantity=Decimal(li.quantity or 1),
            unit_amount_excluding_tax=Decimal(li.amount) / (li.quantity or 1),
            amount=li.amount,
            period_start=li.period_start,
            period_end=li.period_end,
            taxes=[doc.TaxAmount(rate=rate, amount=li.amount // 5, taxable_amount=li.amount)],
        )
        for li in ctx.invoice.lines
    ]
    net = sum(li.amount for li in lines)
    tax = sum(li.taxes[0].amount for li in lines)
    address = doc.PostalAddress(line1="1 rue de la Paix", postal_code="75002", city="Paris", country="FR")
    return doc.DocumentFacts(
        type="invoice",
        id=ctx.invoice.id,
        number=ctx.invoice.number,
        currency="eur",
        issue_date=START,
        due_date=START + timedelta(days=30),
        seller=doc.Party(
            name="Acme SAS",
            address=address,
            tax_ids=[doc.TaxId(type="eu_vat", value="FR40123456789")],
            # What XRechnung adds: the seller contact, the buyer reference, the account to pay.
            contact_name="Service facturation",
            phone="+33 1 23 45 67 89",
            email="facturation@acme.test",
        ),
        buyer=doc.Party(name="Zoé Martin SARL", address=address.model_copy(update={"city": "Lyon"})),
        buyer_reference="04011000-12345-34",
        payment_means=doc.PaymentMeans(code="58", iban="FR7630006000011234567890189", bic="BNPAFRPP"),
        lines=lines,
        totals=doc.DocumentTotals(
            subtotal=net,
            taxes=[doc.TaxAmount(rate=rate, amount=tax, taxable_amount=net)],
            total_excluding_tax=net,
            total=net + tax,
            amount_remaining=net + tax,
        ),
    )


def einvoice_results(runs: int) -> dict[str, object]:
    from relance.rendering.einvoice import validate
    from relance.rendering.einvoice.cii import build_cii
    from relance.rendering.einvoice.render import render_document

    ctx = invoice(lines_for(1))
    facts = facts_of(ctx)
    profiles: list[dict[str, object]] = []
    for name in ("basic", "en16931", "extended", "xrechnung"):
        t = time.perf_counter()
        validate.warm((name,))
        compile_s = round(time.perf_counter() - t, 2)
        xml = build_cii(facts, name)
        assert validate.validate(xml, name) == [], name
        build = median_ms(partial(build_cii, facts, name), max(runs, 5))
        xsd = median_ms(partial(validate.check_xsd, xml, name), max(runs, 5))
        schematron = median_ms(partial(validate.check_schematron, xml, name), max(runs, 5))
        profiles.append(
            {
                "profile": name,
                "compile_and_first_run_s": compile_s,
                "build_ms": build,
                "xsd_ms": xsd,
                "schematron_ms": schematron,
                "per_invoice_ms": round(build + xsd + schematron, 1),
                "xml_bytes": len(xml),
            }
        )
    with_xml = ctx.model_copy(update={"facts": facts, "einvoice": EInvoiceOptions(profile="en16931")})
    return {
        "profiles": profiles,
        "one_page_plain_ms": median_ms(partial(render_document_pdf, DocumentKind.invoice, ctx, "fr"), runs),
        "one_page_en16931_ms": median_ms(partial(render_document, DocumentKind.invoice, with_xml, "fr"), runs),
    }


def bare_weasyprint(html: str, css_text: str) -> bytes:
    """The same document through WeasyPrint alone: the floor Relance's PDF is measured against."""
    return HTML(string=html).write_pdf(stylesheets=[CSS(string=css_text)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--without-harfbuzz-subset", action="store_true")
    parser.add_argument("--targets", default="1,8,50", help="invoice sizes in pages, comma-separated")
    parser.add_argument("--scripts", default=",".join(SCRIPT_CUSTOMERS), help="locales of the one-page invoices")
    parser.add_argument("--no-einvoice", action="store_true")
    args = parser.parse_args()
    if args.without_harfbuzz_subset:
        # WeasyPrint checks this module global on every font it embeds; None is what its
        # loader leaves when the library is not found.
        weasyprint.text.ffi.harfbuzz_subset = weasyprint.pdf.fonts.harfbuzz_subset = None

    warm(["fr"])
    css_text = (PDF_TEMPLATES_DIR / "pdf.css").read_text("utf-8")
    results = []
    for target in [int(t) for t in args.targets.split(",") if t]:
        n = lines_for(target)
        ctx = invoice(n)
        html = render_document_html(DocumentKind.invoice, ctx, "fr")
        relance_pdf = render_document_pdf(DocumentKind.invoice, ctx, "fr")
        bare_pdf = bare_weasyprint(html, css_text)
        relance = median_ms(partial(render_document_pdf, DocumentKind.invoice, ctx, "fr"), args.runs)
        pdf_module.PDF_VARIANT = None
        no_pdfa = median_ms(partial(render_document_pdf, DocumentKind.invoice, ctx, "fr"), args.runs)
        pdf_module.PDF_VARIANT = PDF_VARIANT
        bare = median_ms(partial(bare_weasyprint, html, css_text), args.runs)
        results.append(
            {
                "target_pages": target,
                "lines": n,
                "pages": pages(relance_pdf),
                "bare_pages": pages(bare_pdf),
                "relance_ms": relance,
                "no_pdfa_ms": no_pdfa,
                "html_ms": median_ms(partial(render_document_html, DocumentKind.invoice, ctx, "fr"), args.runs),
                "bare_ms": bare,
                "overhead_pct": round(100 * (relance - bare) / bare, 1),
                "relance_bytes": len(relance_pdf),
                "bare_bytes": len(bare_pdf),
                # Sizes run in increasing order, so this is the peak of a process that rendered
                # documents up to this size (both ways), in MB.
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    print(
        json.dumps(
            {
                "python": platform.python_version(),
                "runs": args.runs,
                # WeasyPrint subsets fonts with HarfBuzz when Debian's libharfbuzz-subset0
                # is there (4-5x faster than its fontTools fallback).
                "libharfbuzz_subset_installed": ctypes.util.find_library("harfbuzz-subset") is not None,
                "libharfbuzz_subset_used": weasyprint.pdf.fonts.harfbuzz_subset is not None,
                "results": results,
                "scripts": script_results(args.runs, [loc for loc in args.scripts.split(",") if loc]),
                "einvoice": None if args.no_einvoice else einvoice_results(args.runs),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
