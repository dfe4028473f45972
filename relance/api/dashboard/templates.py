"""The templates: the list of kinds, and the editor of one: its custom template, or
Relance's own in the locale chosen (`relance.rendering.custom.starter`), its preview on
sample data (the same sandbox as real emails; live with JavaScript, a button without),
saving it and going back to Relance's own."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import FormData

from relance.api.dashboard.deps import CsrfSessionDep, FormDep, SessionDep
from relance.api.dashboard.pages import PREFIX, form_text, not_found, page_router, redirect, render
from relance.api.dashboard.sessions import DashboardSession
from relance.api.deps import Services, ServicesDep
from relance.contracts.kinds import EmailKind
from relance.contracts.messages import RenderedContent
from relance.rendering.custom import CustomTemplate, TemplateProblem, render_custom, sample_context
from relance.rendering.custom.starter import default_template
from relance.rendering.i18n import choose_locale
from relance.rendering.locale_names import language_choices, native_name
from relance.services.templates import active_template, reset_template, save_template
from relance.storage.database import session_scope
from relance.storage.settings_store import load_settings

router = page_router()


def _kind(request: Request, session: DashboardSession, value: str) -> EmailKind:
    try:
        return EmailKind(value)
    except ValueError:
        raise not_found(request, session, "No such kind of email.") from None


def _editor_locale(request: Request, default_locale: str, value: str | None = None) -> str:
    """The locale the editor shows (a shipped catalog's tag): the one asked for, else the account's."""
    asked = value if value is not None else request.query_params.get("locale", "")
    return choose_locale([asked[:35]] if asked else [], default_locale).tag


def _editor_page(
    request: Request,
    session: DashboardSession,
    svc: Services,
    kind: EmailKind,
    *,
    status: int = 200,
    template: CustomTemplate | None = None,
    problem: TemplateProblem | None = None,
    locale: str | None = None,
    preview: RenderedContent | None = None,
) -> HTMLResponse:
    with session_scope(svc.engine) as db:
        version, active = active_template(db, kind)
        settings, _ = load_settings(db)
    locale = _editor_locale(request, settings.default_locale, locale)
    from_default = active is None or request.query_params.get("start") == "default"
    shown = template or (default_template(kind, locale) if from_default else active)
    return render(
        request,
        "template_editor.html",
        status=status,
        session=session,
        kind=kind,
        version=version,
        custom=active is not None,
        from_default=template is None and from_default,
        t=shown,
        problem=problem,
        kinds=list(EmailKind),
        locale=locale,
        locale_name=native_name(locale),
        locales=language_choices(),
        preview=preview,
        error=f"Not saved. {problem}" if problem else None,
    )


@router.get("/settings/templates")
def templates_list(request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    """Every kind and its template; with `kind` (the editor's GET form, which works
    without JavaScript), that kind's editor in the locale chosen."""
    params = request.query_params
    if "kind" in params:
        kind = _kind(request, session, params["kind"])
        query = urlencode({k: params[k] for k in ("locale", "start") if params.get(k)})
        return redirect(f"{PREFIX}/settings/templates/{kind.value}" + (f"?{query}" if query else ""))
    with session_scope(svc.engine) as db:
        templates = {kind: active_template(db, kind) for kind in EmailKind}
        settings, _ = load_settings(db)
    return render(
        request,
        "templates.html",
        session=session,
        kinds=list(EmailKind),
        templates={kind: (version, template is not None) for kind, (version, template) in templates.items()},
        locale=_editor_locale(request, settings.default_locale),
        locales=language_choices(),
    )


@router.get("/settings/templates/{kind}")
def template_page(kind: str, request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    return _editor_page(request, session, svc, _kind(request, session, kind))


def _render_preview(svc: Services, kind: EmailKind, template: CustomTemplate, locale: str) -> RenderedContent:
    """The template as typed (not saved), on sample data with the account's branding,
    in the editor's locale, rendered by the same sandbox as real emails."""
    with session_scope(svc.engine) as db:
        settings, _ = load_settings(db)
    ctx = sample_context(kind).model_copy(update={"branding": settings.branding})
    return render_custom(kind, template, ctx, choose_locale([locale] if locale else [], settings.default_locale).tag)


def _preview_page(
    request: Request, session: DashboardSession, svc: Services, kind: EmailKind, template: CustomTemplate, locale: str
) -> HTMLResponse:
    """The editor with the preview rendered by the server: the Preview button without JavaScript."""
    try:
        preview = _render_preview(svc, kind, template, locale)
    except TemplateProblem as exc:
        return _editor_page(request, session, svc, kind, status=400, template=template, problem=exc, locale=locale)
    return _editor_page(request, session, svc, kind, template=template, locale=locale, preview=preview)


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
    locale = form_text(form, "locale", 35)
    if form.get("action") == "preview":
        return await run_in_threadpool(_preview_page, request, session, svc, email_kind, _template_from(form), locale)
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
            _editor_page, request, session, svc, email_kind, status=400, template=template, problem=exc, locale=locale
        )
    return redirect(f"{PREFIX}/settings/templates/{email_kind.value}?notice=template_saved")


@router.post("/settings/templates/{kind}/preview")
async def preview_template(
    kind: str, request: Request, session: CsrfSessionDep, svc: ServicesDep, form: FormDep
) -> Response:
    """The editor's live preview (JSON, for its script)."""
    try:
        email_kind = EmailKind(kind)
    except ValueError:
        return JSONResponse({"error": {"message": "no such kind of email"}}, status_code=404)
    template = _template_from(form)
    locale = form_text(form, "locale", 35)

    def run() -> dict[str, Any]:
        content = _render_preview(svc, email_kind, template, locale)
        return {"subject": content.subject, "html": content.html, "text": content.text}

    try:
        return JSONResponse(await run_in_threadpool(run))
    except TemplateProblem as exc:
        return JSONResponse({"error": {"part": exc.part, "line": exc.line, "message": str(exc)}}, status_code=400)
