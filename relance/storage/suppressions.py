"""Addresses Relance no longer emails: a hard bounce or a spam report (from SendGrid's
Event Webhook) puts an address here; `prepare_email` drops it from To and CC."""

from __future__ import annotations

from sqlmodel import Session, col, select

from relance.storage.tables import SuppressionRecord


def normalize(address: str) -> str:
    return address.strip().lower()


def suppress(
    session: Session, address: str, reason: str, *, detail: str | None = None, email_id: str | None = None
) -> bool:
    """True if the address was not suppressed before."""
    key = normalize(address)
    if not key or session.get(SuppressionRecord, key) is not None:
        return False
    session.add(
        SuppressionRecord(address=key, reason=reason, detail=(detail or None) and detail[:1000], email_id=email_id)
    )
    session.flush()
    return True


def is_suppressed(session: Session, address: str) -> bool:
    return session.get(SuppressionRecord, normalize(address)) is not None


def suppressed_among(session: Session, addresses: list[str]) -> dict[str, SuppressionRecord]:
    keys = {normalize(a) for a in addresses if a}
    if not keys:
        return {}
    return {
        r.address: r for r in session.exec(select(SuppressionRecord).where(col(SuppressionRecord.address).in_(keys)))
    }


def drop_suppressed(session: Session, to: list[str], cc: list[str]) -> tuple[list[str], list[str], str | None]:
    """(to, cc) without suppressed addresses, and a note naming the ones dropped and why."""
    found = suppressed_among(session, [*to, *cc])
    if not found:
        return to, cc, None
    keep_to = [a for a in to if normalize(a) not in found]
    keep_cc = [a for a in cc if normalize(a) not in found]
    dropped = [a for a in [*to, *cc] if normalize(a) in found]
    note = "suppressed: " + ", ".join(f"{a} ({found[normalize(a)].reason})" for a in dropped)
    return keep_to, keep_cc, note


def list_suppressions(session: Session, *, limit: int = 100, offset: int = 0) -> list[SuppressionRecord]:
    stmt = (
        select(SuppressionRecord)
        .order_by(col(SuppressionRecord.created_at).desc(), col(SuppressionRecord.address))
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(stmt))


def remove(session: Session, address: str) -> bool:
    row = session.get(SuppressionRecord, normalize(address))
    if row is None:
        return False
    session.delete(row)
    return True
