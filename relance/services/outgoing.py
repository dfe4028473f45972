"""Preparing one email: decide whether it goes out and to whom, render it in the
customer's language, and store it in the email log as pending, ready to deliver.

Exactly-once rests on the email log: the row is keyed by the idempotency key the
workflow derives from invoice, kind and occurrence, and written before anything is
sent. A second preparation of the same email finds it and reuses it (or does nothing,
once it is final).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlmodel import Session

from relance.contracts.documents import PaymentFacts
from relance.contracts.email_context import EmailContext
from relance.contracts.events import Invoice
from relance.contracts.kinds import EmailKind
from relance.contracts.messages import MessageOrigin, OutgoingEmail, RenderedContent
from relance.contracts.models import DocumentRequest, EmailRequest, PreparedEmail
from relance.platform.config import Config
from relance.platform.metrics import RENDER_SECONDS, FailureReason, SuppressionReason
from relance.rendering.context import email_context, time_zone_for
from relance.rendering.custom import CustomTemplate, TemplateProblem, render_custom
from relance.rendering.email import render_email
from relance.rules.outgoing import documents_for, email_tags, message_id_for, sender_for, with_manual_reminder_days
from relance.rules.recipients import recipients
from relance.services import outcomes
from relance.services.customer_locale import locale_for
from relance.services.payments import failed_payment_facts, receipt_payment_facts
from relance.storage import email_log
from relance.storage.customers import get_customer
from relance.storage.documents import add_document
from relance.storage.invoices import billing_email_from_invoices, load_invoice_document
from relance.storage.settings_store import load_settings
from relance.storage.suppressions import drop_suppressed
from relance.storage.tables import InvoiceRecord
from relance.storage.templates_store import get_version as get_template_version

log = logging.getLogger("relance.delivery")


class CustomerNotKnownYet(Exception):
    """Nobody to send to yet: the customer's own event has not arrived (events come out
    of order), and its invoice carries no address. Nothing was written."""


@dataclass(frozen=True)
class Preparation:
    prepared: PreparedEmail
    # Counts and logs the outcome (relance.services.outcomes); call it once the session
    # has committed, so a retried preparation reports nothing twice.
    report: Callable[[], None] | None = None


def _log_entry(session: Session, req: EmailRequest, status: str, **fields: Any) -> None:
    email_log.new_entry(
        session,
        key=req.idempotency_key,
        kind=req.kind.value,
        customer_id=req.customer_id,
        invoice_id=req.invoice_id,
        scheduled_at=req.scheduled_at,
        status=status,
        **fields,
    )


def _payment_facts(session: Session, req: EmailRequest, inv: Invoice | None) -> PaymentFacts | None:
    if inv is None:
        return None
    if req.kind == EmailKind.receipt:
        return receipt_payment_facts(session, inv)
    if req.kind in (EmailKind.payment_failed, EmailKind.payment_action_required):
        # A payment waiting for 3D Secure failed its off-session try (authentication_required).
        return failed_payment_facts(session, inv.id, req.attempted_at)
    return None


def prepare_email(session: Session, req: EmailRequest, config: Config, *, may_wait: Callable[[], bool]) -> Preparation:
    """`may_wait()`: whether an email with nobody to send to may still wait for its
    customer's event (raises CustomerNotKnownYet) rather than fail; asked only then."""
    ref = outcomes.EmailRef.of_request(req)
    entry = email_log.get_entry(session, req.idempotency_key)
    if entry is not None:
        if entry.status in email_log.FINAL_STATUSES:
            return Preparation(
                PreparedEmail(status="done", reason=f"already {entry.status}"),
                partial(outcomes.suppressed, ref, SuppressionReason.duplicate),
            )
        # Rendered by an earlier attempt that did not finish delivering: reuse it.
        return Preparation(PreparedEmail(status="ready", documents=[DocumentRequest(**d) for d in entry.attachments]))

    settings, _ = load_settings(session)
    if not settings.email_enabled(req.kind):
        _log_entry(session, req, email_log.SKIPPED, error="turned off in settings")
        return Preparation(
            PreparedEmail(status="skipped", reason="turned off in settings"),
            partial(outcomes.suppressed, ref, SuppressionReason.switched_off),
        )

    customer = get_customer(session, req.customer_id)
    invoice_rec = session.get(InvoiceRecord, req.invoice_id) if req.invoice_id else None
    inv = None
    if req.invoice_id and req.invoice_revision:
        inv = load_invoice_document(session, req.invoice_id, req.invoice_revision)
    to, cc = recipients(customer, invoice_rec)
    if not to and invoice_rec is None:
        # No invoice of its own and no address on the customer: the one its invoices carry.
        related = (req.credit_note.invoice_id if req.credit_note else None) or (
            req.refund.invoice_id if req.refund else None
        )
        to, cc = recipients(customer, None, billing_email_from_invoices(session, req.customer_id, related))
    # Addresses that hard-bounced or reported spam are not emailed again.
    to, cc, suppressed_note = drop_suppressed(session, to, cc)
    if not to and suppressed_note:
        _log_entry(session, req, email_log.SKIPPED, error=suppressed_note)
        return Preparation(
            PreparedEmail(status="skipped", reason=suppressed_note, undeliverable=True),
            partial(outcomes.suppressed, ref, SuppressionReason.suppressed_address),
        )
    if not to and customer is None and may_wait():
        # Events arrive out of order (a backend's concurrent sends, Stripe's retries): an
        # invoice with no address of its own can come before its customer's
        # customer.created. Nothing is logged yet: the retry reads the customer again.
        raise CustomerNotKnownYet(
            f"customer {req.customer_id} is not known yet; waiting for its customer event before emailing"
        )
    if not to:
        no_address = "the customer has no email address"
        _log_entry(session, req, email_log.FAILED, error=no_address)
        return Preparation(
            PreparedEmail(status="skipped", reason=no_address, undeliverable=True),
            partial(outcomes.failed, ref, FailureReason.no_recipient, no_address),
        )

    req = _with_invoice_numbers(session, req)
    locale = locale_for(customer, settings)
    req = with_manual_reminder_days(req, inv, time_zone_for(settings, customer))
    documents = documents_for(req, inv, locale) if settings.attach_pdf else []
    ctx = email_context(settings, req, customer, inv, _payment_facts(session, req, inv))
    with RENDER_SECONDS.labels(req.kind.value).time():
        content, template_note = _content(session, req, ctx, locale, [d.filename for d in documents])
    from_email, from_name, reply_to = sender_for(settings, config)
    message = OutgoingEmail(
        message_id=message_id_for(req.idempotency_key, from_email),
        from_email=from_email,
        from_name=from_name,
        reply_to=reply_to,
        to=to,
        cc=cc,
        subject=content.subject,
        html=content.html,
        text=content.text,
        tags=email_tags(req),
        origin=MessageOrigin(
            kind=req.kind.value, customer_id=req.customer_id, invoice_id=req.invoice_id, at=req.scheduled_at
        ),
    )
    # The message is stored under the new row's id, so both are plain INSERTs.
    entry_id = email_log.new_entry_id()
    _log_entry(
        session,
        req,
        email_log.PENDING,
        id=entry_id,
        to=to,
        cc=cc,
        from_email=from_email,
        subject=content.subject,
        locale=locale,
        note="; ".join(filter(None, [template_note, suppressed_note])) or None,
        attachments=[d.model_dump(mode="json") for d in documents],
        message_ref=add_document(session, f"msg:{entry_id}", message.model_dump_json().encode(), "application/json"),
    )
    return Preparation(PreparedEmail(status="ready", documents=documents))


def _content(
    session: Session, req: EmailRequest, ctx: EmailContext, locale: str, attachments: Sequence[str]
) -> tuple[RenderedContent, str | None]:
    """The account's custom template for this kind (the version the invoice pinned), else
    Relance's own. A custom template that fails at send time (it passed validation, but
    real data can differ) falls back to the default rather than sending nothing."""
    row = get_template_version(session, req.kind.value, req.template_version)
    if row is not None:
        custom = CustomTemplate(subject=row.subject, html=row.html, text=row.text)
        try:
            return render_custom(req.kind, custom, ctx, locale, attachments=attachments), None
        except TemplateProblem as exc:
            note = f"custom template v{row.version} failed ({exc}); sent Relance's default"
            log.warning(
                "email %s: %s",
                req.idempotency_key,
                note,
                extra={"kind": req.kind.value, "invoice_id": req.invoice_id, "customer_id": req.customer_id},
            )
            return render_email(req.kind, ctx, locale, attachments=attachments), note
    return render_email(req.kind, ctx, locale, attachments=attachments), None


def _with_invoice_numbers(session: Session, req: EmailRequest) -> EmailRequest:
    """Credit notes and refunds name their invoice by number when Relance knows it."""
    updates = {}
    for field in ("credit_note", "refund"):
        view = getattr(req, field)
        if view is not None and view.invoice_id and not view.invoice_number:
            rec = session.get(InvoiceRecord, view.invoice_id)
            if rec is not None and rec.number:
                updates[field] = view.model_copy(update={"invoice_number": rec.number})
    return req.model_copy(update=updates) if updates else req
