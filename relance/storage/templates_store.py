"""Custom templates, versioned per kind. Versions are never edited in place, so an invoice
that pinned version N renders with version N for its whole life."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from relance.storage.tables import CustomTemplateRecord


def current_versions(session: Session) -> dict[str, int]:
    rows = session.exec(
        select(CustomTemplateRecord.kind, func.max(CustomTemplateRecord.version)).group_by(CustomTemplateRecord.kind)
    )
    return {kind: version for kind, version in rows}


def get_version(session: Session, kind: str, version: int | None) -> CustomTemplateRecord | None:
    """The given version, or the newest when version is None; None means Relance's default."""
    if version is None:
        version = current_versions(session).get(kind)
    if not version:
        return None
    row = session.get(CustomTemplateRecord, (kind, version))
    return None if row is None or row.is_default else row


def save_version(
    session: Session, kind: str, *, subject: str = "", html: str = "", text: str | None = None, is_default: bool = False
) -> int:
    version = current_versions(session).get(kind, 0) + 1
    session.add(
        CustomTemplateRecord(kind=kind, version=version, subject=subject, html=html, text=text, is_default=is_default)
    )
    session.flush()
    return version
