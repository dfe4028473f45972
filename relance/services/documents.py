"""The PDFs an email carries: which stored document a request names, and what to render
when it is not stored yet. Rendering itself goes through relance.rendering.pdf_pool."""

from __future__ import annotations

import hashlib

from sqlmodel import Session

from relance.contracts.models import DocumentRequest
from relance.rendering.context import customer_view, invoice_view, time_zone_for
from relance.rendering.pdf import DocumentContext
from relance.storage.customers import get_customer
from relance.storage.documents import has_document, put_document
from relance.storage.invoices import load_invoice_document
from relance.storage.settings_store import load_settings


def document_to_render(session: Session, req: DocumentRequest) -> tuple[str, DocumentContext | None]:
    """The stored document's key, and what to render under it (None: already stored)."""
    settings, version = load_settings(session)
    if req.credit_note is not None:
        digest = hashlib.sha256(req.credit_note.model_dump_json().encode()).hexdigest()[:24]
        key = f"pdf:credit_note:{req.credit_note.id}:{digest}:{req.locale}:s{version}"
    else:
        assert req.invoice_id and req.revision
        # Rendered once per invoice revision, locale and settings version, then reused
        # by every email that attaches it.
        key = f"pdf:{req.kind.value}:{req.invoice_id}:{req.revision[:24]}:{req.locale}:s{version}"
    if has_document(session, key):
        return key, None
    inv = None
    if req.invoice_id and req.revision:
        inv = load_invoice_document(session, req.invoice_id, req.revision)
    customer_id = req.customer_id or (inv.customer if inv else "")
    customer = get_customer(session, customer_id)
    return key, DocumentContext(
        branding=settings.branding,
        customer=customer_view(customer, customer_id, inv),
        invoice=invoice_view(inv) if inv else None,
        credit_note=req.credit_note,
        timezone=time_zone_for(settings, customer),
    )


def store_document(session: Session, key: str, pdf: bytes) -> None:
    put_document(session, key, pdf, "application/pdf")
