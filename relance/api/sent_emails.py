"""One email as it was sent, as the JSON API and the dashboard both show it: its
headers, HTML, text and attached PDFs (`email_out`), one PDF as a download
(`attachment_response`), and a log row as listed (`email_summary`). The first two raise
ApiError 404 for what is not there."""

from __future__ import annotations

from email.headerregistry import Address
from urllib.parse import quote

from fastapi.responses import Response
from sqlalchemy.engine import Engine
from sqlmodel import Session

from relance.api.schemas import ApiError, AttachmentOut, EmailHeaders, EmailOut, EmailSummary
from relance.storage.database import session_scope
from relance.storage.documents import get_document
from relance.storage.email_log_query import outcome_of
from relance.storage.sent_emails import attachment_of, message_of, sent_files
from relance.storage.tables import EmailDeliveryRecord, EmailLogEntry, as_utc


def email_summary(e: EmailLogEntry, delivery: EmailDeliveryRecord | None = None) -> EmailSummary:
    delivery_status = delivery.delivery_status if delivery else None
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
        delivery_status=delivery_status,
        customer=e.customer_id,
        outcome=outcome_of(e.status, e.error, delivery_status),
        resend_of=e.resend_of,
        test=e.is_test,
    )


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


def email_out(engine: Engine, email_id: str) -> EmailOut:
    with session_scope(engine) as session:
        entry = _load_entry(session, email_id)
        message = message_of(session, entry)
        attachments = [
            AttachmentOut(
                filename=f.filename,
                content_type=f.content_type,
                size=f.size,
                url=f"/v1/emails/{entry.id}/attachments/{n}",
            )
            for n, f in enumerate(sent_files(session, entry))
        ]
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
        resend_of=entry.resend_of,
        test=entry.is_test,
        einvoice=entry.einvoice,
        headers=headers,
        html=message.html if message else None,
        text=message.text if message else None,
        attachments=attachments,
    )


def attachment_response(engine: Engine, email_id: str, n: int) -> Response:
    """The PDF as attached; 404 also while it is not rendered yet (the email is still pending)."""
    with session_scope(engine) as session:
        entry = _load_entry(session, email_id)
        found = attachment_of(session, entry, n)
        if found is None:
            raise ApiError(404, "not_found", f"email {email_id!r} has no attachment {n}")
        if found.key is None:
            raise ApiError(404, "not_found", "the attachment is not rendered yet")
        content = get_document(session, found.key)
    filename = found.filename
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return Response(
        content,
        media_type=found.content_type,
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )
