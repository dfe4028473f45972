"""The ops dashboard: server-rendered HTML pages on the API's own app, under /dashboard.

Same services as the JSON API and the CLI (account_service, templates_service, the email
log, the reminder route), same key: an operator logs in with RELANCE_API_KEY once and
gets a session cookie, so the key itself never sits in the browser.

Sessions. The cookie is a signed token, not a server-side record:

    <session id>.<expiry, unix seconds>.<HMAC-SHA256(secret, "session|id|expiry")>

with `secret = HMAC-SHA256(api_key, "relance-dashboard-session-v1")`. So sessions
survive an API restart and work across several API processes, they end by themselves
after SESSION_SECONDS, and rotating the API key ends every one of them (a cookie signed
with the old key no longer verifies). The cookie is HttpOnly, SameSite=Strict, scoped to
/dashboard, and Secure when the request came over HTTPS (directly or per
X-Forwarded-Proto). It cannot be used as a bearer token on /v1. Logging out drops the
cookie and puts the session id on a revocation list kept in memory until the token would
have expired anyway (a list per process: with several API processes, a stolen cookie
stays valid on the others until it expires).

CSRF. Every POST carries a token bound to the session, `HMAC(secret, "csrf|" + id)`, in
a hidden `csrf_token` field (or the `X-CSRF-Token` header, for the template preview's
fetch), checked in constant time; without it the answer is 403 and nothing happens.
SameSite=Strict is a second layer. The login form, which has no session yet, uses a
double-submit token instead (a random value in a short-lived cookie and in the form).

Pages are Jinja2 templates (dashboard_templates/, autoescaped) with plain CSS and a
Content-Security-Policy that allows only the nonce'd script of the template editor. An
email as sent is shown in a sandboxed iframe whose document is served with
`default-src 'none'; style-src 'unsafe-inline'; img-src data:` (and the CSP `sandbox`
directive, so it stays inert even when opened directly).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import or_
from sqlmodel import select
from starlette.datastructures import FormData, UploadFile

from relance.api.app import Services, services
from relance.api.auth import key_matches
from relance.api.schemas import ApiError
from relance.contracts.account import REMINDER_PRESETS, AccountSettings
from relance.contracts.kinds import EmailKind
from relance.contracts.messages import OutgoingEmail
from relance.rendering.custom import CustomTemplate, TemplateProblem, render_custom, sample_context
from relance.rendering.formatting import format_money
from relance.rendering.i18n import resolve_locale, supported_locales
from relance.rules.manual_reminders import refusal
from relance.rules.settings_advice import advise
from relance.services.account import (
    MAX_LOGO_BYTES,
    SettingsError,
    patch_settings,
    sender_records,
    set_logo,
    set_recipients,
    set_sender_domain,
    verify_sender_domain,
)
from relance.services.sender_domain import VerificationResult, resolver_for
from relance.services.templates import active_template, reset_template, save_template
from relance.storage import email_log
from relance.storage.database import session_scope
from relance.storage.documents import get_document
from relance.storage.settings_store import load_settings
from relance.storage.tables import CustomerRecord, EmailLogEntry, InvoiceRecord, as_utc

log = logging.getLogger("relance.dashboard")

PREFIX = "/dashboard"
SESSION_COOKIE = "relance_session"
LOGIN_COOKIE = "relance_login"
SESSION_SECONDS = 12 * 3600
LOGIN_FORM_SECONDS = 3600
# Failed logins per client address within the window before the form answers 429.
LOGIN_FAILURES = 10
LOGIN_WINDOW_SECONDS = 300
PAGE_SIZE = 50

TEMPLATES_DIR = Path(__file__).resolve().parent / "dashboard_templates"

# Pages: only the nonce'd script runs; styles inline (an email preview in a srcdoc frame
# inherits this policy and is made of style attributes); images from here or data: URIs.
PAGE_CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# An email as sent: markup and inline styles only. `sandbox` keeps it script-less and
# origin-less even when the URL is opened on its own rather than in the iframe.
EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
    "base-uri 'none'; frame-ancestors 'self'; sandbox"
)
PLAIN_CSP = "default-src 'none'; frame-ancestors 'none'"

_KIND_LABELS = {
    EmailKind.invoice_finalized: "Invoice",
    EmailKind.invoice_reminder: "Payment reminder",
    EmailKind.payment_failed: "Payment failed",
    EmailKind.payment_action_required: "Payment needs confirmation",
    EmailKind.receipt: "Receipt",
    EmailKind.card_expiring: "Card expiring",
    EmailKind.credit_note_created: "Credit note",
    EmailKind.refund_issued: "Refund",
    EmailKind.trial_ending: "Trial ending",
    EmailKind.subscription_canceled: "Subscription canceled",
}
_INVOICE_KINDS = {
    EmailKind.invoice_finalized,
    EmailKind.invoice_reminder,
    EmailKind.payment_failed,
    EmailKind.payment_action_required,
    EmailKind.receipt,
}
_PRESET_LABELS = {
    "before": "Before the due date",
    "on_due_date": "On the due date",
    "after": "After the due date",
    "balanced": "Balanced",
}
_NOTICES = {
    "recipients": "Recipients saved. The next email prepared for this customer uses them.",
    "reminder": "Reminder requested: it goes out in a moment (the workflow checks the invoice is still open).",
    "settings": "Settings saved.",
    "logo": "Logo saved.",
    "logo_removed": "Logo removed.",
    "domain": "Sender domain set. Add the DNS records below, then press Verify.",
    "template_saved": "Template saved. Invoices finalized from now on use it.",
    "template_reset": "Back to Relance's template for invoices finalized from now on.",
}
_SPLIT_ADDRESSES = re.compile(r"[\s,;]+")
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,200}")


# ---- sessions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardSession:
    sid: str
    expires: int
    csrf: str


@dataclass
class _State:
    """Per app, in memory: revoked session ids and recent login failures."""

    revoked: dict[str, int] = field(default_factory=dict)
    failures: dict[str, deque[float]] = field(default_factory=dict)

    def revoke(self, session: DashboardSession) -> None:
        now = int(time.time())
        self.revoked = {sid: exp for sid, exp in self.revoked.items() if exp > now}
        self.revoked[session.sid] = session.expires

    def too_many_failures(self, client: str) -> bool:
        recent = self.failures.get(client)
        if not recent:
            return False
        while recent and recent[0] < time.monotonic() - LOGIN_WINDOW_SECONDS:
            recent.popleft()
        return len(recent) >= LOGIN_FAILURES

    def failed(self, client: str) -> None:
        if len(self.failures) > 10_000:  # bounded, whatever the number of addresses
            self.failures.clear()
        self.failures.setdefault(client, deque(maxlen=LOGIN_FAILURES)).append(time.monotonic())


def _state(request: Request) -> _State:
    state = getattr(request.app.state, "dashboard", None)
    if state is None:
        state = request.app.state.dashboard = _State()
    return state


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _secret(svc: Services) -> bytes | None:
    """Derived from the API key: no key configured, no dashboard (fail closed)."""
    key = svc.config.api_key.get_secret_value() if svc.config.api_key is not None else ""
    if not key:
        return None
    return hmac.new(key.encode(), b"relance-dashboard-session-v1", hashlib.sha256).digest()


def _mac(secret: bytes, message: str) -> str:
    return _b64(hmac.new(secret, message.encode(), hashlib.sha256).digest())


def _session_of(secret: bytes, sid: str, expires: int) -> DashboardSession:
    return DashboardSession(sid=sid, expires=expires, csrf=_mac(secret, f"csrf|{sid}"))


def issue_session(secret: bytes) -> tuple[str, DashboardSession]:
    sid, expires = secrets.token_urlsafe(18), int(time.time()) + SESSION_SECONDS
    return f"{sid}.{expires}.{_mac(secret, f'session|{sid}|{expires}')}", _session_of(secret, sid, expires)


def read_session(secret: bytes | None, token: str | None, revoked: dict[str, int]) -> DashboardSession | None:
    if secret is None or not token or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    sid, expires_text, mac = parts
    if not hmac.compare_digest(mac, _mac(secret, f"session|{sid}|{expires_text}")):
        return None
    expires = int(expires_text)
    if expires <= time.time() or sid in revoked:
        return None
    return _session_of(secret, sid, expires)


def _secure(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ---- rendering ---------------------------------------------------------------------------


class _PageExit(Exception):
    """Ends a dashboard request with this response (a redirect, a 403, an error page)."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


class _DashboardRoute(APIRoute):
    """Turns _PageExit into its response and adds the headers every page carries."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except _PageExit as exc:
                response = exc.response
            headers = response.headers
            headers.setdefault("Content-Security-Policy", PLAIN_CSP)
            headers.setdefault("X-Frame-Options", "DENY")
            headers["Cache-Control"] = "no-store"
            headers["Referrer-Policy"] = "no-referrer"
            headers["X-Content-Type-Options"] = "nosniff"
            return response

        return route


router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=_DashboardRoute)


def _when(value: datetime | None) -> str:
    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["money"] = lambda amount, currency: format_money(amount, currency, "en") if currency else amount
    env.globals.update(prefix=PREFIX, kind_labels=_KIND_LABELS, quote=lambda v: quote(str(v), safe=""))
    return env


def render(
    request: Request, name: str, *, status: int = 200, session: DashboardSession | None = None, **context: Any
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    notice = _NOTICES.get(request.query_params.get("notice", ""))
    html = (
        _environment()
        .get_template(name)
        .render(
            request=request,
            session=session,
            csrf=session.csrf if session else "",
            nonce=nonce,
            notice=context.pop("notice", notice),
            error=context.pop("error", None),
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = PAGE_CSP.format(nonce=nonce)
    return response


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _message_page(
    request: Request, status: int, title: str, message: str, session: DashboardSession | None = None
) -> HTMLResponse:
    return render(request, "message.html", status=status, session=session, title=title, message=message)


def _not_found(request: Request, session: DashboardSession, what: str) -> _PageExit:
    return _PageExit(_message_page(request, 404, "Not found", what, session))


def _temporal_url(svc: Services, invoice_id: str) -> str | None:
    base = svc.config.temporal_ui_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        return None
    namespace = quote(svc.config.temporal_namespace, safe="")
    return f"{base}/namespaces/{namespace}/workflows/{quote('invoice-' + invoice_id, safe='')}"


# ---- dependencies ------------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    # Only a page of the dashboard: never another host ("//evil", "/\\evil").
    if value and value.startswith(PREFIX + "/") and "\\" not in value and not value.startswith("//"):
        if not any(ord(c) < 0x21 for c in value):
            return value
    return f"{PREFIX}/customers"


async def current_session(request: Request, svc: Services = Depends(services)) -> DashboardSession:
    session = read_session(_secret(svc), request.cookies.get(SESSION_COOKIE), _state(request).revoked)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise _PageExit(
            _redirect(f"{PREFIX}/login?{urlencode({'next': target})}" if request.method == "GET" else f"{PREFIX}/login")
        )
    return session


async def _presented_csrf(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def csrf_session(request: Request, session: DashboardSession = Depends(current_session)) -> DashboardSession:
    """The session of a POST that carries its CSRF token; 403 otherwise."""
    if not hmac.compare_digest((await _presented_csrf(request)).encode(), session.csrf.encode()):
        raise _PageExit(
            _message_page(
                request,
                403,
                "Refused",
                "This form has expired or did not come from the dashboard. Go back, reload the page and try again.",
                session,
            )
        )
    return session


async def _form(request: Request) -> FormData:
    return await request.form()


def _text(form: FormData, name: str, limit: int = 10_000) -> str:
    """A text field; browsers send a textarea's line breaks as CRLF, stored here as LF."""
    value = form.get(name)
    return value[:limit].replace("\r\n", "\n") if isinstance(value, str) else ""


# ---- login -------------------------------------------------------------------------------


def _login_page(request: Request, status: int, error: str | None, next_url: str) -> HTMLResponse:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", status=status, error=error, login_token=token, next_url=next_url)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_FORM_SECONDS,
        path=f"{PREFIX}/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


@router.get("/login")
async def login_form(request: Request, svc: Services = Depends(services)) -> Response:
    next_url = _safe_next(request.query_params.get("next"))
    if read_session(_secret(svc), request.cookies.get(SESSION_COOKIE), _state(request).revoked):
        return _redirect(next_url)
    return _login_page(request, 200, None, next_url)


@router.post("/login")
async def login(request: Request, svc: Services = Depends(services)) -> Response:
    form = await request.form()
    next_url = _safe_next(_text(form, "next", 2000))
    cookie, presented = request.cookies.get(LOGIN_COOKIE, ""), _text(form, "csrf_token", 200)
    if not cookie or not hmac.compare_digest(cookie.encode(), presented.encode()):
        return _login_page(request, 403, "The form expired. Please try again.", next_url)
    state = _state(request)
    if state.too_many_failures(_client(request)):
        return _login_page(request, 429, "Too many attempts. Wait a few minutes and try again.", next_url)
    secret = _secret(svc)
    expected = svc.config.api_key.get_secret_value() if svc.config.api_key is not None else None
    if secret is None or not key_matches(_text(form, "api_key", 1000), expected):
        state.failed(_client(request))
        log.warning("dashboard login refused from %s", _client(request))
        return _login_page(request, 401, "That key is not valid.", next_url)
    token, _ = issue_session(secret)
    response = _redirect(next_url)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(
        LOGIN_COOKIE, path=f"{PREFIX}/login", httponly=True, samesite="strict", secure=_secure(request)
    )
    return response


@router.post("/logout")
async def logout(request: Request, session: DashboardSession = Depends(csrf_session)) -> Response:
    _state(request).revoke(session)
    response = _redirect(f"{PREFIX}/login")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict", secure=_secure(request))
    return response


@router.get("")
@router.get("/")
async def home(_session: DashboardSession = Depends(current_session)) -> Response:
    return _redirect(f"{PREFIX}/customers")


# ---- customers ---------------------------------------------------------------------------


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    return min(int(raw), 1_000_000) if raw.isdigit() else 0


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@router.get("/customers")
def customers(
    request: Request, session: DashboardSession = Depends(current_session), svc: Services = Depends(services)
) -> Response:
    q = request.query_params.get("q", "").strip()[:200]
    offset = _offset(request)
    stmt = select(CustomerRecord)
    if q:
        pattern = _like(q)
        stmt = stmt.where(
            or_(
                CustomerRecord.id.ilike(pattern, escape="\\"),
                CustomerRecord.email.ilike(pattern, escape="\\"),
                CustomerRecord.name.ilike(pattern, escape="\\"),
            )
        )
    stmt = stmt.order_by(CustomerRecord.updated_at.desc(), CustomerRecord.id).offset(offset).limit(PAGE_SIZE + 1)
    with session_scope(svc.engine) as db:
        rows = list(db.exec(stmt))
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
    emails: list[EmailLogEntry]
    invoices: list[InvoiceRecord]
    more: bool


def _load_customer(svc: Services, customer_id: str, offset: int) -> _CustomerView:
    with session_scope(svc.engine) as db:
        record = db.get(CustomerRecord, customer_id)
        emails = email_log.customer_emails(
            db, customer_id, days=svc.config.log_retention_days, limit=PAGE_SIZE + 1, offset=offset
        )
        invoices = list(
            db.exec(
                select(InvoiceRecord)
                .where(InvoiceRecord.customer_id == customer_id)
                .order_by(InvoiceRecord.last_event_at.desc(), InvoiceRecord.id)
                .limit(PAGE_SIZE)
            )
        )
        known = {inv.id for inv in invoices}
        # Invoices in the log that are older than the newest PAGE_SIZE still get their row.
        for inv_id in dict.fromkeys(e.invoice_id for e in emails[:PAGE_SIZE] if e.invoice_id):
            if inv_id not in known and (rec := db.get(InvoiceRecord, inv_id)) is not None:
                invoices.append(rec)
                known.add(inv_id)
    return _CustomerView(record, emails[:PAGE_SIZE], invoices, len(emails) > PAGE_SIZE)


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
    notice: str | None = None,
) -> HTMLResponse:
    view = _load_customer(svc, customer_id, offset)
    if view.record is None and not view.emails and not view.invoices and status == 200:
        raise _not_found(request, session, f"Relance has no customer {customer_id!r}.")
    rec = view.record
    invoice_numbers = {inv.id: inv.number for inv in view.invoices}
    return render(
        request,
        "customer.html",
        status=status,
        session=session,
        customer_id=customer_id,
        customer=rec,
        emails=view.emails,
        log_days=svc.config.log_retention_days,
        invoices=view.invoices,
        invoice_numbers=invoice_numbers,
        reminder_refusal=refusal,
        offset=offset,
        prev_offset=max(offset - PAGE_SIZE, 0) if offset else None,
        next_offset=offset + PAGE_SIZE if view.more else None,
        temporal_url=lambda invoice_id: _temporal_url(svc, invoice_id),
        to_text=to_text if to_text is not None else "\n".join(rec.invoice_emails if rec else []),
        cc_text=cc_text if cc_text is not None else "\n".join(rec.cc_emails if rec else []),
        recipients_error=recipients_error,
        error=error,
        request_id=lambda: f"dashboard-{uuid.uuid4().hex}",
        **({"notice": notice} if notice else {}),
    )


def _check_id(request: Request, session: DashboardSession, value: str, what: str) -> str:
    if not 1 <= len(value) <= 255:
        raise _not_found(request, session, f"No such {what}.")
    return value


@router.get("/customers/{customer_id}")
def customer_page(
    customer_id: str,
    request: Request,
    session: DashboardSession = Depends(current_session),
    svc: Services = Depends(services),
) -> Response:
    _check_id(request, session, customer_id, "customer")
    return _customer_page(request, session, svc, customer_id, offset=_offset(request))


@router.post("/customers/{customer_id}/recipients")
async def save_recipients(
    customer_id: str,
    request: Request,
    session: DashboardSession = Depends(csrf_session),
    svc: Services = Depends(services),
    form: FormData = Depends(_form),
) -> Response:
    _check_id(request, session, customer_id, "customer")
    to_text, cc_text = _text(form, "to"), _text(form, "cc")

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
    return _redirect(f"{PREFIX}/customers/{quote(customer_id, safe='')}?notice=recipients")


@router.post("/invoices/{invoice_id}/send_reminder")
async def send_reminder(
    invoice_id: str,
    request: Request,
    session: DashboardSession = Depends(csrf_session),
    svc: Services = Depends(services),
    form: FormData = Depends(_form),
) -> Response:
    """The JSON API's route itself, so the 409 cases and the idempotency are the same."""
    from relance.api.routes_invoices import send_reminder as api_send_reminder

    _check_id(request, session, invoice_id, "invoice")
    back_to = _text(form, "customer_id", 255)
    request_id = _text(form, "request_id", 200)
    if not _REQUEST_ID.fullmatch(request_id):
        request_id = None  # a plain new reminder, as the API does without Idempotency-Key
    try:
        await api_send_reminder(invoice_id=invoice_id, idempotency_key=request_id, svc=svc)
    except ApiError as exc:
        if exc.status not in (409, 503):
            raise
        message = (
            exc.message
            if exc.status == 409
            else ("Relance cannot reach Temporal right now: nothing was sent. Try again in a moment.")
        )
        if not back_to:
            return _message_page(request, exc.status, "Reminder not sent", message, session)
        return await run_in_threadpool(
            _customer_page, request, session, svc, back_to, status=exc.status, error=f"Reminder not sent: {message}"
        )
    if not back_to:
        return _message_page(request, 200, "Reminder requested", _NOTICES["reminder"], session)
    return _redirect(f"{PREFIX}/customers/{quote(back_to, safe='')}?notice=reminder")


# ---- emails ------------------------------------------------------------------------------


@router.get("/emails/{email_id}")
def email_page(
    email_id: str,
    request: Request,
    session: DashboardSession = Depends(current_session),
    svc: Services = Depends(services),
) -> Response:
    from relance.api.routes_emails import get_email

    try:
        email = get_email(_check_id(request, session, email_id, "email")[:64], svc)
    except ApiError as exc:
        if exc.status != 404:
            raise
        raise _not_found(request, session, "No such email.") from None
    return render(
        request,
        "email.html",
        session=session,
        email=email,
        temporal_url=_temporal_url(svc, email.invoice) if email.invoice else None,
    )


@router.get("/emails/{email_id}/html")
def email_html(
    email_id: str,
    request: Request,
    session: DashboardSession = Depends(current_session),
    svc: Services = Depends(services),
) -> Response:
    with session_scope(svc.engine) as db:
        entry = db.get(EmailLogEntry, email_id[:64])
        message = (
            OutgoingEmail.model_validate_json(get_document(db, entry.message_ref))
            if entry is not None and entry.message_ref
            else None
        )
    if message is None or not message.html:
        raise _not_found(request, session, "This email has no HTML part.")
    return HTMLResponse(message.html, headers={"Content-Security-Policy": EMAIL_CSP, "X-Frame-Options": "SAMEORIGIN"})


@router.get("/emails/{email_id}/attachments/{n}")
def email_attachment(
    email_id: str,
    n: str,
    request: Request,
    session: DashboardSession = Depends(current_session),
    svc: Services = Depends(services),
) -> Response:
    from relance.api.routes_emails import get_attachment

    if not n.isdigit() or len(n) > 4:
        raise _not_found(request, session, "No such attachment.")
    try:
        return get_attachment(email_id[:64], int(n), svc)
    except ApiError as exc:
        if exc.status != 404:
            raise
        raise _not_found(request, session, exc.message) from None


# ---- settings ----------------------------------------------------------------------------


def _reminder_preset(reminders: list[int]) -> str:
    return next((name for name, days in REMINDER_PRESETS.items() if sorted(days) == sorted(reminders)), "custom")


def _form_values(s: AccountSettings) -> dict[str, Any]:
    """The settings form's fields, named after the settings' dotted paths (which is how
    SettingsError names them too)."""
    b, snd, links = s.branding, s.sender, s.links
    values: dict[str, Any] = {
        "reminders_preset": _reminder_preset(s.reminders),
        "reminders": ", ".join(str(d) for d in s.reminders),
        "send_hour": str(s.send_hour),
        "send_minute": str(s.send_minute),
        "timezone": s.timezone,
        "attach_pdf": s.attach_pdf,
        "remind_subscription_invoices": s.remind_subscription_invoices,
        "default_locale": s.default_locale,
        "trial_ending_days_before": str(s.trial_ending_days_before),
        "card_expiring_days_before_month_end": ""
        if s.card_expiring_days_before_month_end is None
        else str(s.card_expiring_days_before_month_end),
        "branding.business_name": b.business_name,
        "branding.brand_color": b.brand_color,
        "branding.accent_color": b.accent_color,
        "branding.address_lines": "\n".join(b.address_lines),
        "branding.support_email": b.support_email or "",
        "branding.support_phone": b.support_phone or "",
        "branding.support_url": b.support_url or "",
        "branding.footer": b.footer or "",
        "branding.legal_text": b.legal_text or "",
        "sender.from_name": snd.from_name or "",
        "sender.reply_to": snd.reply_to or "",
        "links.pay_url": links.pay_url or "",
        "links.update_payment_url": links.update_payment_url or "",
        "links.confirm_payment_url": links.confirm_payment_url or "",
    }
    for kind in EmailKind:
        values[f"emails.{kind.value}"] = s.email_enabled(kind)
    return values


_CHECKBOXES = {"attach_pdf", "remind_subscription_invoices", *(f"emails.{k.value}" for k in EmailKind)}


def _submitted_values(form: FormData, current: AccountSettings) -> dict[str, Any]:
    values = _form_values(current)
    for name in values:
        if name in _CHECKBOXES:
            values[name] = form.get(name) == "on"
        else:
            values[name] = _text(form, name, 5000)
    return values


def _int(value: str, field: str, *, optional: bool = False) -> int | None:
    value = value.strip()
    if optional and not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise SettingsError(field, "a whole number is required") from None


def _settings_patch(v: dict[str, Any]) -> dict[str, Any]:
    preset = v["reminders_preset"]
    if preset in REMINDER_PRESETS:
        reminders = list(REMINDER_PRESETS[preset])
    else:
        try:
            reminders = [int(d) for d in re.split(r"[\s,;]+", v["reminders"].strip()) if d]
        except ValueError:
            raise SettingsError(
                "reminders", "whole numbers of days from the due date, separated by commas (e.g. -3, 0, 7)"
            ) from None
    locale = v["default_locale"].strip()
    # The select offers the catalogs Relance has, plus whatever is stored already (a tag
    # such as "fr-CA" resolves to "fr" at send time), so saving never changes it silently.
    if not re.fullmatch(r"[A-Za-z]{2,8}([_-][A-Za-z0-9]{1,8})*", locale):
        raise SettingsError("default_locale", "a language tag such as en, fr or pt_BR")

    def opt(name: str) -> str | None:
        return v[name].strip() or None

    return {
        "emails": {k.value: bool(v[f"emails.{k.value}"]) for k in EmailKind},
        "reminders": reminders,
        "send_hour": _int(v["send_hour"], "send_hour"),
        "send_minute": _int(v["send_minute"], "send_minute"),
        "timezone": v["timezone"].strip(),
        "attach_pdf": bool(v["attach_pdf"]),
        "remind_subscription_invoices": bool(v["remind_subscription_invoices"]),
        "default_locale": locale,
        "trial_ending_days_before": _int(v["trial_ending_days_before"], "trial_ending_days_before"),
        "card_expiring_days_before_month_end": _int(
            v["card_expiring_days_before_month_end"], "card_expiring_days_before_month_end", optional=True
        ),
        "branding": {
            "business_name": v["branding.business_name"].strip(),
            "brand_color": v["branding.brand_color"].strip(),
            "accent_color": v["branding.accent_color"].strip(),
            "address_lines": [line.strip() for line in v["branding.address_lines"].splitlines() if line.strip()],
            "support_email": opt("branding.support_email"),
            "support_phone": opt("branding.support_phone"),
            "support_url": opt("branding.support_url"),
            "footer": opt("branding.footer"),
            "legal_text": opt("branding.legal_text"),
        },
        "sender": {"from_name": opt("sender.from_name"), "reply_to": opt("sender.reply_to")},
        "links": {
            "pay_url": opt("links.pay_url"),
            "update_payment_url": opt("links.update_payment_url"),
            "confirm_payment_url": opt("links.confirm_payment_url"),
        },
    }


@lru_cache(maxsize=1)
def _timezones() -> list[str]:
    return sorted(tz for tz in available_timezones() if "/" in tz or tz == "UTC")


def _settings_page(
    request: Request,
    session: DashboardSession,
    svc: Services,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    field_error: SettingsError | None = None,
    error: str | None = None,
    logo_error: str | None = None,
    domain_error: SettingsError | None = None,
    domain_values: dict[str, str] | None = None,
    verification: VerificationResult | None = None,
) -> HTMLResponse:
    with session_scope(svc.engine) as db:
        current, version = load_settings(db)
        templates = {kind: active_template(db, kind) for kind in EmailKind}
    s = current.sender
    return render(
        request,
        "settings.html",
        status=status,
        session=session,
        settings=current,
        version=version,
        advice=advise(current),
        v=values or _form_values(current),
        field_error=field_error,
        error=error,
        logo_error=logo_error,
        presets=REMINDER_PRESETS,
        preset_labels=_PRESET_LABELS,
        kinds=list(EmailKind),
        timezones=_timezones(),
        locales=supported_locales(),
        records=sender_records(current),
        verification=verification,
        domain_error=domain_error,
        max_logo_kb=MAX_LOGO_BYTES // 1000,
        d=domain_values
        or {
            "domain": s.domain or "",
            "from_email": s.from_email or "",
            "from_name": s.from_name or "",
            "spf_include": s.spf_include or "",
            "dkim_target": s.dkim_target or "",
        },
        templates={kind: (version_, template is not None) for kind, (version_, template) in templates.items()},
    )


@router.get("/settings")
def settings_page(
    request: Request, session: DashboardSession = Depends(current_session), svc: Services = Depends(services)
) -> Response:
    return _settings_page(request, session, svc)


@router.post("/settings")
async def save_settings_form(
    request: Request,
    session: DashboardSession = Depends(csrf_session),
    svc: Services = Depends(services),
    form: FormData = Depends(_form),
) -> Response:
    def save() -> HTMLResponse | None:
        with session_scope(svc.engine) as db:
            current, _ = load_settings(db)
        values = _submitted_values(form, current)
        try:
            with session_scope(svc.engine) as db:
                patch_settings(db, _settings_patch(values))
        except SettingsError as exc:
            return _settings_page(
                request,
                session,
                svc,
                status=400,
                values=values,
                field_error=exc,
                error=f"Not saved. {exc.field}: {exc.message}",
            )
        return None

    page = await run_in_threadpool(save)
    return page or _redirect(f"{PREFIX}/settings?notice=settings")


@router.post("/settings/logo")
async def save_logo(
    request: Request,
    session: DashboardSession = Depends(csrf_session),
    svc: Services = Depends(services),
    form: FormData = Depends(_form),
) -> Response:
    remove = form.get("action") == "remove"
    content: bytes | None = None
    if not remove:
        upload = form.get("logo")
        if isinstance(upload, UploadFile):
            content = await upload.read(MAX_LOGO_BYTES + 1)
        if not content:
            return await run_in_threadpool(
                _settings_page,
                request,
                session,
                svc,
                status=400,
                logo_error="Choose a PNG, JPEG or GIF file to upload.",
            )

    def save() -> None:
        with session_scope(svc.engine) as db:
            set_logo(db, content)

    try:
        await run_in_threadpool(save)
    except SettingsError as exc:
        return await run_in_threadpool(_settings_page, request, session, svc, status=400, logo_error=exc.message)
    return _redirect(f"{PREFIX}/settings?notice={'logo_removed' if remove else 'logo'}#logo")


@router.post("/settings/domain")
async def save_domain(
    request: Request,
    session: DashboardSession = Depends(csrf_session),
    svc: Services = Depends(services),
    form: FormData = Depends(_form),
) -> Response:
    d = {
        name: _text(form, name, 500).strip()
        for name in ("domain", "from_email", "from_name", "spf_include", "dkim_target")
    }

    def save() -> None:
        with session_scope(svc.engine) as db:
            set_sender_domain(
                db,
                d["domain"],
                d["from_email"],
                from_name=d["from_name"] or None,
                spf_include=d["spf_include"] or None,
                dkim_target=d["dkim_target"] or None,
            )

    try:
        await run_in_threadpool(save)
    except (SettingsError, ValueError) as exc:
        problem = exc if isinstance(exc, SettingsError) else SettingsError("sender.domain", str(exc))
        return await run_in_threadpool(
            _settings_page, request, session, svc, status=400, domain_error=problem, domain_values=d
        )
    return _redirect(f"{PREFIX}/settings?notice=domain#domain")


@router.post("/settings/domain/verify")
async def verify_domain(
    request: Request, session: DashboardSession = Depends(csrf_session), svc: Services = Depends(services)
) -> Response:
    config = svc.config
    resolver = resolver_for(config.dns_nameserver, config.dns_port) if config.dns_nameserver else None

    def verify() -> VerificationResult:
        with session_scope(svc.engine) as db:
            return verify_sender_domain(db, resolver)

    try:
        result = await run_in_threadpool(verify)
    except (SettingsError, ValueError) as exc:
        problem = exc if isinstance(exc, SettingsError) else SettingsError("sender.domain", str(exc))
        return await run_in_threadpool(_settings_page, request, session, svc, status=400, domain_error=problem)
    return await run_in_threadpool(_settings_page, request, session, svc, verification=result)


# ---- templates ---------------------------------------------------------------------------


def _starter(kind: EmailKind) -> CustomTemplate:
    """What the editor starts from when the kind has no custom template yet."""
    label = _KIND_LABELS[kind].lower()
    if kind in _INVOICE_KINDS:
        subject = f"{_KIND_LABELS[kind]} {{{{ invoice.number or invoice.id }}}} from {{{{ branding.business_name }}}}"
        body = (
            "  <p>Invoice <strong>{{ invoice.number or invoice.id }}</strong>: "
            "{{ invoice.amount_due|money(invoice.currency) }}"
            "{% if invoice.due_date %}, due {{ invoice.due_date|date }}{% endif %}.</p>\n"
            '  {% if links.pay_url %}<p><a class="button" href="{{ links.pay_url }}">Pay now</a></p>'
            "{% endif %}\n"
        )
    else:
        subject = f"{_KIND_LABELS[kind]}: a message from {{{{ branding.business_name }}}}"
        body = f"  <p>This is your {label} notice.</p>\n"
    html = (
        "<style>\n  body { font-family: Arial, sans-serif; color: #1f2937; }\n"
        "  .button { background: {{ branding.accent_color }}; color: #fff; padding: 10px 16px; "
        "text-decoration: none; border-radius: 4px; }\n</style>\n"
        '<div>\n  <h1 style="color: {{ branding.brand_color }}">{{ branding.business_name }}</h1>\n'
        "  <p>Hello{% if customer.name %} {{ customer.name }}{% endif %},</p>\n"
        f"{body}"
        "  {% if branding.support_email %}<p>Questions? {{ branding.support_email }}</p>{% endif %}\n</div>\n"
    )
    return CustomTemplate(subject=subject, html=html, text=None)


def _kind(request: Request, session: DashboardSession, value: str) -> EmailKind:
    try:
        return EmailKind(value)
    except ValueError:
        raise _not_found(request, session, "No such kind of email.") from None


def _editor_page(
    request: Request,
    session: DashboardSession,
    svc: Services,
    kind: EmailKind,
    *,
    status: int = 200,
    template: CustomTemplate | None = None,
    problem: TemplateProblem | None = None,
) -> HTMLResponse:
    with session_scope(svc.engine) as db:
        version, active = active_template(db, kind)
    shown = template or active or _starter(kind)
    return render(
        request,
        "template_editor.html",
        status=status,
        session=session,
        kind=kind,
        version=version,
        custom=active is not None,
        t=shown,
        problem=problem,
        kinds=list(EmailKind),
        error=f"Not saved. {problem}" if problem else None,
    )


@router.get("/settings/templates/{kind}")
def template_page(
    kind: str, request: Request, session: DashboardSession = Depends(current_session), svc: Services = Depends(services)
) -> Response:
    return _editor_page(request, session, svc, _kind(request, session, kind))


def _template_from(form: FormData) -> CustomTemplate:
    limit = 200_000  # past the renderer's own 100 KB per part, so its error is the one shown
    return CustomTemplate(
        subject=_text(form, "subject", limit), html=_text(form, "html", limit), text=_text(form, "text", limit) or None
    )


@router.post("/settings/templates/{kind}")
async def save_template_form(
    kind: str,
    request: Request,
    session: DashboardSession = Depends(csrf_session),
    svc: Services = Depends(services),
    form: FormData = Depends(_form),
) -> Response:
    email_kind = _kind(request, session, kind)
    if form.get("action") == "reset":

        def reset() -> None:
            with session_scope(svc.engine) as db:
                reset_template(db, email_kind)

        await run_in_threadpool(reset)
        return _redirect(f"{PREFIX}/settings/templates/{email_kind.value}?notice=template_reset")
    template = _template_from(form)

    def save() -> None:
        with session_scope(svc.engine) as db:
            save_template(db, email_kind, template)

    try:
        await run_in_threadpool(save)
    except TemplateProblem as exc:
        return await run_in_threadpool(
            _editor_page, request, session, svc, email_kind, status=400, template=template, problem=exc
        )
    return _redirect(f"{PREFIX}/settings/templates/{email_kind.value}?notice=template_saved")


@router.post("/settings/templates/{kind}/preview")
async def preview_template(
    kind: str,
    request: Request,
    session: DashboardSession = Depends(csrf_session),
    svc: Services = Depends(services),
    form: FormData = Depends(_form),
) -> Response:
    """The editor's live preview: the template as typed (not saved), on sample data with
    the account's branding, rendered by the same sandbox as real emails."""
    try:
        email_kind = EmailKind(kind)
    except ValueError:
        return JSONResponse({"error": {"message": "no such kind of email"}}, status_code=404)
    template = _template_from(form)

    def run() -> dict[str, Any]:
        with session_scope(svc.engine) as db:
            settings, _ = load_settings(db)
        ctx = sample_context(email_kind).model_copy(update={"branding": settings.branding})
        content = render_custom(email_kind, template, ctx, resolve_locale([settings.default_locale]))
        return {"subject": content.subject, "html": content.html, "text": content.text}

    try:
        return JSONResponse(await run_in_threadpool(run))
    except TemplateProblem as exc:
        return JSONResponse({"error": {"part": exc.part, "line": exc.line, "message": str(exc)}}, status_code=400)
