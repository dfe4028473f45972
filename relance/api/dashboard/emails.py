"""The email log: every email, filtered like GET /v1/emails (a GET form, so it works
without JavaScript), its CSV export; one email as it was sent (headers and delivery,
the HTML in a sandboxed frame served with EMAIL_CSP, the text part, its PDFs), and its
"Resend" form."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from relance.api.dashboard.deps import CsrfSessionDep, FormDep, SessionDep
from relance.api.dashboard.pages import (
    EMAIL_CSP,
    PAGE_SIZE,
    PREFIX,
    REQUEST_ID,
    check_id,
    form_text,
    not_found,
    page_router,
    redirect,
    render,
)
from relance.api.dashboard.sessions import DashboardSession
from relance.api.deps import Services, ServicesDep
from relance.api.email_search import csv_response, filter_from_query
from relance.api.schemas import ApiError, EmailSummary
from relance.api.sent_emails import attachment_response, email_out, email_summary
from relance.contracts.kinds import EmailKind
from relance.services.invoice_timeline import temporal_ui_url
from relance.storage import webhooks_store
from relance.storage.database import session_scope
from relance.storage.email_log_query import STATUSES, Cursor, EmailFilter, InvalidCursor, find_emails
from relance.storage.sent_emails import message_of
from relance.storage.tables import EmailLogEntry
from workflows.ids import invoice_workflow_id

router = page_router()
_FIELDS = ("kind", "status", "from", "to", "customer", "invoice", "q")


def _filter_query(request: Request) -> list[tuple[str, str]]:
    """The form's fields as submitted, empty ones left out (for the pager and the export)."""
    return [(k, v) for k, v in request.query_params.multi_items() if k in _FIELDS and v.strip()]


def _page(svc: Services, f: EmailFilter, after: Cursor | None) -> tuple[list[EmailSummary], str | None]:
    with session_scope(svc.engine) as db:
        rows = find_emails(db, f, after=after, limit=PAGE_SIZE + 1)
        page = rows[:PAGE_SIZE]
        deliveries = webhooks_store.delivery_statuses(db, [e.id for e in page])
        emails = [email_summary(e, deliveries.get(e.id)) for e in page]
    return emails, Cursor.after(page[-1]).encode() if len(rows) > PAGE_SIZE else None


@router.get("/emails")
def emails_page(request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    params = request.query_params
    chosen = {name: params.get(name, "") for name in _FIELDS}
    emails: list[EmailSummary] = []
    next_cursor = error = None
    try:
        f = filter_from_query(params, params.getlist("kind"), params.getlist("status"))
        after = Cursor.decode(params["cursor"]) if params.get("cursor") else None
    except InvalidCursor:
        after = None  # a stale or edited link: from the first page
    except ApiError as exc:
        error = f"{exc.field}: {exc.message}" if exc.field else exc.message
    if error is None:
        emails, next_cursor = _page(svc, f, after)
    query = _filter_query(request)
    return render(
        request,
        "emails.html",
        status=400 if error else 200,
        session=session,
        error=error,
        emails=emails,
        chosen=chosen,
        kinds=list(EmailKind),
        statuses=STATUSES,
        paged=bool(params.get("cursor")),
        first_url=f"{PREFIX}/emails" + (f"?{urlencode(query)}" if query else ""),
        next_url=f"{PREFIX}/emails?{urlencode([*query, ('cursor', next_cursor)])}" if next_cursor else None,
        csv_url=f"{PREFIX}/emails.csv" + (f"?{urlencode(query)}" if query else ""),
    )


@router.get("/emails.csv")
def emails_csv(request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    params = request.query_params
    try:
        f = filter_from_query(params, params.getlist("kind"), params.getlist("status"))
    except ApiError as exc:
        raise not_found(request, session, exc.message) from None
    return csv_response(svc.engine, f)


def _email_page(
    request: Request,
    session: DashboardSession,
    svc: Services,
    email_id: str,
    *,
    status: int = 200,
    error: str | None = None,
    to_text: str = "",
    cc_text: str = "",
) -> Response:
    try:
        email = email_out(svc.engine, email_id)
    except ApiError as exc:
        if exc.status != 404:
            raise
        raise not_found(request, session, "No such email.") from None
    return render(
        request,
        "email.html",
        status=status,
        session=session,
        email=email,
        error=error,
        temporal_url=temporal_ui_url(svc.config, invoice_workflow_id(email.invoice)) if email.invoice else None,
        resendable=(email.html is not None or email.text is not None) and email.status != "pending",
        to_text=to_text,
        cc_text=cc_text,
        request_id=f"dashboard-{uuid.uuid4().hex}",
    )


@router.get("/emails/{email_id}")
def email_page(email_id: str, request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    return _email_page(request, session, svc, check_id(request, session, email_id, "email")[:64])


def _addresses(text: str) -> list[str] | None:
    found = [a.strip() for a in text.replace(",", "\n").splitlines() if a.strip()]
    return found or None


@router.post("/emails/{email_id}/resend")
async def resend(email_id: str, request: Request, session: CsrfSessionDep, svc: ServicesDep, form: FormDep) -> Response:
    """The same checks, idempotency and workflow as POST /v1/emails/{id}/resend."""
    email_id = check_id(request, session, email_id, "email")[:64]
    to_text, cc_text = form_text(form, "to", 20_000), form_text(form, "cc", 20_000)
    request_id: str | None = form_text(form, "request_id", 200)
    if not REQUEST_ID.fullmatch(request_id or ""):
        request_id = None
    try:
        req = await svc.resend(email_id, _addresses(to_text), _addresses(cc_text), request_id)
    except ApiError as exc:
        if exc.status == 404:
            raise not_found(request, session, "No such email.") from None
        if exc.status not in (400, 409, 503):
            raise
        message = exc.message if exc.status != 503 else "Relance cannot reach Temporal right now: nothing was sent."
        return await run_in_threadpool(
            _email_page,
            request,
            session,
            svc,
            email_id,
            status=exc.status,
            error=f"Not resent: {message}",
            to_text=to_text,
            cc_text=cc_text,
        )
    return redirect(f"{PREFIX}/emails/{req.email_id}?notice=resend")


@router.get("/emails/{email_id}/html")
def email_html(email_id: str, request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    with session_scope(svc.engine) as db:
        entry = db.get(EmailLogEntry, email_id[:64])
        message = message_of(db, entry) if entry is not None else None
    if message is None or not message.html:
        raise not_found(request, session, "This email has no HTML part.")
    return HTMLResponse(message.html, headers={"Content-Security-Policy": EMAIL_CSP, "X-Frame-Options": "SAMEORIGIN"})


@router.get("/emails/{email_id}/attachments/{n}")
def email_attachment(email_id: str, n: str, request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    if not n.isdigit() or len(n) > 4:
        raise not_found(request, session, "No such attachment.")
    try:
        return attachment_response(svc.engine, email_id[:64], int(n))
    except ApiError as exc:
        if exc.status != 404:
            raise
        raise not_found(request, session, exc.message) from None
