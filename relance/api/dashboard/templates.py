"""The template editor: one kind's custom template, its live preview on sample data (the
same sandbox as real emails), saving it and going back to Relance's own."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import FormData

from relance.api.dashboard.deps import CsrfSessionDep, FormDep, SessionDep
from relance.api.dashboard.pages import KIND_LABELS, PREFIX, form_text, not_found, page_router, redirect, render
from relance.api.dashboard.sessions import DashboardSession
from relance.api.deps import Services, ServicesDep
from relance.contracts.kinds import EmailKind
from relance.rendering.custom import CustomTemplate, TemplateProblem, render_custom, sample_context
from relance.rendering.i18n import choose_locale
from relance.services.templates import active_template, reset_template, save_template
from relance.storage.database import session_scope
from relance.storage.settings_store import load_settings

router = page_router()

_INVOICE_KINDS = {
    EmailKind.invoice_finalized,
    EmailKind.invoice_reminder,
    EmailKind.payment_failed,
    EmailKind.payment_action_required,
    EmailKind.receipt,
}


def _starter(kind: EmailKind) -> CustomTemplate:
    """What the editor starts from when the kind has no custom template yet."""
    label = KIND_LABELS[kind].lower()
    if kind in _INVOICE_KINDS:
        subject = f"{KIND_LABELS[kind]} {{{{ invoice.number or invoice.id }}}} from {{{{ branding.business_name }}}}"
        body = (
            "  <p>Invoice <strong>{{ invoice.number or invoice.id }}</strong>: "
            "{{ invoice.amount_due|money(invoice.currency) }}"
            "{% if invoice.due_date %}, due {{ invoice.due_date|date }}{% endif %}.</p>\n"
            '  {% if links.pay_url %}<p><a class="button" href="{{ links.pay_url }}">Pay now</a></p>'
            "{% endif %}\n"
        )
    else:
        subject = f"{KIND_LABELS[kind]}: a message from {{{{ branding.business_name }}}}"
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
        raise not_found(request, session, "No such kind of email.") from None


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
def template_page(kind: str, request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    return _editor_page(request, session, svc, _kind(request, session, kind))


def _template_from(form: FormData) -> CustomTemplate:
    limit = 200_000  # past the renderer's own 100 KB per part, so its error is the one shown
    return CustomTemplate(
        subject=form_text(form, "subject", limit),
        html=form_text(form, "html", limit),
        text=form_text(form, "text", limit) or None,
    )


@router.post("/settings/templates/{kind}")
async def save_template_form(
    kind: str, request: Request, session: CsrfSessionDep, svc: ServicesDep, form: FormDep
) -> Response:
    email_kind = _kind(request, session, kind)
    if form.get("action") == "reset":

        def reset() -> None:
            with session_scope(svc.engine) as db:
                reset_template(db, email_kind)

        await run_in_threadpool(reset)
        return redirect(f"{PREFIX}/settings/templates/{email_kind.value}?notice=template_reset")
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
    return redirect(f"{PREFIX}/settings/templates/{email_kind.value}?notice=template_saved")


@router.post("/settings/templates/{kind}/preview")
async def preview_template(
    kind: str, request: Request, session: CsrfSessionDep, svc: ServicesDep, form: FormDep
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
        content = render_custom(email_kind, template, ctx, choose_locale([], settings.default_locale).tag)
        return {"subject": content.subject, "html": content.html, "text": content.text}

    try:
        return JSONResponse(await run_in_threadpool(run))
    except TemplateProblem as exc:
        return JSONResponse({"error": {"part": exc.part, "line": exc.line, "message": str(exc)}}, status_code=400)
