"""Searching the email log as the API and the dashboard both do: the filter from the
request's parameters (`email_filter`), and the CSV export of a filter (`csv_rows`), a
keyset page of the log per transaction, one line per email, safe to open in a sheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from fastapi.responses import StreamingResponse
from sqlalchemy.engine import Engine

from relance.api.schemas import ApiError
from relance.api.sent_emails import email_summary
from relance.contracts.kinds import EmailKind
from relance.storage import webhooks_store
from relance.storage.database import session_scope
from relance.storage.email_log_query import MAX_Q, STATUSES, Cursor, EmailFilter, find_emails

CSV_BATCH = 1000
Status = Literal["pending", "held", "sent", "failed", "skipped", "suppressed", "delivered", "bounced"]
CSV_COLUMNS = (
    "id",
    "time",
    "kind",
    "outcome",
    "status",
    "delivery_status",
    "customer",
    "invoice",
    "to",
    "cc",
    "subject",
    "sent_at",
    "provider_message_id",
    "error",
    "resend_of",
    "test",
)
# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (CSV injection): such cells get a leading apostrophe, which the sheet shows as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def email_filter(
    kind: list[EmailKind] | None,
    status: list[Status] | None,
    since: date | None,
    until: date | None,
    customer: str | None,
    invoice: str | None,
    q: str | None,
) -> EmailFilter:
    if since is not None and until is not None and since > until:
        raise ApiError(400, "invalid_request", "`from` is after `to`", "query.from")
    return EmailFilter(
        kinds=tuple(k.value for k in kind or ()),
        statuses=tuple(dict.fromkeys(status or ())),
        since=_midnight(since) if since else None,
        before=_midnight(until) + timedelta(days=1) if until else None,  # `to` is inclusive
        customer=customer,
        invoice=invoice,
        q=q.strip() or None if q else None,
    )


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_rows(engine: Engine, f: EmailFilter) -> Iterator[str]:
    """The header, then one line per email, a keyset page of the log per transaction."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    after: Cursor | None = None
    while True:
        with session_scope(engine) as session:
            rows = find_emails(session, f, after=after, limit=CSV_BATCH)
            deliveries = webhooks_store.delivery_statuses(session, [e.id for e in rows])
            summaries = [email_summary(e, deliveries.get(e.id)) for e in rows]
        for s in summaries:
            values = {"id": s.id, "time": s.time, **s.model_dump(include=set(CSV_COLUMNS) - {"id", "time"})}
            writer.writerow([csv_cell(values[c]) for c in CSV_COLUMNS])
        yield flush()
        if len(rows) < CSV_BATCH:
            return
        after = Cursor.after(rows[-1])


def csv_response(engine: Engine, f: EmailFilter) -> StreamingResponse:
    return StreamingResponse(
        csv_rows(engine, f),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="emails.csv"', "X-Content-Type-Options": "nosniff"},
    )


def filter_from_query(params: Mapping[str, str], kinds: list[str], statuses: list[str]) -> EmailFilter:
    """The dashboard's form, as GET /v1/emails reads its parameters (empty fields ignored);
    ApiError 400 naming the field otherwise."""

    def day(name: str) -> date | None:
        raw = params.get(name, "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise ApiError(400, "invalid_request", f"`{name}` is not a date (YYYY-MM-DD)", name) from None

    try:
        kind = [EmailKind(k) for k in kinds if k]
    except ValueError:
        raise ApiError(400, "invalid_request", "unknown kind", "kind") from None
    wanted = [s for s in statuses if s]
    if any(s not in STATUSES for s in wanted):
        raise ApiError(400, "invalid_request", "unknown status", "status")

    def text(name: str, limit: int) -> str | None:
        return params.get(name, "").strip()[:limit] or None

    return email_filter(
        kind,
        wanted,  # type: ignore[arg-type]
        day("from"),
        day("to"),
        text("customer", 255),
        text("invoice", 255),
        text("q", MAX_Q),
    )
