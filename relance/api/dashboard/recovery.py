"""The Recovery page: what the reminders recovered, per month of finalization and
currency. Charts are inline SVG bars drawn on the server, each beside a table of the same
numbers, so the page reads without JavaScript and at phone width."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from relance.api.dashboard.deps import SessionDep
from relance.api.dashboard.pages import page_router, render
from relance.api.deps import ServicesDep
from relance.contracts.recovery import MonthRecovery, Tally
from relance.services.recovery import RangeError, default_range, recovery_report

router = page_router()

BAR_HEIGHT, ROW_HEIGHT = 14, 36  # px: a label line above each bar


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    amount: int
    percent: float  # of the chart's largest amount, for the bar's width
    y: int  # top of the label line


def bars(rows: list[tuple[str, Tally]]) -> list[Bar]:
    top = max((t.amount for _, t in rows), default=0) or 1
    return [
        Bar(label=label, count=t.count, amount=t.amount, percent=round(100 * t.amount / top, 2), y=i * ROW_HEIGHT)
        for i, (label, t) in enumerate(rows)
    ]


@dataclass(frozen=True)
class MonthView:
    month: MonthRecovery
    steps: list[Bar]
    outcomes: list[Bar]


def month_view(m: MonthRecovery) -> MonthView:
    steps = bars([(s.label, Tally(count=s.count, amount=s.amount)) for s in m.paid_after_step])
    outcomes = bars(
        [
            ("invoiced", m.invoiced),
            ("paid", m.paid),
            ("paid before the due date", m.paid_before_due),
            ("failed at least once", m.failed),
            ("recovered after a failure", m.recovered_after_failure),
            ("… by a retry alone", m.recovered_by_retry_alone),
            ("still open", m.open),
            ("voided", m.void),
            ("uncollectible", m.uncollectible),
        ]
    )
    return MonthView(month=m, steps=steps, outcomes=outcomes)


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@router.get("/recovery")
async def recovery_page(request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    q = request.query_params
    default_from, default_to = default_range(datetime.now(UTC).date())
    start, end = _date(q.get("from")) or default_from, _date(q.get("to")) or default_to
    currency = q.get("currency", "").strip().lower()[:3] or None
    if currency is not None and not currency.isalpha():
        currency = None
    error = None
    try:
        report = await run_in_threadpool(recovery_report, svc.engine, start, end, currency)
        months = [month_view(m) for m in report.months]
    except RangeError as exc:
        error, months = str(exc), []
    return render(
        request,
        "recovery.html",
        session=session,
        error=error,
        start=start,
        end=end,
        currency=currency or "",
        months=months,
        bar_height=BAR_HEIGHT,
        row_height=ROW_HEIGHT,
    )
