"""Tax rates: the newest description of each rate wins, whatever order events come in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from relance.contracts.events import Invoice, TaxRateObject
from relance.storage.tables import ProcessedEvent, TaxRateRecord, as_utc, utcnow


def record_tax_rate(session: Session, rate: TaxRateObject, created: datetime) -> bool:
    """Keep `rate` unless a newer description is stored; False when it changed nothing.
    An id-only reference (not expanded) never replaces what is known."""
    if not rate.expanded:
        return False
    rec = session.get(TaxRateRecord, rate.id)
    if rec is not None and as_utc(rec.last_event_at) >= created:
        return False
    if rec is None:
        rec = TaxRateRecord(id=rate.id, data={}, last_event_at=created)
        session.add(rec)
    rec.data = rate.model_dump(mode="json", exclude_none=True)
    rec.last_event_at = created
    rec.updated_at = utcnow()
    session.flush()
    return True


def record_tax_rate_event(
    session: Session, event_id: str, event_type: str, created: datetime, rate: TaxRateObject
) -> bool:
    """A `tax_rate.created` / `tax_rate.updated` event; a duplicate changes nothing."""
    if session.get(ProcessedEvent, event_id) is not None:
        return False
    session.add(ProcessedEvent(id=event_id, type=event_type, object_id=rate.id))
    return record_tax_rate(session, rate, created)


def invoice_tax_rates(inv: Invoice) -> list[TaxRateObject]:
    """The rates an invoice carries expanded (older API versions always expand a line's
    `tax_rates`; newer ones only on request)."""
    found: list[TaxRateObject] = []
    taxes = list(inv.tax_list)
    for line in inv.lines.data:
        taxes.extend(line.tax_list)
        found.extend(line.tax_rates or [])
    found.extend(rate for tax in taxes if (rate := tax.rate) is not None)
    return [rate for rate in found if rate.expanded]


def record_invoice_tax_rates(session: Session, inv: Invoice, created: datetime) -> None:
    for rate in {r.id: r for r in invoice_tax_rates(inv)}.values():
        record_tax_rate(session, rate, created)


def known_tax_rates(session: Session, ids: Iterable[str]) -> dict[str, TaxRateObject]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.exec(select(TaxRateRecord).where(col(TaxRateRecord.id).in_(wanted)))
    return {row.id: TaxRateObject.model_validate(row.data) for row in rows}
