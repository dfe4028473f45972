"""What the reminders recovered (relance.services.recovery), as JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from relance.api.deps import ServicesDep
from relance.api.schemas import ApiError, error_responses
from relance.contracts.recovery import RecoveryReport
from relance.services.recovery import RangeError, default_range, recovery_report

router = APIRouter(tags=["analytics"])


@router.get(
    "/v1/analytics/recovery",
    response_model=RecoveryReport,
    responses=error_responses(400, 401),
    summary="What the reminders recovered",
)
async def recovery(
    svc: ServicesDep,
    from_: Annotated[date | None, Query(alias="from", description="First finalization day (UTC).")] = None,
    to: Annotated[date | None, Query(description="Last finalization day (UTC), included.")] = None,
    currency: Annotated[str | None, Query(pattern="^[A-Za-z]{3}$", description="One currency, e.g. `eur`.")] = None,
    payments: Annotated[bool, Query(description="Also list each paid invoice's step.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many payments, newest first.")] = 100,
) -> RecoveryReport:
    """Invoices finalized from `from` to `to` (default: the current month and the eleven
    before it), per month of finalization and currency: invoiced, paid, paid before the
    due date, paid after each email step, recovered after a failed payment, still open,
    voided, uncollectible; the recovery rate and days-to-pay percentiles."""
    default_from, default_to = default_range(datetime.now(UTC).date())
    start, end = from_ or (default_from if to is None else date(to.year, to.month, 1)), to or default_to
    try:
        return await run_in_threadpool(
            recovery_report, svc.engine, start, end, currency, with_payments=payments, limit=limit
        )
    except RangeError as exc:
        raise ApiError(400, "invalid_request", str(exc), exc.field) from None
