"""What the reminders recovered: for each paid invoice the email that came last before the
payment, and per month of finalization (UTC) and currency the invoiced, paid, recovered,
open and written-off tallies (relance.rules.recovery). For GET /v1/analytics/recovery, the
dashboard's Recovery page and the Prometheus gauges (relance.services.recovery_metrics)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.engine import Engine

from relance.contracts.recovery import MonthRecovery, PaidInvoice, RecoveryReport
from relance.rules.recovery import STEP_KINDS, InvoiceFacts, StepEmail, attribute, summarize
from relance.storage.database import session_scope
from relance.storage.recovery import finalized_invoices, sent_emails_of_finalized
from relance.storage.tables import as_utc

DEFAULT_MONTHS = 12
MAX_DAYS = 3700  # about ten years: one request cannot ask for an unbounded scan


class RangeError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Computed:
    months: list[MonthRecovery]
    payments: list[PaidInvoice]  # newest payment first


def default_range(today: date) -> tuple[date, date]:
    """The current month and the eleven before it."""
    year, month = today.year, today.month - (DEFAULT_MONTHS - 1)
    while month < 1:
        year, month = year - 1, month + 12
    return date(year, month, 1), today


def check_range(start: date, end: date) -> None:
    if start > end:
        raise RangeError("from", "`from` is after `to`")
    if (end - start).days > MAX_DAYS:
        raise RangeError("from", f"at most {MAX_DAYS} days between `from` and `to`")


def compute(engine: Engine, start: datetime, end: datetime, currency: str | None = None) -> Computed:
    """Invoices finalized in [start, end), optionally of one currency."""
    with session_scope(engine) as session:
        rows = finalized_invoices(session, start, end, currency)
        emails = sent_emails_of_finalized(session, start, end, currency, STEP_KINDS)
    by_invoice: dict[str, list[StepEmail]] = defaultdict(list)
    for invoice_id, kind, key, at in emails:
        by_invoice[invoice_id].append(StepEmail(invoice_id=invoice_id, kind=kind, key=key, at=as_utc(at)))
    invoices = [
        InvoiceFacts(
            id=r.id,
            customer_id=r.customer_id,
            currency=r.currency,
            status=r.status,
            amount_due=r.amount_due,
            amount_paid=r.amount_paid,
            amount_remaining=r.amount_remaining,
            finalized_at=as_utc(r.finalized_at),
            due_date=as_utc(r.due_date),
            paid_at=as_utc(r.paid_at),
            payment_failures=r.payment_failures,
            last_payment_failed_at=as_utc(r.last_payment_failed_at),
        )
        for r in rows
    ]
    payments = {p.invoice_id: p for inv in invoices if (p := attribute(inv, by_invoice[inv.id])) is not None}
    newest_first = sorted(payments.values(), key=lambda p: (p.paid_at, p.invoice_id), reverse=True)
    return Computed(months=summarize(invoices, payments), payments=newest_first)


def recovery_report(
    engine: Engine,
    start: date,
    end: date,
    currency: str | None = None,
    *,
    with_payments: bool = False,
    limit: int = 100,
) -> RecoveryReport:
    """Invoices finalized from `start` to `end` inclusive (UTC days)."""
    check_range(start, end)
    currency = currency.lower() if currency else None
    lo = datetime.combine(start, time(0), tzinfo=UTC)
    hi = datetime.combine(end + timedelta(days=1), time(0), tzinfo=UTC)
    computed = compute(engine, lo, hi, currency)
    return RecoveryReport(
        from_date=start,
        to_date=end,
        currency=currency,
        months=computed.months,
        payments=computed.payments[:limit] if with_payments else None,
    )
