"""An email as it was sent, read back from the log for the API and the dashboard: the
message as rendered for delivery and the PDFs it carried."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from relance.contracts.messages import OutgoingEmail
from relance.contracts.models import DocumentRequest, StoredAttachment
from relance.storage.documents import get_document
from relance.storage.tables import EmailLogEntry, StoredDocument, as_utc, utcnow

_VERSION_SUFFIX = re.compile(r"\d+")


@dataclass(frozen=True)
class SentFile:
    """One file as the email carried it."""

    filename: str
    content_type: str
    key: str | None  # None while the PDF is not rendered yet
    size: int | None


@dataclass(frozen=True)
class SentAttachment:
    document: DocumentRequest
    key: str | None  # None while the PDF is not rendered yet
    size: int | None
    # The PDF's e-invoice XML, when it went beside it as a file of its own.
    xml: SentFile | None = None

    def files(self) -> list[SentFile]:
        pdf = SentFile(self.document.filename, "application/pdf", self.key, self.size)
        return [pdf, self.xml] if self.xml is not None else [pdf]


def message_of(session: Session, entry: EmailLogEntry) -> OutgoingEmail | None:
    """The message as rendered for delivery; None for an email never rendered."""
    if not entry.message_ref:
        return None
    return OutgoingEmail.model_validate_json(get_document(session, entry.message_ref))


def _document_key_prefix(doc: DocumentRequest) -> str:
    # Mirrors the keys activities.emails.render_document stores PDFs under, minus the
    # settings version (":s<n>") the email log does not record.
    if doc.credit_note is not None:
        digest = hashlib.sha256(doc.credit_note.model_dump_json().encode()).hexdigest()[:24]
        return f"pdf:credit_note:{doc.credit_note.id}:{digest}:{doc.locale}:s"
    return f"pdf:{doc.kind.value}:{doc.invoice_id}:{(doc.revision or '')[:24]}:{doc.locale}:s"


def _find_document(session: Session, entry: EmailLogEntry, doc: DocumentRequest) -> tuple[str, int] | None:
    """(key, size) of the PDF this email carried. Delivery records the key it sent; for
    entries logged before it did, the newest version rendered for its invoice revision and
    locale that existed when the email went out."""
    recorded = next((a.get("ref") for a in entry.attachments if a.get("filename") == doc.filename), None)
    if recorded:
        row = session.get(StoredDocument, recorded)
        return (recorded, row.size) if row is not None else None
    prefix = _document_key_prefix(doc)
    rows = session.exec(
        select(StoredDocument.key, StoredDocument.size, StoredDocument.created_at).where(
            col(StoredDocument.key).startswith(prefix, autoescape=True)
        )
    ).all()
    cutoff = as_utc(entry.sent_at) or utcnow()
    best: tuple[int, str, int] | None = None
    for key, size, created_at in rows:
        version = key[len(prefix) :]
        created = as_utc(created_at)
        if not _VERSION_SUFFIX.fullmatch(version) or (created is not None and created > cutoff):
            continue
        if best is None or int(version) > best[0]:
            best = (int(version), key, size)
    return (best[1], best[2]) if best else None


def _xml_of(session: Session, raw: dict[str, Any]) -> SentFile | None:
    xml = StoredAttachment.from_logged(raw.get("xml"))
    if xml is None:
        return None
    row = session.get(StoredDocument, xml.ref)
    return SentFile(xml.filename, xml.content_type, xml.ref if row else None, row.size if row else None)


def attachments_of(session: Session, entry: EmailLogEntry) -> list[SentAttachment]:
    found = []
    for raw in entry.attachments:
        doc = DocumentRequest.model_validate(raw)
        located = _find_document(session, entry, doc)
        found.append(
            SentAttachment(doc, located[0] if located else None, located[1] if located else None, _xml_of(session, raw))
        )
    return found


def sent_files(session: Session, entry: EmailLogEntry) -> list[SentFile]:
    """Every file the email carried, in order: each PDF, then its XML when it had one."""
    return [f for a in attachments_of(session, entry) for f in a.files()]


def attachment_of(session: Session, entry: EmailLogEntry, n: int) -> SentFile | None:
    """The n-th file of `sent_files`; None when the email has fewer."""
    files = sent_files(session, entry)
    return files[n] if 0 <= n < len(files) else None
