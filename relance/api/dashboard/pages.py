"""What every dashboard page shares: the Jinja2 environment (dashboard_templates/,
autoescaped), the security headers, the router class, and the small helpers for forms,
redirects and error pages.

Pages carry a Content-Security-Policy that allows only the nonce'd script of the
template editor. An email as sent is shown in a sandboxed iframe whose document is
served with EMAIL_CSP (`default-src 'none'` and the `sandbox` directive, so it stays
inert even when opened directly)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Coroutine
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData

from relance.api.dashboard.sessions import DashboardSession
from relance.contracts.kinds import EmailKind
from relance.rendering.formatting import format_money
from relance.storage.tables import as_utc

PREFIX = "/dashboard"
PAGE_SIZE = 50
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "dashboard_templates"

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

KIND_LABELS = {
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
NOTICES = {
    "recipients": "Recipients saved. The next email prepared for this customer uses them.",
    "einvoice": "E-invoice profile saved. The next invoice PDF rendered for this customer uses it.",
    "reminder": "Reminder requested: it goes out in a moment (the workflow checks the invoice is still open).",
    "settings": "Settings saved.",
    "logo": "Logo saved.",
    "logo_removed": "Logo removed.",
    "domain": "Sender domain set. Add the DNS records below, then press Verify.",
    "template_saved": "Template saved. Invoices finalized from now on use it.",
    "template_reset": "Back to Relance's template for invoices finalized from now on.",
    "resend": "Resend requested: this is the new email; it goes out in a moment (reload to see it sent).",
    "test_email": "Test email requested: it goes out in a moment (reload to see it sent).",
}
# A form's hidden request id: the idempotency key of the action it asks for.
REQUEST_ID = re.compile(r"[\x21-\x7e]{1,200}")


class PageExit(Exception):
    """Ends a dashboard request with this response (a redirect, a 403, an error page)."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


class DashboardRoute(APIRoute):
    """Turns PageExit into its response and adds the headers every page carries."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except PageExit as exc:
                response = exc.response
            headers = response.headers
            headers.setdefault("Content-Security-Policy", PLAIN_CSP)
            headers.setdefault("X-Frame-Options", "DENY")
            headers["Cache-Control"] = "no-store"
            headers["Referrer-Policy"] = "no-referrer"
            headers["X-Content-Type-Options"] = "nosniff"
            return response

        return route


def page_router() -> APIRouter:
    """A page group's router: under /dashboard, out of the OpenAPI document."""
    return APIRouter(prefix=PREFIX, include_in_schema=False, route_class=DashboardRoute)


def _when(value: datetime | None) -> str:
    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _money(amount: int, currency: str | None) -> str | int:
    return format_money(amount, currency, "en") if currency else amount


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
    env.filters["money"] = _money
    env.globals.update(prefix=PREFIX, kind_labels=KIND_LABELS, quote=lambda v: quote(str(v), safe=""))
    return env


def render(
    request: Request, name: str, *, status: int = 200, session: DashboardSession | None = None, **context: Any
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    notice = NOTICES.get(request.query_params.get("notice", ""))
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


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def message_page(
    request: Request, status: int, title: str, message: str, session: DashboardSession | None = None
) -> HTMLResponse:
    return render(request, "message.html", status=status, session=session, title=title, message=message)


def not_found(request: Request, session: DashboardSession, what: str) -> PageExit:
    return PageExit(message_page(request, 404, "Not found", what, session))


def check_id(request: Request, session: DashboardSession, value: str, what: str) -> str:
    if not 1 <= len(value) <= 255:
        raise not_found(request, session, f"No such {what}.")
    return value


def form_text(form: FormData, name: str, limit: int = 10_000) -> str:
    """A text field; browsers send a textarea's line breaks as CRLF, stored here as LF."""
    value = form.get(name)
    return value[:limit].replace("\r\n", "\n") if isinstance(value, str) else ""


def offset_of(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    return min(int(raw), 1_000_000) if raw.isdigit() else 0
