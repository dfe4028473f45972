"""The customer pages: the list (with search), one customer (details, the language their
emails go out in, recipients, invoices with a "send reminder" button, the email log)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from relance.api.dashboard.deps import CsrfSessionDep, FormDep, SessionDep
from relance.api.dashboard.language import SendingLanguage, sending_language
from relance.api.dashboard.pages import (
    NOTICES,
    PAGE_SIZE,
    PREFIX,
    check_id,
    form_text,
    message_page,
    not_found,
    offset_of,
    page_router,
    redirect,
    render,
)
from relance.api.dashboard.sessions import DashboardSession
from relance.api.deps import Services, ServicesDep
from relance.api.schemas import ApiError, EmailSummary
from relance.api.sent_emails import email_summary
from relance.rules.manual_reminders import refusal
from relance.services.account import SettingsError, set_einvoice_profile, set_recipients
from relance.services.invoice_timeline import temporal_ui_url
from relance.storage import email_log, webhooks_store
from relance.storage.customers import get_customer, search_customers
from relance.storage.database import session_scope
from relance.storage.invoices import customer_invoices
from relance.storage.settings_store import load_settings
from relance.storage.tables import CustomerRecord, InvoiceRecord
from workflows.ids import invoice_workflow_id

router = page_router()

_SPLIT_ADDRESSES = re.compile(r"[\s,;]+")
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,200}")


@router.get("/customers")
def customers(request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    q = request.query_params.get("q", "").strip()[:200]
    offset = offset_of(request)
    with session_scope(svc.engine) as db:
        rows = search_customers(db, q, offset=offset, limit=PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    return render(
        request,
        "customers.html",
        session=session,
        q=q,
        customers=rows[:PAGE_SIZE],
        offset=offset,
        prev_offset=max(offset - PAGE_SIZE, 0) if offset else None,
        next_offset=offset + PAGE_SIZE if more else None,
        page_size=PAGE_SIZE,
    )


def _split_addresses(text: str) -> list[str]:
    return [a for a in _SPLIT_ADDRESSES.split(text) if a]


@dataclass
class _CustomerView:
    record: CustomerRecord | None
    emails: list[EmailSummary]
    invoices: list[InvoiceRecord]
    more: bool
    language: SendingLanguage | None
    account_einvoice: str


def _load_customer(svc: Services, customer_id: str, offset: int) -> _CustomerView:
    with session_scope(svc.engine) as db:
        record = get_customer(db, customer_id)
        emails = email_log.customer_emails(
            db, customer_id, days=svc.config.log_retention_days, limit=PAGE_SIZE + 1, offset=offset
        )
        # Invoices in the log that are older than the newest PAGE_SIZE still get their row.
        invoices = customer_invoices(
            db, customer_id, limit=PAGE_SIZE, also=[e.invoice_id for e in emails[:PAGE_SIZE] if e.invoice_id]
        )
        language = None
        settings, _ = load_settings(db)
        if record is not None:
            language = sending_language(list(record.preferred_locales), settings.default_locale)
        shown = emails[:PAGE_SIZE]
        deliveries = webhooks_store.delivery_statuses(db, [e.id for e in shown])
        summaries = [email_summary(e, deliveries.get(e.id)) for e in shown]
    return _CustomerView(record, summaries, invoices, len(emails) > PAGE_SIZE, language, settings.einvoice.profile)


def _customer_page(
    request: Request,
    session: DashboardSession,
    svc: Services,
    customer_id: str,
    *,
    status: int = 200,
    offset: int = 0,
    error: str | None = None,
    recipients_error: str | None = None,
    to_text: str | None = None,
    cc_text: str | None = None,
) -> HTMLResponse:
    view = _load_customer(svc, customer_id, offset)
    if view.record is None and not view.emails and not view.invoices and status == 200:
        raise not_found(request, session, f"Relance has no customer {customer_id!r}.")
    rec = view.record
    return render(
        request,
        "customer.html",
        status=status,
        session=session,
        customer_id=customer_id,
        customer=rec,
        language=view.language,
        account_einvoice=view.account_einvoice,
        emails=view.emails,
        log_days=svc.config.log_retention_days,
        invoices=view.invoices,
        invoice_numbers={inv.id: inv.number for inv in view.invoices},
        reminder_refusal=refusal,
        offset=offset,
        prev_offset=max(offset - PAGE_SIZE, 0) if offset else None,
        next_offset=offset + PAGE_SIZE if view.more else None,
        temporal_url=lambda invoice_id: temporal_ui_url(svc.config, invoice_workflow_id(invoice_id)),
        to_text=to_text if to_text is not None else "\n".join(rec.invoice_emails if rec else []),
        cc_text=cc_text if cc_text is not None else "\n".join(rec.cc_emails if rec else []),
        recipients_error=recipients_error,
        error=error,
        request_id=lambda: f"dashboard-{uuid.uuid4().hex}",
    )


@router.get("/customers/{customer_id}")
def customer_page(customer_id: str, request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    check_id(request, session, customer_id, "customer")
    return _customer_page(request, session, svc, customer_id, offset=offset_of(request))


@router.post("/customers/{customer_id}/recipients")
async def save_recipients(
    customer_id: str, request: Request, session: CsrfSessionDep, svc: ServicesDep, form: FormDep
) -> Response:
    check_id(request, session, customer_id, "customer")
    to_text, cc_text = form_text(form, "to"), form_text(form, "cc")

    def save() -> None:
        with session_scope(svc.engine) as db:
            set_recipients(db, customer_id, to=_split_addresses(to_text), cc=_split_addresses(cc_text))

    try:
        await run_in_threadpool(save)
    except SettingsError as exc:
        label = {"invoice_emails": "To", "cc_emails": "CC"}.get(exc.field, exc.field)
        return await run_in_threadpool(
            _customer_page,
            request,
            session,
            svc,
            customer_id,
            status=400,
            recipients_error=f"{label}: {exc.message}",
            to_text=to_text,
            cc_text=cc_text,
        )
    return redirect(f"{PREFIX}/customers/{quote(customer_id, safe='')}?notice=recipients")


@router.post("/customers/{customer_id}/einvoice")
async def save_einvoice_profile(
    customer_id: str, request: Request, session: CsrfSessionDep, svc: ServicesDep, form: FormDep
) -> Response:
    check_id(request, session, customer_id, "customer")
    profile = form_text(form, "einvoice_profile", 20)
    reference = form_text(form, "buyer_reference", 200)

    def save() -> None:
        with session_scope(svc.engine) as db:
            set_einvoice_profile(db, customer_id, profile, reference)

    try:
        await run_in_threadpool(save)
    except SettingsError as exc:
        return await run_in_threadpool(
            _customer_page, request, session, svc, customer_id, status=400, error=f"E-invoice: {exc.message}"
        )
    return redirect(f"{PREFIX}/customers/{quote(customer_id, safe='')}?notice=einvoice")


@router.post("/invoices/{invoice_id}/send_reminder")
async def send_reminder(
    invoice_id: str, request: Request, session: CsrfSessionDep, svc: ServicesDep, form: FormDep
) -> Response:
    """The same checks and idempotency as the JSON API's (Services.request_reminder)."""
    check_id(request, session, invoice_id, "invoice")
    back_to = form_text(form, "customer_id", 255)
    request_id: str | None = form_text(form, "request_id", 200)
    if not _REQUEST_ID.fullmatch(request_id or ""):
        request_id = None  # a plain new reminder, as the API does without Idempotency-Key
    try:
        await svc.request_reminder(invoice_id, request_id)
    except ApiError as exc:
        if exc.status not in (409, 503):
            raise
        message = (
            exc.message
            if exc.status == 409
            else "Relance cannot reach Temporal right now: nothing was sent. Try again in a moment."
        )
        if not back_to:
            return message_page(request, exc.status, "Reminder not sent", message, session)
        return await run_in_threadpool(
            _customer_page, request, session, svc, back_to, status=exc.status, error=f"Reminder not sent: {message}"
        )
    if not back_to:
        return message_page(request, 200, "Reminder requested", NOTICES["reminder"], session)
    return redirect(f"{PREFIX}/customers/{quote(back_to, safe='')}?notice=reminder")
