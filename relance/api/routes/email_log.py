"""Every email across customers (GET /v1/emails): filtered, newest first, paged by an
opaque cursor, or exported as CSV with the same filters."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from relance.api.deps import ServicesDep
from relance.api.email_search import Status, csv_response, email_filter
from relance.api.schemas import ApiError, EmailLogPage, EmailSummary, error_responses
from relance.api.sent_emails import email_summary
from relance.contracts.kinds import EmailKind
from relance.storage import webhooks_store
from relance.storage.database import session_scope
from relance.storage.email_log_query import MAX_Q, Cursor, InvalidCursor, find_emails

router = APIRouter(tags=["emails"])

MAX_PAGE = 100


@router.get(
    "/v1/emails",
    response_model=EmailLogPage,
    summary="Every email, filtered, newest first (or as CSV)",
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "The page as JSON, or with `format=csv` every matching email as CSV.",
        },
        **error_responses(400, 401),
    },
)
def list_all_emails(
    svc: ServicesDep,
    kind: Annotated[list[EmailKind] | None, Query(description="Repeat for several kinds.")] = None,
    status: Annotated[
        list[Status] | None,
        Query(
            description="Repeat for several. pending, held (waiting for the transport's credentials), sent, "
            "failed, skipped (e.g. the kind is off), suppressed (every address suppressed), delivered and "
            "bounced (sent, then reported by the provider)."
        ),
    ] = None,
    since: Annotated[date | None, Query(alias="from", description="First day (UTC), inclusive: YYYY-MM-DD.")] = None,
    until: Annotated[date | None, Query(alias="to", description="Last day (UTC), inclusive: YYYY-MM-DD.")] = None,
    customer: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    invoice: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    q: Annotated[
        str | None, Query(max_length=MAX_Q, description="Text in the subject or a recipient's address, any case.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size, at most 100.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page, with the same filters.")
    ] = None,
    format: Annotated[Literal["json", "csv"], Query(description="`csv`: every matching email, no paging.")] = "json",
) -> EmailLogPage | StreamingResponse:
    """Newest first, over the days the log keeps (RELANCE_LOG_RETENTION_DAYS). Pages come
    from a cursor, so emails logged while paging never shift or repeat a later page."""
    f = email_filter(kind, status, since, until, customer, invoice, q)
    if format == "csv":
        return csv_response(svc.engine, f)
    try:
        after = Cursor.decode(cursor) if cursor else None
    except InvalidCursor as exc:
        raise ApiError(400, "invalid_request", str(exc), "query.cursor") from None
    with session_scope(svc.engine) as session:
        # One extra row tells whether another page exists without a COUNT.
        rows = find_emails(session, f, after=after, limit=limit + 1)
        page = rows[:limit]
        deliveries = webhooks_store.delivery_statuses(session, [e.id for e in page])
        data: list[EmailSummary] = [email_summary(e, deliveries.get(e.id)) for e in page]
        has_more = len(rows) > limit
        next_cursor = Cursor.after(page[-1]).encode() if has_more else None
    return EmailLogPage(data=data, has_more=has_more, next_cursor=next_cursor)
