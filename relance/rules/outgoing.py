"""What an outgoing email is made of besides its content: the sender, a stable message
id, the tags providers report back, and which PDFs go with it. Pure functions."""

from __future__ import annotations

import hashlib

from relance.contracts.account import AccountSettings
from relance.contracts.events import Invoice
from relance.contracts.kinds import DocumentKind, EmailKind
from relance.contracts.models import DocumentRequest, EmailRequest
from relance.platform.config import Config
from relance.rules.schedule import local_due_date

# Which PDFs go with which email (when the account attaches PDFs at all).
ATTACHMENTS: dict[EmailKind, tuple[DocumentKind, ...]] = {
    EmailKind.invoice_finalized: (DocumentKind.invoice,),
    EmailKind.invoice_reminder: (DocumentKind.invoice,),
    EmailKind.receipt: (DocumentKind.invoice, DocumentKind.receipt),
}


def email_key_digest(key: str) -> str:
    """The idempotency key as providers see it (in tags): a digest, never the key itself."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def message_id_for(key: str, from_email: str) -> str:
    """Stable across retries, so a resend after a crash is recognisable as the same email."""
    domain = from_email.rsplit("@", 1)[-1]
    return f"<{email_key_digest(key)}@{domain}>"


def email_tags(req: EmailRequest) -> dict[str, str]:
    return {"kind": req.kind.value, "email_key": email_key_digest(req.idempotency_key)}


def sender_for(settings: AccountSettings, config: Config) -> tuple[str, str | None, str | None]:
    """The custom domain's address only once that domain is verified."""
    s = settings.sender
    from_email = s.verified_from_email() or config.default_from_email
    from_name = s.from_name or settings.branding.business_name or config.default_from_name
    reply_to = s.reply_to or settings.branding.support_email
    return from_email, from_name, reply_to


def document_filename(kind: DocumentKind, label: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in label)[:80]
    return f"{kind.value}-{safe}.pdf"


def documents_for(req: EmailRequest, inv: Invoice | None, locale: str) -> list[DocumentRequest]:
    """The PDFs `req`'s email carries: the credit note's, or its invoice revision's."""
    if req.kind == EmailKind.credit_note_created and req.credit_note is not None:
        cn = req.credit_note
        return [
            DocumentRequest(
                kind=DocumentKind.credit_note,
                locale=locale,
                customer_id=req.customer_id,
                credit_note=cn,
                credit_note_document=req.credit_note_document,
                filename=document_filename(DocumentKind.credit_note, cn.number or cn.id),
            )
        ]
    if inv is None or not req.invoice_revision:
        return []
    return [
        DocumentRequest(
            kind=k,
            invoice_id=inv.id,
            revision=req.invoice_revision,
            locale=locale,
            customer_id=req.customer_id,
            filename=document_filename(k, inv.number or inv.id),
        )
        for k in ATTACHMENTS.get(req.kind, ())
    ]


def with_manual_reminder_days(req: EmailRequest, inv: Invoice | None, tz: str) -> EmailRequest:
    """A reminder sent by hand says how far from the due date it is, in the customer's days."""
    if req.manual and inv is not None and inv.due_date is not None and req.reminder_days_from_due is None:
        days = (local_due_date(req.scheduled_at, tz) - local_due_date(inv.due_date, tz)).days
        return req.model_copy(update={"reminder_days_from_due": days})
    return req
