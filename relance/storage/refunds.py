"""Refunds waiting for a customer (see workflows/refund.py): one document per charge,
written while its refunds cannot be attributed and removed once they can, so the
operator can list what is waiting."""

from __future__ import annotations

from sqlmodel import Session, col, select

from relance.contracts.models import UnattributedRefunds
from relance.storage.documents import put_document
from relance.storage.tables import StoredDocument

PREFIX = "refund-unattributed:"


def hold(session: Session, held: UnattributedRefunds) -> None:
    put_document(session, PREFIX + held.key, held.model_dump_json().encode(), "application/json")


def release(session: Session, key: str) -> None:
    row = session.get(StoredDocument, PREFIX + key)
    if row is not None:
        session.delete(row)
        session.flush()


def held_refunds(session: Session, limit: int = 100) -> list[UnattributedRefunds]:
    rows = session.exec(
        select(StoredDocument)
        .where(col(StoredDocument.key).startswith(PREFIX))
        .order_by(StoredDocument.key)
        .limit(limit)
    ).all()
    return [UnattributedRefunds.model_validate_json(row.content) for row in rows]
