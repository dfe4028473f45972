"""Branded, localized PDF documents (invoice, receipt, credit note) with WeasyPrint.

Pure rendering: no Temporal, no database, no I/O beyond the templates. Customer and
account text ends up in these documents, and WeasyPrint would otherwise read file://
and http:// URLs (and embed `<link rel=attachment>` targets into the PDF), so every
HTML() and CSS() goes through `locked_fetcher()`, which only serves data: URLs.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment
from markupsafe import Markup
from pydantic import BaseModel

from relance.contracts.documents import DocumentFacts
from relance.contracts.einvoice import EInvoiceOptions
from relance.contracts.email_context import Branding, CreditNoteView, CustomerView, InvoiceView
from relance.contracts.kinds import DocumentKind
from relance.rendering.bidi import isolation_filters, text_direction
from relance.rendering.einvoice.embed import EmbeddedXml, write_options
from relance.rendering.environment import Filter, build_environment, locale_filters
from relance.rendering.formatting import (
    country_name,
    currency_name,
    format_percent,
    format_quantity,
    format_unit_money,
)
from relance.rendering.i18n import TEMPLATES_DIR
from relance.rendering.payment_methods import payment_method_label
from relance.rendering.pdf_fonts import compact_fonts

PDF_TEMPLATES_DIR = TEMPLATES_DIR / "pdf"

# Archival (ISO 19005-3, level B). WeasyPrint adds the sRGB output intent and XMP; it
# costs a few milliseconds per document.
PDF_VARIANT: str | None = "pdf/a-3b"

# The French fixed indemnity for recovery costs (Code de commerce, D441-5), in cents of EUR.
FR_RECOVERY_INDEMNITY = 4000

_DEFAULT_BRAND = Branding()
_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_LOGO = re.compile(r"data:image/(?:png|jpeg|gif|webp|svg\+xml)[;,]", re.IGNORECASE)


class DocumentContext(BaseModel):
    branding: Branding
    customer: CustomerView
    invoice: InvoiceView | None = None
    credit_note: CreditNoteView | None = None
    timezone: str = "UTC"
    # Everything the page states (parties, unit prices, tax per rate, totals, dates);
    # None: the document shows what the views carry.
    facts: DocumentFacts | None = None
    # An e-invoice profile to embed (invoices and credit notes only); None: a plain PDF.
    einvoice: EInvoiceOptions | None = None


# ---- the fetcher -------------------------------------------------------------------


@lru_cache(maxsize=1)
def _fetcher_class() -> type[Any]:
    # Imported lazily: the activity worker imports DocumentContext from here but only
    # pool processes render, and WeasyPrint is a heavy import.
    from weasyprint.urls import URLFetcher

    class LockedURLFetcher(URLFetcher):  # WeasyPrint ships no types: URLFetcher is Any here
        def fetch(self, url: str, headers: Any = None) -> Any:
            # Checked here as well as by allowed_protocols, so a change of that
            # option's meaning in a later WeasyPrint cannot open the disk.
            if url[:5].lower() != "data:":
                raise ValueError(f"only data: URLs are allowed, refused {url[:80]!r}")
            return super().fetch(url, headers)

    return LockedURLFetcher


def locked_fetcher() -> Any:
    """A fetcher that serves data: URLs and refuses everything else (file, http, ftp,
    relative paths). A refusal is not fatal: WeasyPrint logs it and renders without
    the resource, so hostile text cannot fail a document either."""
    return _fetcher_class()(allowed_protocols=("data",), allow_redirects=False, timeout=5)


# A fetcher keeps per-request state, so each render gets its own; the stylesheet is
# parsed once per process with one made for it.
_lock = threading.Lock()
_stylesheet: Any = None
_environments: dict[str, Environment] = {}


def base_stylesheet() -> Any:
    global _stylesheet
    with _lock:
        if _stylesheet is None:
            from weasyprint import CSS

            _stylesheet = CSS(string=(PDF_TEMPLATES_DIR / "pdf.css").read_text("utf-8"), url_fetcher=locked_fetcher())
        return _stylesheet


def html_to_pdf(html: str, extra_css: tuple[str, ...] = (), embedded: EmbeddedXml | None = None) -> bytes:
    """The only way HTML becomes a PDF here: base stylesheet, locked fetcher everywhere,
    large fonts subset again (relance.rendering.pdf_fonts); `embedded`: an e-invoice XML
    to carry (relance.rendering.einvoice)."""
    from weasyprint import CSS, HTML

    fetcher = locked_fetcher()
    stylesheets = [base_stylesheet(), *(CSS(string=css, url_fetcher=fetcher) for css in extra_css)]
    options = write_options(embedded, fetcher) if embedded is not None else {}
    embed = options.pop("finisher", None)

    def finisher(document: Any, pdf: Any) -> None:
        compact_fonts(pdf)
        if embed is not None:
            embed(document, pdf)

    # No base_url: relative references resolve to nothing rather than to the cwd.
    pdf: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf(
        stylesheets=stylesheets, pdf_variant=PDF_VARIANT, finisher=finisher, **options
    )
    return pdf


# ---- templates ---------------------------------------------------------------------


def _tz(name: str) -> str:
    try:
        ZoneInfo(name)
        return name
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"


def _css_string(text: str) -> str:
    # Hex escapes for anything but letters, digits and spaces: a translation can then
    # neither close the string nor the <style> element.
    return '"' + "".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text) + '"'


def css_page_counter(label: str) -> Markup:
    """`Page {page} of {pages}` (already translated) -> a CSS `content` value."""
    text = label.unescape() if isinstance(label, Markup) else label
    parts = []
    for piece in re.split(r"(\{page\}|\{pages\})", text):
        if piece == "{page}":
            parts.append("counter(page)")
        elif piece == "{pages}":
            parts.append("counter(pages)")
        elif piece:
            parts.append(_css_string(piece))
    return Markup(" ".join(parts) or '""')


def _nowrap(text: str) -> str:
    # Keeps "16 mars 2026" on one line when a sentence around it wraps.
    return text.replace(" ", "\u00a0")


def _document_filters(locale: str) -> dict[str, Filter]:
    """The facts' own formats: unit prices finer than a cent, percentages, decimal
    quantities, and country and currency names in the document's language."""
    return {
        "unit_money": lambda amount, currency: "" if amount is None else format_unit_money(amount, currency, locale),
        "percent": lambda value: "" if value is None else format_percent(value, locale),
        "quantity": lambda value: "" if value is None else format_quantity(value, locale),
        "country": lambda code: country_name(code, locale),
        "currency_name": lambda code: currency_name(code, locale),
        # Named as the emails name it: "Visa •••• 4242", "SEPA Debit •••• 3000".
        "payment_method": payment_method_label,
    }


def _build_environment(locale: str) -> Environment:
    filters: dict[str, Filter] = {"nowrap": _nowrap, "css_page_counter": css_page_counter}
    # Amounts, dates and ids in <bdi> in right-to-left documents.
    filters.update(_document_filters(locale))
    filters.update(isolation_filters(locale, True, {**locale_filters(locale), **_document_filters(locale)}))
    return build_environment(locale, PDF_TEMPLATES_DIR, escaping="all", filters=filters)


def environment(locale: str) -> Environment:
    with _lock:
        env = _environments.get(locale)
        if env is None:
            env = _environments[locale] = _build_environment(locale)
        return env


def _template_vars(ctx: DocumentContext, locale: str) -> dict[str, Any]:
    b = ctx.branding
    issued = ctx.credit_note.created if ctx.credit_note else ctx.invoice.created if ctx.invoice else None
    if ctx.facts is not None and ctx.facts.issue_date is not None:
        issued = ctx.facts.issue_date
    return dict(
        facts=ctx.facts,
        # A variable, not a literal in the template: Jinja folds a filter over constants
        # at compile time, and compiled templates are shared by every locale.
        recovery_indemnity=FR_RECOVERY_INDEMNITY,
        branding=b,
        customer=ctx.customer,
        invoice=ctx.invoice,
        credit_note=ctx.credit_note,
        timezone=_tz(ctx.timezone),
        lang=locale.replace("_", "-"),
        dir=text_direction(locale),
        # Colours go into a <style> element, where autoescape protects nothing.
        brand_color=b.brand_color if _COLOR.fullmatch(b.brand_color or "") else _DEFAULT_BRAND.brand_color,
        accent_color=b.accent_color if _COLOR.fullmatch(b.accent_color or "") else _DEFAULT_BRAND.accent_color,
        logo=b.logo_data_uri if b.logo_data_uri and _LOGO.match(b.logo_data_uri) else None,
        # The document's own date rather than the render time: re-rendering the same
        # revision gives the same PDF.
        created_w3c=_w3c(issued),
    )


def _w3c(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check(kind: DocumentKind, ctx: DocumentContext) -> None:
    needed = "credit_note" if kind is DocumentKind.credit_note else "invoice"
    if getattr(ctx, needed) is None:
        raise ValueError(f"a {kind.value} document needs ctx.{needed}")


def render_document_html(kind: DocumentKind, ctx: DocumentContext, locale: str) -> str:
    """The document's HTML; styled only with pdf.css, which `html_to_pdf` adds."""
    kind = DocumentKind(kind)
    _check(kind, ctx)
    template = environment(locale).get_template(f"{kind.value}.html")
    return template.render(_template_vars(ctx, locale))


def render_document_pdf(kind: DocumentKind, ctx: DocumentContext, locale: str) -> bytes:
    """Renders in the calling thread; workers go through relance.rendering.pdf_pool instead."""
    return html_to_pdf(render_document_html(kind, ctx, locale))


def warm(locales: list[str] | None = None) -> None:
    """Pay the one-off costs (imports, template compilation, CSS parsing, font loading)
    before the first real document, e.g. in a pool worker's initializer."""
    from relance.rendering.i18n import supported_locales

    for locale in locales or supported_locales():
        env = environment(locale)
        for kind in DocumentKind:
            env.get_template(f"{kind.value}.html")
    html_to_pdf('<p style="font-weight: bold">Warm-up 1\u202f234,50\u00a0€</p><p>x</p>')
