"""The email log: a customer's recent emails, one email as it was sent, its PDFs."""

from __future__ import annotations

import hashlib
import re
from email.headerregistry import Address
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlmodel import Session, select

from relance.api.app import Services, services
from relance.api.routes_customers import CustomerId
from relance.api.schemas import (
    ApiError,
    AttachmentOut,
    EmailHeaders,
    EmailOut,
    EmailPage,
    EmailSummary,
    error_responses,
)
from relance.contracts.messages import OutgoingEmail
from relance.contracts.models import DocumentRequest
from relance.storage import email_log, webhooks_store
from relance.storage.database import session_scope
from relance.storage.documents import get_document
from relance.storage.tables import EmailDeliveryRecord, EmailLogEntry, StoredDocument, as_utc, utcnow

router = APIRouter(tags=["emails"])

MAX_PAGE = 100
EmailId = Annotated[str, Path(min_length=1, max_length=32, description="The `id` from the email log.")]
_VERSION_SUFFIX = re.compile(r"\d+")


def _summary(e: EmailLogEntry, delivery: EmailDeliveryRecord | None = None) -> EmailSummary:
    return EmailSummary(
        id=e.id,
        time=as_utc(e.created_at),
        scheduled_at=as_utc(e.scheduled_at),
        sent_at=as_utc(e.sent_at),
        kind=e.kind,
        invoice=e.invoice_id,
        status=e.status,
        to=list(e.to),
        cc=list(e.cc),
        subject=e.subject,
        provider_message_id=e.provider_message_id,
        error=e.error,
        delivery_status=delivery.delivery_status if delivery else None,
    )


@router.get(
    "/v1/customers/{customer_id}/emails",
    response_model=EmailPage,
    summary="A customer's emails within the log's retention (30 days by default)",
    responses=error_responses(400, 401),
)
def list_emails(
    customer_id: CustomerId,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size, at most 100.")] = 50,
    offset: Annotated[int, Query(ge=0, description="From `next_offset` of the previous page.")] = 0,
    svc: Services = Depends(services),
) -> EmailPage:
    """Newest first: every email Relance decided to send, including skipped and failed ones,
    over the days the log keeps (RELANCE_LOG_RETENTION_DAYS, 30 by default)."""
    with session_scope(svc.engine) as session:
        # One extra row tells whether another page exists without a COUNT.
        rows = email_log.customer_emails(
            session, customer_id, days=svc.config.log_retention_days, limit=limit + 1, offset=offset
        )
        deliveries = webhooks_store.delivery_statuses(session, [e.id for e in rows[:limit]])
    has_more = len(rows) > limit
    return EmailPage(
        data=[_summary(e, deliveries.get(e.id)) for e in rows[:limit]],
        has_more=has_more,
        next_offset=offset + limit if has_more else None,
    )


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
            StoredDocument.key.startswith(prefix, autoescape=True)
        )
    ).all()
    cutoff = as_utc(entry.sent_at) or utcnow()
    best: tuple[int, str, int] | None = None
    for key, size, created_at in rows:
        version = key[len(prefix) :]
        if not _VERSION_SUFFIX.fullmatch(version) or as_utc(created_at) > cutoff:
            continue
        if best is None or int(version) > best[0]:
            best = (int(version), key, size)
    return (best[1], best[2]) if best else None


def _load_entry(session: Session, email_id: str) -> EmailLogEntry:
    entry = session.get(EmailLogEntry, email_id)
    if entry is None:
        raise ApiError(404, "not_found", f"no email {email_id!r}")
    return entry


def _address(email: str | None, name: str | None) -> str | None:
    if not email:
        return None
    if not name:
        return email
    try:
        return str(Address(display_name=name, addr_spec=email))
    except (ValueError, IndexError):
        return email


@router.get(
    "/v1/emails/{email_id}",
    response_model=EmailOut,
    summary="One email as it was sent",
    responses=error_responses(401, 404),
)
def get_email(email_id: EmailId, svc: Services = Depends(services)) -> EmailOut:
    """Headers, HTML and text exactly as rendered for delivery, and the attached PDFs
    (download each from its `url`)."""
    with session_scope(svc.engine) as session:
        entry = _load_entry(session, email_id)
        message = (
            OutgoingEmail.model_validate_json(get_document(session, entry.message_ref)) if entry.message_ref else None
        )
        attachments = []
        for n, raw in enumerate(entry.attachments):
            doc = DocumentRequest.model_validate(raw)
            found = _find_document(session, entry, doc)
            attachments.append(
                AttachmentOut(
                    filename=doc.filename,
                    content_type="application/pdf",
                    size=found[1] if found else None,
                    url=f"/v1/emails/{entry.id}/attachments/{n}",
                )
            )
    if message is not None:
        headers = EmailHeaders(
            from_=_address(message.from_email, message.from_name),
            to=", ".join(message.to),
            cc=", ".join(message.cc) or None,
            reply_to=message.reply_to,
            subject=message.subject,
            message_id=message.message_id,
        )
    else:
        headers = EmailHeaders(
            from_=entry.from_email,
            to=", ".join(entry.to) or None,
            cc=", ".join(entry.cc) or None,
            subject=entry.subject,
        )
    return EmailOut(
        id=entry.id,
        time=as_utc(entry.created_at),
        sent_at=as_utc(entry.sent_at),
        kind=entry.kind,
        customer=entry.customer_id,
        invoice=entry.invoice_id,
        status=entry.status,
        provider_message_id=entry.provider_message_id,
        error=entry.error,
        headers=headers,
        html=message.html if message else None,
        text=message.text if message else None,
        attachments=attachments,
    )


@router.get(
    "/v1/emails/{email_id}/attachments/{n}",
    summary="One attached PDF",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The PDF as attached."},
        **error_responses(401, 404),
    },
)
def get_attachment(
    email_id: EmailId,
    n: Annotated[int, Path(ge=0, description="Index in `attachments`.")],
    svc: Services = Depends(services),
) -> Response:
    """404 also while the PDF is not rendered yet (the email is still pending)."""
    with session_scope(svc.engine) as session:
        entry = _load_entry(session, email_id)
        if n >= len(entry.attachments):
            raise ApiError(404, "not_found", f"email {email_id!r} has no attachment {n}")
        doc = DocumentRequest.model_validate(entry.attachments[n])
        found = _find_document(session, entry, doc)
        if found is None:
            raise ApiError(404, "not_found", "the attachment is not rendered yet")
        content = get_document(session, found[0])
    ascii_name = doc.filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(doc.filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )
