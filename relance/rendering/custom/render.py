"""Rendering an owner's template: every part in the sandbox, under a budget and a deadline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from relance.contracts.email_context import EmailContext
from relance.contracts.kinds import EmailKind
from relance.contracts.messages import RenderedContent
from relance.rendering.custom.budget import metered
from relance.rendering.custom.compiler import check_source, compiled
from relance.rendering.custom.css_cost import inline_css
from relance.rendering.custom.deadline import Progress, run_with_deadline
from relance.rendering.custom.limits import MAX_OUTPUT_CHARS
from relance.rendering.custom.problems import Part, TemplateProblem
from relance.rendering.custom.samples import sample_context, sparse_context
from relance.rendering.custom.text import html_to_text
from relance.rendering.email import check_context, one_line, template_vars, tidy_text


class CustomTemplate(BaseModel):
    subject: str
    html: str
    text: str | None = None  # None: derived from the rendered HTML


def _check_sources(template: CustomTemplate) -> None:
    parts: tuple[Part, ...] = ("subject", "html", "text")
    for part in parts:
        source = getattr(template, part)
        if source is not None:
            check_source(part, source)


def _render_part(locale: str, part: Part, source: str, variables: dict[str, Any]) -> str:
    template = compiled(locale, part, source)
    with metered() as budget:
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateProblem(part, f"the output is larger than {MAX_OUTPUT_CHARS // 1024} KB")
            budget.charge(len(chunk))
            chunks.append(chunk)
        return "".join(chunks)


def _render_all(
    kind: EmailKind,
    template: CustomTemplate,
    ctx: EmailContext,
    locale: str,
    attachments: Sequence[str],
    strict: bool,
    progress: Progress,
) -> RenderedContent:
    variables = template_vars(kind, ctx, locale, attachments)
    progress.part = "subject"
    subject = one_line(_render_part(locale, "subject", template.subject, variables))
    if not subject:
        raise TemplateProblem("subject", "the subject is empty")
    variables["subject"] = subject
    progress.part = "html"
    raw_html = _render_part(locale, "html", template.html, variables)
    html = inline_css(raw_html, strict)
    if template.text is None:
        text = html_to_text(raw_html)
    else:
        progress.part = "text"
        text = _render_part(locale, "text", template.text, variables)
    return RenderedContent(subject=subject, html=html, text=tidy_text(text))


def _render(
    kind: EmailKind, template: CustomTemplate, ctx: EmailContext, locale: str, attachments: Sequence[str], strict: bool
) -> RenderedContent:
    kind = EmailKind(kind)
    _check_sources(template)
    check_context(kind, ctx)
    return run_with_deadline(lambda progress: _render_all(kind, template, ctx, locale, attachments, strict, progress))


def render_custom(
    kind: EmailKind, template: CustomTemplate, ctx: EmailContext, locale: str, *, attachments: Sequence[str] = ()
) -> RenderedContent:
    """Subject (one line), HTML (CSS inlined) and text for `kind` from an owner's
    template. Raises TemplateProblem when the template fails on this context.

    Blocks the calling thread for up to RENDER_SECONDS + STOP_GRACE_SECONDS: from async
    code, call it through `asyncio.to_thread`.
    """
    return _render(kind, template, ctx, locale, attachments, strict=False)


def validate_template(kind: EmailKind, template: CustomTemplate) -> None:
    """Refuse a template that does not compile, is too large, or fails a trial render.

    Two trial renders: a realistic context for the kind, then the same without what
    real data may lack (no customer name, no due date, no lines, no links), so
    `{{ customer.name.upper() }}` is caught at upload rather than on the first customer
    without a name.
    """
    kind = EmailKind(kind)
    _render(kind, template, sample_context(kind), "en", (), strict=True)
    try:
        _render(kind, template, sparse_context(kind), "en", (), strict=True)
    except TemplateProblem as exc:
        raise TemplateProblem(exc.part, f"{exc.message} (trial with optional fields left empty)", exc.line) from exc
