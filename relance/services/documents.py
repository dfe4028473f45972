"""The PDFs an email carries: which stored document a request names, and what to render
when it is not stored yet. Rendering itself goes through relance.rendering.pdf_pool."""

from __future__ import annotations

import hashlib
import json

from sqlmodel import Session

from relance.contracts.account import AccountSettings
from relance.contracts.documents import DocumentFacts, PaymentFacts
from relance.contracts.einvoice import EInvoiceOptions, EInvoiceOutcome, EInvoiceSettings, effective_profile
from relance.contracts.email_context import CustomerView
from relance.contracts.events import CreditNote, Invoice, TaxRateObject
from relance.contracts.kinds import DocumentKind
from relance.contracts.models import DocumentRequest
from relance.rendering.context import customer_view, invoice_view, time_zone_for
from relance.rendering.pdf import DocumentContext
from relance.rules.document_facts import credit_note_facts, invoice_facts, tax_rate_ids
from relance.services.payments import receipt_payment_facts
from relance.storage.customers import get_customer
from relance.storage.documents import get_document, has_document, outcome_key, put_document, xml_key
from relance.storage.invoices import load_current_invoice, load_invoice_document
from relance.storage.payments import payment_facts_for
from relance.storage.settings_store import load_settings
from relance.storage.tables import CustomerRecord
from relance.storage.tax_rates import known_tax_rates


def shown_tax_rates(session: Session, inv: Invoice | None, credit_note: CreditNote | None) -> dict[str, TaxRateObject]:
    """The tax rates Relance knows of those the document names (its lines and totals)."""
    if credit_note is not None:
        return known_tax_rates(session, tax_rate_ids(credit_note))
    return known_tax_rates(session, tax_rate_ids(inv)) if inv is not None else {}


def tax_rates_version(rates: dict[str, TaxRateObject]) -> str | None:
    """Which descriptions of its tax rates a document shows, as a digest; None when it
    knows none (its percentages are derived). A rate learned or changed after a PDF was
    rendered gives another digest, so the next email renders the PDF anew; a repeated
    tax_rate event gives the same one."""
    if not rates:
        return None
    shown = {rate_id: rates[rate_id].model_dump(mode="json", exclude_none=True) for rate_id in sorted(rates)}
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:16]


def document_facts(
    session: Session,
    kind: DocumentKind,
    settings: AccountSettings,
    customer: CustomerView,
    inv: Invoice | None,
    credit_note: CreditNote | None,
    payment: PaymentFacts | None = None,
    rates: dict[str, TaxRateObject] | None = None,
) -> DocumentFacts | None:
    """What the document states, with the tax rates Relance knows by id (`rates`: those
    `shown_tax_rates` read already). `payment`: how a receipt's invoice was paid, when
    known."""
    if rates is None:
        rates = shown_tax_rates(session, inv, credit_note)
    if credit_note is not None:
        corrected = load_current_invoice(session, credit_note.invoice) if credit_note.invoice else None
        return credit_note_facts(credit_note, settings, rates, customer, corrected)
    if inv is None:
        return None
    if kind is DocumentKind.receipt:
        return invoice_facts(inv, settings, rates, customer, payment, "receipt")
    return invoice_facts(inv, settings, rates, customer, payment)


def _paid_with(session: Session, kind: DocumentKind, inv: Invoice | None) -> PaymentFacts | None:
    # A receipt states how it was paid, from the payment events Relance has received;
    # an invoice's e-invoice names the method its attempts used (payment means).
    if inv is None:
        return None
    if kind is DocumentKind.receipt:
        return receipt_payment_facts(session, inv)
    return payment_facts_for(session, inv.id, "succeeded") or payment_facts_for(session, inv.id, "failed")


def document_to_render(
    session: Session, req: DocumentRequest, payment: PaymentFacts | None = None
) -> tuple[str, DocumentContext | None]:
    """The stored document's key, and what to render under it (None: already stored)."""
    settings, version = load_settings(session)
    inv = None
    if req.invoice_id and req.revision:
        inv = load_invoice_document(session, req.invoice_id, req.revision)
    customer_id = req.customer_id or (inv.customer if inv else "")
    customer = get_customer(session, customer_id)
    einvoice = _einvoice(req.kind, settings.einvoice, customer)
    if req.credit_note is not None:
        shown = req.credit_note.model_dump_json() + (req.credit_note_document or req.credit_note).model_dump_json()
        digest = hashlib.sha256(shown.encode()).hexdigest()[:24]
        key = f"pdf:credit_note:{req.credit_note.id}:{digest}:{req.locale}:s{version}"
    else:
        assert req.invoice_id and req.revision
        # Rendered once per invoice revision, locale and settings version, then reused
        # by every email that attaches it.
        key = f"pdf:{req.kind.value}:{req.invoice_id}:{req.revision[:24]}:{req.locale}:s{version}"
    if einvoice is not None:
        # The customer's profile is not in the settings version: a change renders anew.
        key += f":{einvoice.profile}{'+xml' if einvoice.attach_xml else ''}"
    rates = shown_tax_rates(session, inv, req.credit_note_document)
    if (rates_version := tax_rates_version(rates)) is not None:
        # Nor are the tax rates learned since the revision: one learned later renders anew.
        key += f":t{rates_version}"
    if has_document(session, key):
        return key, None
    view = customer_view(customer, customer_id, inv)
    return key, DocumentContext(
        branding=settings.branding,
        customer=view,
        invoice=invoice_view(inv) if inv else None,
        credit_note=req.credit_note,
        timezone=time_zone_for(settings, customer),
        facts=document_facts(
            session,
            req.kind,
            settings,
            view,
            inv,
            req.credit_note_document,
            payment or _paid_with(session, req.kind, inv),
            rates,
        ),
        einvoice=einvoice,
    )


def _einvoice(
    kind: DocumentKind, settings: EInvoiceSettings, customer: CustomerRecord | None
) -> EInvoiceOptions | None:
    """The e-invoice an invoice or credit note PDF carries; None for receipts and when off."""
    if kind not in (DocumentKind.invoice, DocumentKind.credit_note):
        return None
    profile = effective_profile(settings, customer.einvoice_profile if customer else None)
    return None if profile == "off" else EInvoiceOptions(profile=profile, attach_xml=settings.attach_xml)


def store_document(
    session: Session, key: str, pdf: bytes, einvoice: EInvoiceOutcome | None = None, xml: bytes | None = None
) -> None:
    if einvoice is not None:
        put_document(session, outcome_key(key), einvoice.model_dump_json().encode(), "application/json")
    if xml is not None:
        put_document(session, xml_key(key), xml, "text/xml")
    put_document(session, key, pdf, "application/pdf")


def stored_einvoice(session: Session, key: str) -> tuple[EInvoiceOutcome | None, bool]:
    """What became of the e-invoice of the PDF stored under `key`, and whether its XML is
    kept as an attachment of its own."""
    if not has_document(session, outcome_key(key)):
        return None, False
    return EInvoiceOutcome.model_validate_json(get_document(session, outcome_key(key))), has_document(
        session, xml_key(key)
    )
