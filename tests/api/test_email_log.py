"""GET /v1/emails, the whole email log: every filter, keyset paging that stays put while
emails are logged, the CSV export, and refusals of bad parameters. Against the real app
on SQLite and PostgreSQL, the log's rows written by the storage layer the worker uses."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.transports.outbox import OutboxTransport
from relance.platform.config import Config
from relance.storage import email_log, webhooks_store
from relance.storage.database import session_scope
from relance.storage.tables import EmailLogEntry
from tests.api.test_api import app_for, http_for
from tests.conftest import running_harness
from tests.support.harness import Harness

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def stack(
    request, time_env: WorkflowEnvironment, config: Config
) -> AsyncIterator[tuple[Harness, httpx.AsyncClient]]:
    url = request.getfixturevalue(f"{request.param}_url")
    async with running_harness(time_env, config, url, OutboxTransport(config.resolved_outbox_dir())) as h:
        async with http_for(app_for(h)) as http:
            yield h, http


def add(h: Harness, n: int, **fields: Any) -> EmailLogEntry:
    """Log row n, created n hours after T0 (so larger n is newer)."""
    values: dict[str, Any] = dict(
        kind="invoice_finalized",
        customer_id="cus_a",
        invoice_id="in_1",
        status="sent",
        to=["ada@customer.test"],
        cc=[],
        subject=f"Invoice {n}",
    )
    values.update(fields)
    delivery = values.pop("delivery", None)
    with session_scope(h.engine) as session:
        entry = email_log.new_entry(
            session,
            key=values.pop("key", f"key-{n}"),
            scheduled_at=T0 + timedelta(hours=n),
            created_at=T0 + timedelta(hours=n),
            **values,
        )
        if delivery:
            webhooks_store.set_delivery_status(session, entry.id, delivery, T0, None)
        return entry


def seed(h: Harness) -> dict[str, str]:
    """One row per outcome, customers and invoices apart, ids by name."""
    rows = {
        "sent": add(h, 1),
        "delivered": add(h, 2, delivery="delivered"),
        "bounced": add(h, 3, delivery="bounce", to=["gone@customer.test"]),
        "failed": add(h, 4, status="failed", error="550 rejected", kind="receipt"),
        "held": add(h, 5, status="pending", error="held since 2026-11-02: sendgrid refused the credentials"),
        "pending": add(h, 6, status="pending", kind="invoice_reminder"),
        "skipped": add(h, 7, status="skipped", error="turned off in settings", subject=None, to=[]),
        "suppressed": add(
            h,
            8,
            status="skipped",
            error="suppressed: x@customer.test (bounce)",
            subject=None,
            to=[],
            customer_id="cus_b",
        ),
        "other": add(
            h,
            30,
            customer_id="cus_b",
            invoice_id="in_2",
            subject='=HYPERLINK("http://evil") 100% Reçu',
            to=["Bob@Big.test"],
        ),
    }
    return {name: e.id for name, e in rows.items()}


async def ids(http: httpx.AsyncClient, **params: Any) -> list[str]:
    r = await http.get("/v1/emails", params=params)
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()["data"]]


async def test_filters_by_kind_status_dates_customer_invoice_and_text(stack) -> None:
    h, http = stack
    n = seed(h)
    newest_first = [
        n[k] for k in ("other", "suppressed", "skipped", "pending", "held", "failed", "bounced", "delivered", "sent")
    ]
    assert await ids(http) == newest_first

    for outcome in ("sent", "delivered", "bounced", "failed", "held", "pending", "skipped", "suppressed"):
        expected = {
            "sent": [n["other"], n["bounced"], n["delivered"], n["sent"]],  # every sent email, reported or not
        }.get(outcome, [n[outcome]])
        assert await ids(http, status=outcome) == expected, outcome
    assert await ids(http, status=["failed", "held"]) == [n["held"], n["failed"]]
    assert await ids(http, kind="receipt") == [n["failed"]]
    assert await ids(http, kind=["receipt", "invoice_reminder"]) == [n["pending"], n["failed"]]
    assert await ids(http, customer="cus_b") == [n["other"], n["suppressed"]]
    assert await ids(http, invoice="in_2") == [n["other"]]
    assert await ids(http, customer="cus_b", status="suppressed") == [n["suppressed"]]

    # Days are UTC and both ends inclusive: T0 + 30 h is the next day.
    day0, day1 = T0.date().isoformat(), (T0 + timedelta(days=1)).date().isoformat()
    assert await ids(http, **{"from": day1}) == [n["other"]]
    assert await ids(http, **{"to": day0}) == newest_first[1:]
    assert await ids(http, **{"from": day0, "to": day0, "kind": "receipt"}) == [n["failed"]]

    # Text: subject or any recipient, any case, LIKE wildcards taken literally.
    assert await ids(http, q="bob@BIG") == [n["other"]]
    assert await ids(http, q="reçu") == [n["other"]]
    assert await ids(http, q="100%") == [n["other"]]
    assert await ids(http, q="%") == [n["other"]]
    assert await ids(http, q="_") == []
    assert await ids(http, q="gone@") == [n["bounced"]]
    assert await ids(http, q="invoice 4") == [n["failed"]]

    r = await http.get("/v1/emails", params={"status": "bounced"})
    [row] = r.json()["data"]
    assert (row["status"], row["outcome"], row["delivery_status"], row["customer"]) == (
        "sent",
        "bounced",
        "bounce",
        "cus_a",
    )


async def test_keyset_pages_stay_put_while_emails_are_logged(stack) -> None:
    h, http = stack
    first = [add(h, i).id for i in range(1, 8)]
    # Same instant for two rows: the id breaks the tie, and paging still sees both.
    twin = add(h, 7, subject="twin", key="twin").id
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = (await http.get("/v1/emails", params=params)).json()
        seen += [e["id"] for e in body["data"]]
        pages += 1
        if pages == 1:
            add(h, 100)  # logged while paging: newer, so on no later page
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
    assert pages == 3 and len(seen) == len(set(seen)) == 8
    assert set(seen) == {*first, twin} and seen[-1] == first[0]
    # A cursor carries its position only: with a filter it continues that filter.
    body = (await http.get("/v1/emails", params={"limit": 1, "q": "invoice"})).json()
    nxt = (await http.get("/v1/emails", params={"limit": 1, "q": "invoice", "cursor": body["next_cursor"]})).json()
    assert [e["subject"] for e in body["data"] + nxt["data"]] == ["Invoice 100", "Invoice 7"]


async def test_csv_exports_the_filter_with_a_header_and_no_formulas(stack) -> None:
    h, http = stack
    n = seed(h)
    r = await http.get("/v1/emails", params={"format": "csv", "customer": "cus_b"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:4] == ["id", "time", "kind", "outcome"]
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [b["id"] for b in body] == [n["other"], n["suppressed"]]
    assert body[0]["subject"] == '\'=HYPERLINK("http://evil") 100% Reçu'
    assert body[0]["to"] == "Bob@Big.test" and body[0]["test"] == "false"
    assert body[1]["outcome"] == "suppressed" and body[1]["error"].startswith("suppressed:")
    # No paging in CSV: every match, across the export's internal batches.
    for i in range(40, 45):
        add(h, i, subject=f"-{i}")
    r = await http.get("/v1/emails", params={"format": "csv", "q": "-4", "limit": 1})
    subjects = [row[10] for row in list(csv.reader(io.StringIO(r.text)))[1:]]
    assert subjects == ["'-44", "'-43", "'-42", "'-41", "'-40"]


async def test_bad_parameters_are_refused_naming_them(stack) -> None:
    _, http = stack
    cases: list[tuple[dict[str, Any], str]] = [
        ({"status": "lost"}, "query.status.0"),
        ({"kind": "postcard"}, "query.kind.0"),
        ({"from": "yesterday"}, "query.from"),
        ({"from": "2026-11-03", "to": "2026-11-02"}, "query.from"),
        ({"cursor": "not-a-cursor"}, "query.cursor"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 101}, "query.limit"),
        ({"format": "xml"}, "query.format"),
        ({"q": "x" * 201}, "query.q"),
    ]
    for params, field in cases:
        r = await http.get("/v1/emails", params=params)
        assert r.status_code == 400, (params, r.text)
        assert (r.json()["error"]["type"], r.json()["error"]["field"]) == ("invalid_request", field), params
