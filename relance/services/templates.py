"""Uploading custom templates: validated (syntax, sandbox, a trial render) before a new
version is stored; a version is never edited, so invoices keep the one they pinned."""

from __future__ import annotations

from sqlmodel import Session

from relance.contracts.kinds import EmailKind
from relance.rendering.custom import CustomTemplate, TemplateProblem, validate_template
from relance.storage.templates_store import current_versions, get_version, save_version

__all__ = ["TemplateProblem", "save_template", "reset_template", "active_template"]


def save_template(session: Session, kind: EmailKind, template: CustomTemplate) -> int:
    validate_template(kind, template)  # TemplateProblem names the part and the line
    return save_version(session, kind.value, subject=template.subject, html=template.html, text=template.text)


def reset_template(session: Session, kind: EmailKind) -> int:
    """Back to Relance's own template, for invoices finalized from now on."""
    return save_version(session, kind.value, is_default=True)


def active_template(session: Session, kind: EmailKind) -> tuple[int, CustomTemplate | None]:
    version = current_versions(session).get(kind.value, 0)
    row = get_version(session, kind.value, version)
    if row is None:
        return version, None
    return version, CustomTemplate(subject=row.subject, html=row.html, text=row.text)
