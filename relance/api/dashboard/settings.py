"""The settings pages: the account's settings form, the logo, the sender domain and its
DNS check, and the list of templates (edited in the template pages)."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from relance.api.dashboard.deps import CsrfSessionDep, FormDep, SessionDep
from relance.api.dashboard.pages import PREFIX, REQUEST_ID, form_text, page_router, redirect, render
from relance.api.dashboard.sessions import DashboardSession
from relance.api.dashboard.settings_form import (
    LEGAL_MENTION_LABELS,
    PRESET_LABELS,
    form_values,
    settings_patch,
    submitted_values,
)
from relance.api.deps import Services, ServicesDep
from relance.api.schemas import ApiError
from relance.contracts.account import REMINDER_PRESETS
from relance.contracts.kinds import EmailKind
from relance.rendering.locale_names import language_choices, native_name
from relance.rules.settings_advice import advise
from relance.services.account import (
    MAX_LOGO_BYTES,
    SettingsError,
    patch_settings,
    sender_records,
    set_logo,
    set_sender_domain,
    verify_sender_domain,
)
from relance.services.sender_domain import VerificationResult, resolver_for
from relance.services.templates import active_template
from relance.storage.database import session_scope
from relance.storage.settings_store import load_settings

router = page_router()


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
    test_error: str | None = None,
    test_values: dict[str, str] | None = None,
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
        v=values or form_values(current),
        field_error=field_error,
        error=error,
        logo_error=logo_error,
        presets=REMINDER_PRESETS,
        preset_labels=PRESET_LABELS,
        kinds=list(EmailKind),
        legal_mention_labels=LEGAL_MENTION_LABELS,
        timezones=_timezones(),
        # Named in their own language ("Deutsch"); a stored tag with no catalog of its own
        # (fr-BE) is offered too, so saving never changes it silently.
        locales=language_choices(),
        default_locale_name=native_name((values or form_values(current))["default_locale"]),
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
        test_error=test_error,
        t=test_values or {"kind": EmailKind.invoice_finalized.value, "to": "", "locale": current.default_locale},
        test_request_id=f"dashboard-{uuid.uuid4().hex}",
    )


@router.get("/settings")
def settings_page(request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    return _settings_page(request, session, svc)


@router.post("/settings")
async def save_settings_form(request: Request, session: CsrfSessionDep, svc: ServicesDep, form: FormDep) -> Response:
    def save() -> HTMLResponse | None:
        with session_scope(svc.engine) as db:
            current, _ = load_settings(db)
        values = submitted_values(form, current)
        try:
            with session_scope(svc.engine) as db:
                patch_settings(db, settings_patch(values))
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
    return page or redirect(f"{PREFIX}/settings?notice=settings")


@router.post("/settings/logo")
async def save_logo(request: Request, session: CsrfSessionDep, svc: ServicesDep, form: FormDep) -> Response:
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
    return redirect(f"{PREFIX}/settings?notice={'logo_removed' if remove else 'logo'}#logo")


@router.post("/settings/domain")
async def save_domain(request: Request, session: CsrfSessionDep, svc: ServicesDep, form: FormDep) -> Response:
    d = {
        name: form_text(form, name, 500).strip()
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
    return redirect(f"{PREFIX}/settings?notice=domain#domain")


@router.post("/settings/domain/verify")
async def verify_domain(request: Request, session: CsrfSessionDep, svc: ServicesDep) -> Response:
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


@router.post("/settings/test-email")
async def send_test_email(request: Request, session: CsrfSessionDep, svc: ServicesDep, form: FormDep) -> Response:
    """The same checks and workflow as POST /v1/test-emails (Services.test_send)."""
    t = {name: form_text(form, name, 320).strip() for name in ("kind", "to", "locale")}
    request_id: str | None = form_text(form, "request_id", 200)
    if not REQUEST_ID.fullmatch(request_id or ""):
        request_id = None
    try:
        req = await svc.test_send(t["kind"], t["to"], t["locale"] or "en", request_id)
    except ApiError as exc:
        if exc.status not in (400, 503):
            raise
        message = exc.message if exc.status == 400 else "Relance cannot reach Temporal right now: nothing was sent."
        return await run_in_threadpool(
            _settings_page, request, session, svc, status=exc.status, test_error=message, test_values=t
        )
    return redirect(f"{PREFIX}/emails/{req.email_id}?notice=test_email")
