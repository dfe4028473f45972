"""What the reminders recovered, as pure computation over facts the database holds: which
email came last before each payment, and the tallies per month and currency.

A step is an email that reached the provider (email log `sent`) and that asks for payment:
the invoice email, a scheduled reminder, a manual reminder, a failed-payment notice or the
3D Secure email. Receipts and other kinds are not steps. An email's time is when the
workflow decided to send it (`scheduled_at`, the workflow's clock), the same clock as the
events' times, also under the simulator's offset.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from relance.contracts.kinds import EmailKind
from relance.contracts.recovery import (
    DaysToPay,
    MonthRecovery,
    PaidInvoice,
    Step,
    StepTally,
    Tally,
)

STEP_KINDS = frozenset(
    {
        EmailKind.invoice_finalized.value,
        EmailKind.invoice_reminder.value,
        EmailKind.payment_failed.value,
        EmailKind.payment_action_required.value,
    }
)
NO_STEP = Step(kind="none")
_STEP_ORDER = {
    "invoice_email": 0,
    "reminder": 1,
    "manual_reminder": 2,
    "payment_failed": 3,
    "payment_action_required": 4,
    "none": 5,
}


@dataclass(frozen=True)
class InvoiceFacts:
    id: str
    customer_id: str
    currency: str
    status: str
    amount_due: int
    amount_paid: int
    amount_remaining: int
    finalized_at: datetime
    due_date: datetime | None
    paid_at: datetime | None
    payment_failures: int
    last_payment_failed_at: datetime | None


@dataclass(frozen=True)
class StepEmail:
    """A sent email of a step kind, with its idempotency key (`<invoice>:<kind>:<occurrence>`)."""

    invoice_id: str
    kind: str
    key: str
    at: datetime


def step_of(email: StepEmail) -> Step | None:
    """The step an email is, read from its idempotency key; None for other kinds."""
    prefix = f"{email.invoice_id}:{email.kind}:"
    occurrence = email.key[len(prefix) :] if email.key.startswith(prefix) else email.key.rpartition(":")[2]
    if email.kind == EmailKind.invoice_finalized:
        return Step(kind="invoice_email")
    if email.kind == EmailKind.invoice_reminder:
        if occurrence.startswith("manual:"):
            return Step(kind="manual_reminder")
        offset = occurrence.rpartition(":")[2]  # due-<unix due date>:<+N>
        try:
            return Step(kind="reminder", days_from_due=int(offset))
        except ValueError:
            return Step(kind="manual_reminder")
    if email.kind == EmailKind.payment_failed:
        attempt = occurrence.removeprefix("attempt-")
        return Step(kind="payment_failed", attempt=int(attempt) if attempt.isdigit() else None)
    if email.kind == EmailKind.payment_action_required:
        return Step(kind="payment_action_required")
    return None


def _numbered(emails: Sequence[StepEmail]) -> list[tuple[StepEmail, Step]]:
    """Steps in time order; a failed-payment notice whose key carries no attempt number
    (an event without attempt_count) is numbered by its place among the invoice's notices."""
    out: list[tuple[StepEmail, Step]] = []
    notices = 0
    for email in sorted(emails, key=lambda e: e.at):
        step = step_of(email)
        if step is None:
            continue
        if step.kind == "payment_failed":
            notices += 1
            if step.attempt is None:
                step = Step(kind="payment_failed", attempt=notices)
        out.append((email, step))
    return out


def attribute(invoice: InvoiceFacts, emails: Sequence[StepEmail]) -> PaidInvoice | None:
    """The step that came last before the payment of a paid invoice (None if not paid)."""
    if invoice.status != "paid" or invoice.paid_at is None:
        return None
    paid_at = invoice.paid_at
    before = [(e, s) for e, s in _numbered(emails) if e.at <= paid_at]
    last_email, step = before[-1] if before else (None, NO_STEP)
    retry_alone = False
    if invoice.payment_failures > 0 and invoice.last_payment_failed_at is not None:
        failed_at = invoice.last_payment_failed_at
        retry_alone = not any(failed_at <= e.at for e, _ in before)
    return PaidInvoice(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        currency=invoice.currency,
        amount=invoice.amount_paid,
        finalized_at=invoice.finalized_at,
        due_date=invoice.due_date,
        paid_at=paid_at,
        step=step,
        step_key=step.key,
        step_at=last_email.at if last_email else None,
        seconds_from_step=int((paid_at - last_email.at).total_seconds()) if last_email else None,
        payment_failures=invoice.payment_failures,
        by_retry_alone=retry_alone,
    )


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def month_of(at: datetime) -> str:
    return f"{at.year:04d}-{at.month:02d}"


def _step_sort(step: Step) -> tuple[int, int]:
    return _STEP_ORDER[step.kind], step.days_from_due if step.days_from_due is not None else (step.attempt or 0)


class _Row:
    def __init__(self) -> None:
        self.tallies: dict[str, Tally] = defaultdict(Tally)
        self.steps: dict[Step, list[PaidInvoice]] = defaultdict(list)
        self.days: list[float] = []

    def add(self, name: str, amount: int) -> None:
        tally = self.tallies[name]
        tally.count += 1
        tally.amount += amount


def summarize(invoices: Iterable[InvoiceFacts], payments: dict[str, PaidInvoice]) -> list[MonthRecovery]:
    """Tallies per (month of finalization in UTC, currency); `payments` by invoice id."""
    rows: dict[tuple[str, str], _Row] = defaultdict(_Row)
    for inv in invoices:
        row = rows[(month_of(inv.finalized_at), inv.currency)]
        row.add("invoiced", inv.amount_due)
        if inv.payment_failures > 0:
            row.add("failed", inv.amount_due)
        paid = payments.get(inv.id)
        if paid is not None:
            row.add("paid", paid.amount)
            if inv.due_date is not None and paid.paid_at <= inv.due_date:
                row.add("paid_before_due", paid.amount)
            if inv.payment_failures > 0:
                row.add("recovered_after_failure", paid.amount)
                if paid.by_retry_alone:
                    row.add("recovered_by_retry_alone", paid.amount)
            row.steps[paid.step].append(paid)
            row.days.append((paid.paid_at - inv.finalized_at).total_seconds() / 86400)
        elif inv.status in ("open", "void", "uncollectible"):
            row.add(inv.status, inv.amount_remaining)
    out = []
    for (month, currency), row in sorted(rows.items()):
        t = row.tallies
        failed, recovered = t["failed"].amount, t["recovered_after_failure"].amount
        steps = []
        for step in sorted(row.steps, key=_step_sort):
            paid_list = row.steps[step]
            hours = [p.seconds_from_step / 3600 for p in paid_list if p.seconds_from_step is not None]
            median = percentile(hours, 50)
            steps.append(
                StepTally(
                    key=step.key,
                    label=step.label,
                    step=step,
                    count=len(paid_list),
                    amount=sum(p.amount for p in paid_list),
                    median_hours_from_step=round(median, 2) if median is not None else None,
                )
            )
        p50, p90 = percentile(row.days, 50), percentile(row.days, 90)
        out.append(
            MonthRecovery(
                month=month,
                currency=currency,
                invoiced=t["invoiced"],
                paid=t["paid"],
                paid_before_due=t["paid_before_due"],
                paid_after_step=steps,
                failed=t["failed"],
                recovered_after_failure=t["recovered_after_failure"],
                recovered_by_retry_alone=t["recovered_by_retry_alone"],
                recovery_rate=round(recovered / failed, 4) if failed else None,
                open=t["open"],
                void=t["void"],
                uncollectible=t["uncollectible"],
                days_to_pay=DaysToPay(
                    p50=round(p50, 2) if p50 is not None else None, p90=round(p90, 2) if p90 is not None else None
                ),
            )
        )
    return out
