"""The dashboard's email log: the filters of GET /v1/emails in a GET form, cursor pages,
the CSV export, an email's "Resend" (CSRF, corrected recipients, the refusal of an email
whose kind was off), and the settings page's test send. Over httpx's ASGI transport
against the harness (real worker, SQLite, the outbox)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator

import pytest

from relance.api.dashboard.pages import PAGE_SIZE
from relance.storage import email_log
from relance.storage.database import session_scope
from tests.api.test_dashboard import Dash, client_for, dashboard_app, first_group, log_in, open_invoice, text_of
from tests.support.harness import Harness


@pytest.fixture
async def dash(harness: Harness) -> AsyncIterator[Dash]:
    async with client_for(dashboard_app(harness)) as http:
        assert (await log_in(http)).status_code == 303
        yield Dash(harness, http)


def ids_on(page: str) -> list[str]:
    return re.findall(r'href="/dashboard/emails/([0-9a-f]{32})"', page)


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


async def test_email_log_page_filters_pages_and_exports(dash: Dash) -> None:
    d, h = dash, dash.h
    await open_invoice(h, "in_de1", "cus_de1")
    page = await d.page("/dashboard/emails")
    assert 'href="/dashboard/emails" class="active"' in page
    [invoice_email] = h.sent("invoice_finalized")
    assert ids_on(page) == [invoice_email.id] and "cus_de1" in text_of(page)
    assert 'href="/dashboard/emails?customer=cus_de1"' in await d.page("/dashboard/customers/cus_de1")

    now = invoice_email.created_at
    with session_scope(h.engine) as s:
        for i in range(PAGE_SIZE + 5):
            email_log.new_entry(
                s, key=f"bulk-{i}", kind="receipt", customer_id="cus_bulk", invoice_id=None,
                scheduled_at=now, status="failed", error="550", subject=f"Bulk {i}", to=["x@bulk.test"],
            )  # fmt: skip
    first = await d.page("/dashboard/emails?status=failed&kind=receipt&q=BULK")
    assert len(ids_on(first)) == PAGE_SIZE and invoice_email.id not in ids_on(first)
    assert 'value="failed" selected' in first and 'value="BULK"' in first
    next_url = first_group(r'href="(/dashboard/emails\?[^"]*cursor=[^"]+)">Older', first).replace("&amp;", "&")
    second = await d.page(next_url)
    assert len(ids_on(second)) == 5 and not set(ids_on(second)) & set(ids_on(first))
    assert "Older →" not in second and "← Newest" in second

    csv_url = first_group(r'href="(/dashboard/emails\.csv[^"]*)"', first).replace("&amp;", "&")
    r = await d.http.get(csv_url)
    rows = list(csv.reader(io.StringIO(r.text)))
    assert r.status_code == 200 and rows[0][0] == "id" and len(rows) == 1 + PAGE_SIZE + 5

    bad = await d.page("/dashboard/emails?from=soon", status=400)
    assert "from" in text_of(bad) and "not a date" in text_of(bad)
    assert ids_on(await d.page("/dashboard/emails?cursor=junk&customer=cus_de1")) == [invoice_email.id]


async def test_resend_button_sends_once_with_corrected_recipients_and_explains_a_refusal(dash: Dash) -> None:
    d, h = dash, dash.h
    await open_invoice(h, "in_de2", "cus_de2")
    [original] = h.sent("invoice_finalized")
    page = await d.page(f"/dashboard/emails/{original.id}")
    assert "Resend" in page
    form = {
        "csrf_token": hidden(page, "csrf_token"),
        "request_id": hidden(page, "request_id"),
        "to": "fixed@customer.test\nsecond@customer.test",
        "cc": "",
    }
    r = await d.http.post(f"/dashboard/emails/{original.id}/resend", data={**form, "csrf_token": "forged"})
    assert r.status_code == 403
    for _ in range(2):  # a double submit: the form's request id sends once
        r = await d.http.post(f"/dashboard/emails/{original.id}/resend", data=form)
        assert r.status_code == 303, r.text
        new_id = r.headers["location"].split("/")[-1].split("?")[0]
        h.workflow_ids.add(f"email-{new_id}")
        await h.settle()
    [resent] = [m for m in h.outbox_messages() if m["To"] == "fixed@customer.test, second@customer.test"]
    assert len(h.outbox_messages()) == 2
    shown = text_of(await d.page(r.headers["location"]))
    assert "resend of an earlier email" in shown and "Resend requested" in shown
    assert resent["Subject"] == original.subject

    r = await d.http.post(f"/dashboard/emails/{original.id}/resend", data={**form, "to": "nope", "request_id": "x2"})
    assert r.status_code == 400 and "Not resent" in text_of(r.text) and "nope" in r.text

    h.save_settings(emails={"invoice_finalized": False})
    await open_invoice(h, "in_de3", "cus_de3")
    [skipped] = [e for e in h.log() if e.invoice_id == "in_de3"]
    page = await d.page(f"/dashboard/emails/{skipped.id}")
    assert 'id="resend"' not in page  # never rendered: no button
    r = await d.http.post(f"/dashboard/emails/{skipped.id}/resend", data={**form, "to": "", "request_id": "x3"})
    assert r.status_code == 409 and "turned off" in text_of(r.text)


async def test_settings_test_send_form(dash: Dash) -> None:
    d, h = dash, dash.h
    page = await d.page("/dashboard/settings")
    assert "Send a test email" in page
    form = {
        "csrf_token": hidden(page, "csrf_token"),
        "request_id": hidden(page, "request_id"),
        "kind": "invoice_reminder",
        "to": "ops@example.com",
        "locale": "de",
    }
    r = await d.http.post("/dashboard/settings/test-email", data=form)
    assert r.status_code == 303, r.text
    new_id = r.headers["location"].split("/")[-1].split("?")[0]
    h.workflow_ids.add(f"email-{new_id}")
    await h.settle()
    [msg] = h.outbox_messages()
    assert msg["To"] == "ops@example.com" and msg["Subject"].startswith("[TEST] ")
    shown = text_of(await d.page(r.headers["location"]))
    assert "test on sample data" in shown and "sent" in shown
    r = await d.http.post("/dashboard/settings/test-email", data={**form, "to": "not-an-address", "request_id": "t2"})
    assert r.status_code == 400 and "Not sent" in text_of(r.text)


async def test_an_invalid_einvoice_shows_on_the_emails_page(dash: Dash) -> None:
    from datetime import UTC, datetime

    from relance.contracts.einvoice import EInvoiceOutcome, RuleFailure

    d, h = dash, dash.h
    outcome = EInvoiceOutcome(
        profile="en16931",
        status="invalid",
        filename="factur-x.xml",
        failures=[RuleFailure(rule="BR-CO-15", text="[BR-CO-15]-Invoice total amount with VAT (BT-112) = ...")],
    )
    with session_scope(h.engine) as s:
        entry = email_log.new_entry(
            s, key="in_fx:invoice_finalized:0", kind="invoice_finalized", customer_id="cus_fx", invoice_id="in_fx",
            scheduled_at=datetime.now(UTC), status="sent", subject="Invoice", einvoice=outcome.summary(),
        )  # fmt: skip
        email_id = entry.id
    page = await d.page(f"/dashboard/emails/{email_id}")
    assert "E-invoice" in text_of(page)
    assert "en16931: invalid, sent as a plain PDF; failed rules: BR-CO-15" in text_of(page)
