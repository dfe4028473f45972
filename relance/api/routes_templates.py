"""Custom templates over HTTP: the same service as `relance template`, validated at upload
(TemplateProblem -> 400 naming the part and line), versioned, previewable."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from relance.api.app import Services, services
from relance.api.schemas import ApiError, error_responses
from relance.contracts.kinds import EmailKind
from relance.rendering.custom import CustomTemplate, TemplateProblem, render_custom, sample_context
from relance.rendering.i18n import resolve_locale
from relance.services.templates import active_template, reset_template, save_template
from relance.storage.database import session_scope

router = APIRouter(tags=["templates"])


class TemplateOut(BaseModel):
    kind: EmailKind
    version: int
    custom: bool
    template: CustomTemplate | None = None


class PreviewRequest(BaseModel):
    template: CustomTemplate | None = None  # omitted: the active template (or Relance's)
    locale: str = "en"


class PreviewOut(BaseModel):
    subject: str
    html: str
    text: str


def _problem(exc: TemplateProblem) -> ApiError:
    field = exc.part if exc.line is None else f"{exc.part}:{exc.line}"
    return ApiError(400, "invalid_template", str(exc), field)


@router.get(
    "/v1/templates/{kind}",
    response_model=TemplateOut,
    responses=error_responses(401),
    summary="The active template of a kind",
)
def get_template(kind: EmailKind, svc: Services = Depends(services)) -> TemplateOut:
    with session_scope(svc.engine) as session:
        version, template = active_template(session, kind)
    return TemplateOut(kind=kind, version=version, custom=template is not None, template=template)


@router.put(
    "/v1/templates/{kind}",
    response_model=TemplateOut,
    responses=error_responses(400, 401),
    summary="Upload a custom template",
)
def put_template(kind: EmailKind, template: CustomTemplate | None, svc: Services = Depends(services)) -> TemplateOut:
    """A body of `null` goes back to Relance's own template. Either way a new version is
    created: invoices finalized from now on use it, invoices already out keep theirs."""
    try:
        with session_scope(svc.engine) as session:
            version = save_template(session, kind, template) if template else reset_template(session, kind)
    except TemplateProblem as exc:
        raise _problem(exc) from None
    return TemplateOut(kind=kind, version=version, custom=template is not None, template=template)


@router.post(
    "/v1/templates/{kind}/preview",
    response_model=PreviewOut,
    responses=error_responses(400, 401),
    summary="Render a template on sample data",
)
def preview_template(kind: EmailKind, body: PreviewRequest, svc: Services = Depends(services)) -> PreviewOut:
    from relance.rendering.email import render_email
    from relance.storage.settings_store import load_settings

    locale = resolve_locale([body.locale])
    with session_scope(svc.engine) as session:
        settings, _ = load_settings(session)
        template = body.template or active_template(session, kind)[1]
    ctx = sample_context(kind).model_copy(update={"branding": settings.branding})
    try:
        content = render_custom(kind, template, ctx, locale) if template else render_email(kind, ctx, locale)
    except TemplateProblem as exc:
        raise _problem(exc) from None
    return PreviewOut(subject=content.subject, html=content.html, text=content.text)
