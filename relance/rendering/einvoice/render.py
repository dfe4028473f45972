"""One document with its e-invoice: build the XML from the facts, validate it, and
embed it only when valid. An invalid one is never embedded: the plain PDF is returned
with the failed rules, for the email log and the `einvoice.invalid` webhook."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup

from relance.contracts.documents import DocumentFacts
from relance.contracts.einvoice import EInvoiceOutcome, RuleFailure
from relance.contracts.kinds import DocumentKind
from relance.rendering.einvoice.cii import DocumentTexts, build_cii
from relance.rendering.einvoice.embed import EmbeddedXml
from relance.rendering.einvoice.profiles import profile
from relance.rendering.einvoice.validate import checked_with, validate
from relance.rendering.pdf import (
    DocumentContext,
    _check,
    _template_vars,
    _tz,
    environment,
    html_to_pdf,
    render_document_html,
)

_E_INVOICES = (DocumentKind.invoice, DocumentKind.credit_note)


@dataclass(frozen=True)
class RenderedDocument:
    pdf: bytes
    einvoice: EInvoiceOutcome | None = None
    xml: bytes | None = None  # the embedded XML, when it also goes as a file of its own


@dataclass(frozen=True)
class BuiltXml:
    xml: bytes | None
    outcome: EInvoiceOutcome


_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\r\n]+")


def _text(rendered: str) -> str:
    # A macro's HTML as plain text; no-break spaces (French amounts) stay as they are.
    return _SPACES.sub(" ", html.unescape(_TAG.sub("", str(Markup(rendered))))).strip()


def document_texts(ctx: DocumentContext, facts: DocumentFacts, locale: str) -> DocumentTexts:
    """The legal mentions and payment terms as the page words them, by the same macros."""
    module = environment(locale).get_template("_facts.html").make_module(_template_vars(ctx, locale))
    mention, terms = getattr(module, "mention_text"), getattr(module, "payment_terms_text")  # noqa: B009
    mentions = {code: _text(mention(facts, code)) for code in facts.legal_mentions}
    return DocumentTexts(
        mentions={code: text for code, text in mentions.items() if text},
        payment_terms=_text(terms(facts)) or None,
    )


def build_and_check(kind: DocumentKind, ctx: DocumentContext, locale: str = "en") -> BuiltXml | None:
    """None: this document carries no e-invoice (off, or a receipt)."""
    options = ctx.einvoice
    if options is None or options.profile == "off" or DocumentKind(kind) not in _E_INVOICES:
        return None
    p = profile(options.profile)
    facts = ctx.facts
    if facts is None or facts.type == "receipt":
        failure = RuleFailure(rule="facts", text="the document has no facts to build an e-invoice from")
        return BuiltXml(None, EInvoiceOutcome(profile=p.name, status="skipped", failures=[failure]))
    try:
        xml = build_cii(facts, p.name, _tz(ctx.timezone), document_texts(ctx, facts, locale))
    except (ValueError, ArithmeticError) as exc:
        failure = RuleFailure(rule="build", text=str(exc))
        return BuiltXml(None, EInvoiceOutcome(profile=p.name, status="invalid", failures=[failure]))
    failures = validate(xml, p.name)
    status = "invalid" if failures else "embedded"
    outcome = EInvoiceOutcome(
        profile=p.name,
        status=status,
        filename=p.filename,
        failures=failures,
        checked_with=checked_with(p.name),
    )
    return BuiltXml(xml if not failures else None, outcome)


def render_document(kind: DocumentKind, ctx: DocumentContext, locale: str) -> RenderedDocument:
    """The PDF, carrying its e-invoice when the profile is on and the XML is valid."""
    kind = DocumentKind(kind)
    _check(kind, ctx)
    built = build_and_check(kind, ctx, locale)
    html = render_document_html(kind, ctx, locale)
    if built is None or built.xml is None:
        return RenderedDocument(html_to_pdf(html), built.outcome if built else None)
    assert ctx.einvoice is not None and ctx.facts is not None
    p = profile(ctx.einvoice.profile)
    issued = ctx.facts.issue_date or datetime(1970, 1, 1, tzinfo=UTC)
    embedded = EmbeddedXml(p.filename, built.xml, p.xmp_level, issued.astimezone(UTC).replace(tzinfo=None))
    pdf = html_to_pdf(html, embedded=embedded)
    return RenderedDocument(pdf, built.outcome, built.xml if ctx.einvoice.attach_xml else None)
