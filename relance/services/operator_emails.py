"""Emails an operator asks for: a resend of a logged email, and a test send of any kind
on sample data. Both are checked here for the caller (`check_resend`, `check_test`),
then prepared by a Temporal activity (`prepare_resend`, `prepare_test`), which writes
the new log row as pending, ready for the delivery every email goes through
(activities.emails.deliver_email): the transport, its hold, suppressions, retries.

A resend is the message as stored when it was first prepared (subject, HTML, text,
sender) and the very PDFs it carried, read back from the document store by their keys,
so byte for byte the same; only the Message-ID is new and the recipients may be
corrected. Stored content lives as long as the log's retention, so an email can be
resent as long as it is listed.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlmodel import Session

from relance.contracts.addresses import InvalidAddress, check_recipient_count, normalize_address, normalize_addresses
from relance.contracts.kinds import EmailKind
from relance.contracts.messages import OutgoingEmail
from relance.contracts.models import OperatorEmailRequest, PreparedOperatorEmail, StoredAttachment
from relance.platform.config import Config
from relance.rendering.i18n import match_locale, supported_locales
from relance.rules.outgoing import email_key_digest, message_id_for, sender_for
from relance.services.templates import active_template
from relance.storage import email_log
from relance.storage.documents import add_document
from relance.storage.sent_emails import attachments_of, message_of
from relance.storage.settings_store import load_settings
from relance.storage.suppressions import drop_suppressed
from relance.storage.tables import EmailLogEntry

KIND_OFF = "turned off in settings"  # what services.outgoing logs for a kind switched off
TEST_CUSTOMER = "cus_sample"  # the sample data's customer, which test sends are logged under
TEST_MARK = "[TEST]"


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status the API answers with
        self.code = code
        self.message = message
        self.field = field


def resend_key(original_id: str, request_id: str) -> str:
    return f"resend:{original_id}:{request_id}"


def test_key(request_id: str) -> str:
    return f"test:{request_id}"


def email_id_for(key: str) -> str:
    """The new log row's id, known to the caller before the workflow runs."""
    return hashlib.sha256(f"email-id:{key}".encode()).hexdigest()[:32]


def _addresses(values: list[str] | None, field: str) -> list[str] | None:
    if values is None:
        return None
    try:
        # Like a customer's recipients (services.account): reserved domains are fine for
        # a local outbox or a development relay.
        return normalize_addresses(values, allow_special_use=True)
    except InvalidAddress as exc:
        raise Refusal(400, "invalid_address", str(exc), field) from None


def check_resend(
    session: Session, email_id: str, to: list[str] | None, cc: list[str] | None
) -> tuple[EmailLogEntry, list[str] | None, list[str] | None]:
    """The email to resend and the corrected recipients, normalized; Refusal otherwise."""
    entry = session.get(EmailLogEntry, email_id)
    if entry is None:
        raise Refusal(404, "not_found", f"no email {email_id!r}")
    if entry.status == email_log.SKIPPED and entry.error == KIND_OFF:
        raise Refusal(
            409,
            "kind_turned_off",
            f"email {email_id} was not sent: {entry.kind} emails were turned off in settings, so there is "
            "nothing to resend",
        )
    if entry.status == email_log.PENDING:
        # Its own workflow is still delivering it (or holding it): a resend would be a duplicate.
        raise Refusal(409, "not_final", f"email {email_id} is still being sent ({entry.error or 'pending'})")
    if message_of(session, entry) is None:
        raise Refusal(
            409, "not_resendable", f"email {email_id} was never rendered ({entry.status}): there is nothing to resend"
        )
    if any(a.key is None for a in attachments_of(session, entry)):
        raise Refusal(409, "not_resendable", f"a PDF of email {email_id} is no longer stored")
    to, cc = _addresses(to, "to"), _addresses(cc, "cc")
    if to == []:
        raise Refusal(400, "invalid_request", "`to` needs at least one address (omit it to keep the original's)", "to")
    check_recipient_count(to if to is not None else entry.to, cc if cc is not None else entry.cc)
    return entry, to, cc


def resend_request(
    entry: EmailLogEntry, request_id: str, to: list[str] | None, cc: list[str] | None, now: datetime
) -> OperatorEmailRequest:
    key = resend_key(entry.id, request_id)
    return OperatorEmailRequest(
        purpose="resend",
        idempotency_key=key,
        email_id=email_id_for(key),
        kind=EmailKind(entry.kind),
        customer_id=entry.customer_id,
        invoice_id=entry.invoice_id,
        requested_at=now,
        resend_of=entry.id,
        to=to,
        cc=cc,
    )


def check_test(kind: str, to: str, locale: str) -> tuple[EmailKind, str, str]:
    try:
        email_kind = EmailKind(kind)
    except ValueError:
        raise Refusal(
            400, "invalid_request", f"unknown kind {kind!r}; one of: {', '.join(k.value for k in EmailKind)}", "kind"
        ) from None
    try:
        address = normalize_address(to, allow_special_use=True)
    except InvalidAddress as exc:
        raise Refusal(400, "invalid_address", str(exc), "to") from None
    wanted = match_locale(locale)
    if wanted is None:
        shipped = ", ".join(supported_locales())
        raise Refusal(400, "invalid_request", f"locale {locale!r} is not shipped; one of: {shipped}", "locale")
    return email_kind, address, wanted


def test_request(kind: EmailKind, to: str, locale: str, request_id: str, now: datetime) -> OperatorEmailRequest:
    key = test_key(request_id)
    return OperatorEmailRequest(
        purpose="test",
        idempotency_key=key,
        email_id=email_id_for(key),
        kind=kind,
        customer_id=TEST_CUSTOMER,
        requested_at=now,
        to=[to],
        cc=[],
        locale=locale,
    )


# ---- in the activity --------------------------------------------------------------------


def _already(entry: EmailLogEntry) -> PreparedOperatorEmail:
    if entry.status in email_log.FINAL_STATUSES:
        return PreparedOperatorEmail(status="done", reason=f"already {entry.status}")
    # Logged by an earlier attempt that did not finish delivering: deliver that.
    return PreparedOperatorEmail(
        status="ready",
        attachments=[_stored(a) for a in entry.attachments],
    )


def _stored(logged: dict[str, Any]) -> StoredAttachment:
    """A logged attachment to deliver again, with the e-invoice XML that went beside it."""
    companion = StoredAttachment.from_logged(logged.get("xml"))
    return StoredAttachment(ref=logged["ref"], filename=logged["filename"], companion=companion)


def _log(session: Session, req: OperatorEmailRequest, status: str, **fields: Any) -> None:
    email_log.new_entry(
        session,
        key=req.idempotency_key,
        id=req.email_id,
        kind=req.kind.value,
        customer_id=req.customer_id,
        invoice_id=req.invoice_id,
        scheduled_at=req.requested_at,
        status=status,
        resend_of=req.resend_of,
        is_test=req.purpose == "test",
        **fields,
    )


def _to_deliver(
    session: Session, req: OperatorEmailRequest, message: OutgoingEmail, note: str | None, **fields: Any
) -> PreparedOperatorEmail:
    """Suppressions dropped, then logged as pending with its own stored message."""
    to, cc, suppressed = drop_suppressed(session, list(message.to), list(message.cc))
    note = "; ".join(filter(None, [note, suppressed])) or None
    if not to:
        _log(session, req, email_log.SKIPPED, error=suppressed, to=[], cc=[], subject=message.subject, note=note)
        return PreparedOperatorEmail(status="skipped", reason=suppressed)
    message = message.model_copy(update={"to": to, "cc": cc})
    ref = add_document(session, f"msg:{req.email_id}", message.model_dump_json().encode(), "application/json")
    _log(
        session,
        req,
        email_log.PENDING,
        to=to,
        cc=cc,
        from_email=message.from_email,
        subject=message.subject,
        message_ref=ref,
        note=note,
        **fields,
    )
    return PreparedOperatorEmail(status="ready")


def prepare_resend(session: Session, req: OperatorEmailRequest) -> PreparedOperatorEmail:
    existing = email_log.get_entry(session, req.idempotency_key)
    if existing is not None:
        return _already(existing)
    assert req.resend_of is not None
    original = session.get(EmailLogEntry, req.resend_of)
    message = message_of(session, original) if original is not None else None
    found = attachments_of(session, original) if original is not None else []
    if original is None or message is None or any(a.key is None for a in found):
        # Purged by retention since it was checked: say so on the promised row.
        reason = f"email {req.resend_of} is no longer stored: nothing to resend"
        _log(session, req, email_log.FAILED, error=reason)
        return PreparedOperatorEmail(status="skipped", reason=reason)
    message = message.model_copy(
        update={
            "message_id": message_id_for(req.idempotency_key, message.from_email),
            "to": req.to if req.to is not None else message.to,
            "cc": req.cc if req.cc is not None else message.cc,
            "tags": {**message.tags, "email_key": email_key_digest(req.idempotency_key)},
            "attachments": [],
        }
    )
    carried = [
        {
            **a.document.model_dump(mode="json"),
            "ref": a.key,
            **(
                {
                    "xml": StoredAttachment(
                        ref=a.xml.key, filename=a.xml.filename, content_type=a.xml.content_type
                    ).logged()
                }
                if a.xml and a.xml.key
                else {}
            ),
        }
        for a in found
    ]
    attachments = [_stored(c) for c in carried if c["ref"]]
    prepared = _to_deliver(
        session, req, message, f"resend of {original.id}", locale=original.locale, attachments=carried
    )
    if prepared.status == "ready":
        prepared.attachments = attachments
    return prepared


def prepare_test(session: Session, req: OperatorEmailRequest, config: Config) -> PreparedOperatorEmail:
    from relance.rendering.custom import render_custom, sample_context
    from relance.rendering.email import render_email

    existing = email_log.get_entry(session, req.idempotency_key)
    if existing is not None:
        return _already(existing)
    locale = req.locale or "en"
    settings, _ = load_settings(session)
    # Sample data in the account's own branding, with its active template for the kind.
    ctx = sample_context(req.kind).model_copy(update={"branding": settings.branding, "timezone": settings.timezone})
    _, custom = active_template(session, req.kind)
    content = render_custom(req.kind, custom, ctx, locale) if custom else render_email(req.kind, ctx, locale)
    from_email, from_name, reply_to = sender_for(settings, config)
    message = OutgoingEmail(
        message_id=message_id_for(req.idempotency_key, from_email),
        from_email=from_email,
        from_name=from_name,
        reply_to=reply_to,
        to=req.to or [],
        cc=req.cc or [],
        subject=f"{TEST_MARK} {content.subject}",
        html=content.html,
        text=content.text,
        tags={"kind": req.kind.value, "email_key": email_key_digest(req.idempotency_key), "test": "true"},
    )
    return _to_deliver(session, req, message, "test send on sample data", locale=locale)
