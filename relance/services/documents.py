"""The PDFs an email carries: which stored document a request names, and what to render
when it is not stored yet. Rendering itself goes through relance.rendering.pdf_pool."""

from __future__ import annotations

import hashlib

from sqlmodel import Session

from relance.contracts.einvoice import EInvoiceOptions, EInvoiceOutcome, EInvoiceSettings, effective_profile
from relance.contracts.kinds import DocumentKind
from relance.contracts.models import DocumentRequest
from relance.rendering.context import customer_view, invoice_view, time_zone_for
from relance.rendering.pdf import DocumentContext
from relance.storage.customers import get_customer
from relance.storage.documents import get_document, has_document, outcome_key, put_document, xml_key
from relance.storage.invoices import load_invoice_document
from relance.storage.settings_store import load_settings
from relance.storage.tables import CustomerRecord


def document_to_render(session: Session, req: DocumentRequest) -> tuple[str, DocumentContext | None]:
    """The stored document's key, and what to render under it (None: already stored)."""
    settings, version = load_settings(session)
    inv = None
    if req.invoice_id and req.revision and not req.customer_id:
        inv = load_invoice_document(session, req.invoice_id, req.revision)
    customer_id = req.customer_id or (inv.customer if inv else "")
    customer = get_customer(session, customer_id)
    einvoice = _einvoice(req.kind, settings.einvoice, customer)
    if req.credit_note is not None:
        digest = hashlib.sha256(req.credit_note.model_dump_json().encode()).hexdigest()[:24]
        key = f"pdf:credit_note:{req.credit_note.id}:{digest}:{req.locale}:s{version}"
    else:
        assert req.invoice_id and req.revision
        # Rendered once per invoice revision, locale and settings version, then reused
        # by every email that attaches it.
        key = f"pdf:{req.kind.value}:{req.invoice_id}:{req.revision[:24]}:{req.locale}:s{version}"
    if einvoice is not None:
        # The customer's profile is not in the settings version: a change renders anew.
        key += f":{einvoice.profile}{'+xml' if einvoice.attach_xml else ''}"
    if has_document(session, key):
        return key, None
    if inv is None and req.invoice_id and req.revision:
        inv = load_invoice_document(session, req.invoice_id, req.revision)
    return key, DocumentContext(
        branding=settings.branding,
        customer=customer_view(customer, customer_id, inv),
        invoice=invoice_view(inv) if inv else None,
        credit_note=req.credit_note,
        timezone=time_zone_for(settings, customer),
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
