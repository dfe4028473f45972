"""Stored documents (rendered messages, PDFs) addressed by key, in the application
database so every worker of a deployment sees them."""

from __future__ import annotations

from sqlmodel import Session

from relance.storage.tables import StoredDocument


def put_document(session: Session, key: str, content: bytes, media_type: str) -> str:
    row = session.get(StoredDocument, key)
    if row is None:
        session.add(StoredDocument(key=key, content=content, media_type=media_type, size=len(content)))
    else:
        row.content, row.media_type, row.size = content, media_type, len(content)
    session.flush()
    return key


def add_document(session: Session, key: str, content: bytes, media_type: str) -> str:
    """Store a document under a key nobody has used (one derived from a new id): one
    INSERT, without put_document's look-up first."""
    session.add(StoredDocument(key=key, content=content, media_type=media_type, size=len(content)))
    return key


def get_document(session: Session, key: str) -> bytes:
    row = session.get(StoredDocument, key)
    if row is None:
        raise LookupError(f"document {key!r} is not stored")
    return row.content


def has_document(session: Session, key: str) -> bool:
    return session.get(StoredDocument, key) is not None


def xml_key(pdf_key: str) -> str:
    """Where the e-invoice XML of the PDF stored under `pdf_key` is kept, for an email
    that also attaches it as a file of its own."""
    return pdf_key + ":xml"


def outcome_key(pdf_key: str) -> str:
    """Where what became of that PDF's e-invoice is kept, for every email that attaches it."""
    return pdf_key + ":einvoice"
