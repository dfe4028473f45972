"""GET /v1/invoices/{id} and /dashboard/invoices/{id} against the harness: a real worker on
the time-skipping server, a real database, a real webhook receiver. The invoice lives its
life (finalized, a reminder, a failed payment, paid) and the page is read while its
workflow runs and after it closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.transports.outbox import OutboxTransport
from relance.api import create_app
from relance.platform.config import Config
from relance.services.invoice_timeline import WorkflowView, invoice_page
from tests.api.test_dashboard import client_for, dashboard_app, log_in, text_of
from tests.conftest import running_harness
from tests.support.events import customer, event, invoice, stripe_fixtures
from tests.support.harness import Harness
from tests.workflows.test_webhooks_out import Receiver, delivered, register

KEY = "rk_test_" + "t" * 32
DAY = timedelta(days=1)
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
async def pg_harness(time_env: WorkflowEnvironment, config: Config, postgres_url: str) -> AsyncIterator[Harness]:
    async with running_harness(time_env, config, postgres_url, OutboxTransport(config.resolved_outbox_dir())) as h:
        yield h


def api_for(h: Harness) -> httpx.AsyncClient:
    app = create_app(h.config.model_copy(update={"api_key": SecretStr(KEY)}), h.engine, h.client)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://relance.test",
        headers={"Authorization": f"Bearer {KEY}"},
    )


def slots_of(page: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {s["days_from_due"]: s for s in page["reminder_plan"]["slots"]}


def summary(page: dict[str, Any]) -> list[tuple[str, ...]]:
    """The timeline as (kind, what) pairs, in its order."""
    out: list[tuple[str, ...]] = []
    for e in page["timeline"]:
        what = {
            "event": lambda e: e["type"],
            "status": lambda e: f"{e['previous']}->{e['status']}",
            "payment": lambda e: f"{e['outcome']}#{e['attempt']}",
            "email": lambda e: f"{e['email_kind']}:{e['status']}",
            "webhook": lambda e: f"{e['type']}:{e['status']}",
        }[e["kind"]](e)
        out.append((e["kind"], what))
    return out


async def live_an_invoice(h: Harness, http: httpx.AsyncClient, inv_id: str, cus_id: str) -> dict[str, Any]:
    """Finalized, the -3 days reminder sent, the page read while the workflow runs; then a
    failed payment and paid. Returns the page read while it ran."""
    h.save_settings(timezone="America/New_York", reminders=[-3, 0, 7], send_hour=9)
    with Receiver() as receiver:
        await register(http, receiver.url, "invoice.paid")
        now = await h.now()
        due = now + 10 * DAY
        obj = invoice(inv_id, cus_id, due=due, number="INV-TL-1")
        await h.send(
            event("customer.created", customer(cus_id, timezone="Asia/Tokyo")),
            event("invoice.finalized", obj, created=now),
        )
        await h.advance(8 * DAY)
        running = (await http.get(f"/v1/invoices/{inv_id}")).json()
        # Temporal not answering, or the workflow not answering its query: the same
        # slots, from the log and the schedule.
        for view in (WorkflowView(), WorkflowView(status="RUNNING")):
            away = invoice_page(h.engine, h.config, inv_id, f"invoice-{inv_id}", view, now=await h.now())
            assert away is not None and away.reminder_plan is not None
            assert away.reminder_plan.source == "log"
            assert [(s.days_from_due, s.state) for s in away.reminder_plan.slots] == [
                (-3, "sent"),
                (0, "ahead"),
                (7, "ahead"),
            ]
        # Looked at long after, past the log's retention (30 days): no log row says.
        later = invoice_page(
            h.engine, h.config, inv_id, f"invoice-{inv_id}", WorkflowView(status="TERMINATED"), now=now + 60 * DAY
        )
        assert later is not None and later.reminder_plan is not None
        assert [s.state for s in later.reminder_plan.slots] == ["sent", "unknown", "unknown"]

        failed = invoice(inv_id, cus_id, due=due, number="INV-TL-1", attempt_count=1)
        await h.send(event("invoice.payment_failed", failed, created=await h.now()))
        paid = invoice(inv_id, cus_id, due=due, number="INV-TL-1", status="paid", attempt_count=2)
        await h.send(event("invoice.paid", paid, created=await h.now()))
        assert [d.status for d in (await delivered(h, f"{inv_id}:invoice.paid")).deliveries] == ["delivered"]
    return running


def check_running_plan(running: dict[str, Any]) -> None:
    assert running["workflow_status"] == "RUNNING"
    plan = running["reminder_plan"]
    assert (plan["source"], plan["time_zone"], plan["time_zone_source"]) == ("workflow", "Asia/Tokyo", "customer")
    slots = slots_of(running)
    assert [slots[d]["state"] for d in (-3, 0, 7)] == ["sent", "ahead", "ahead"]
    due_day = datetime.fromisoformat(running["invoice"]["due_date"]).astimezone(TOKYO).date()
    for d, slot in slots.items():
        local = datetime.fromisoformat(slot["local_time"])
        # 09:00 in Tokyo, on the local calendar date, whatever the account's zone (New York).
        assert (local.date(), local.hour, local.minute) == (due_day + timedelta(days=d), 9, 0)
        assert slot["local_time"].endswith("+09:00") and slot["time_zone"] == "Asia/Tokyo"
        assert datetime.fromisoformat(slot["at"]) == local
    assert slots[-3]["email_id"]


def check_closed_page(page: dict[str, Any], inv_id: str) -> None:
    assert page["invoice"]["status"] == "paid" and page["invoice"]["number"] == "INV-TL-1"
    assert page["invoice"]["currency"] == "eur" and page["invoice"]["amount_due"] == 123450
    assert page["workflow_status"] == "COMPLETED"
    timeline = summary(page)
    assert timeline[:10] == [
        ("event", "invoice.finalized"),
        ("status", "None->open"),
        ("email", "invoice_finalized:sent"),
        ("email", "invoice_reminder:sent"),
        ("event", "invoice.payment_failed"),
        ("payment", "failed#1"),
        ("email", "payment_failed:sent"),
        ("event", "invoice.paid"),
        ("status", "open->paid"),
        ("payment", "succeeded#2"),
    ]
    # The receipt and the webhook go out concurrently: either may come first.
    assert sorted(timeline[10:]) == [("email", "receipt:sent"), ("webhook", "invoice.paid:delivered")]
    times = [e["at"] for e in page["timeline"]]
    assert times == sorted(times)
    reminder = next(e for e in page["timeline"] if e.get("email_kind") == "invoice_reminder")
    assert reminder["reminder_days_from_due"] == -3 and reminder["to"] == ["ada@customer.test"]
    webhook = next(e for e in page["timeline"] if e["kind"] == "webhook")
    assert webhook["endpoint_url"].startswith("http://127.0.0.1:") and webhook["attempts"] == 1
    # Closed: the plan comes from the log and the schedule, in the customer's zone still.
    plan = page["reminder_plan"]
    assert (plan["source"], plan["time_zone"]) == ("log", "Asia/Tokyo")
    slots = slots_of(page)
    assert slots[-3]["state"] == "sent" and slots[-3]["email_id"] == reminder["email_id"]
    assert [(slots[d]["state"], slots[d]["reason"]) for d in (0, 7)] == [("skipped", "the invoice was paid first")] * 2
    assert all(s["local_time"].endswith("+09:00") for s in slots.values())
    links = page["links"]
    assert links["customer"] == "/v1/customers/cus_tl" and links["dashboard"] == f"/dashboard/invoices/{inv_id}"
    assert links["temporal_ui"] == f"http://localhost:8233/namespaces/default/workflows/invoice-{inv_id}"


async def test_an_invoice_timeline_and_plan_while_running_and_after_it_closed(harness: Harness) -> None:
    h = harness
    async with api_for(h) as http:
        running = await live_an_invoice(h, http, "in_tl_1", "cus_tl")
        check_running_plan(running)
        page = (await http.get("/v1/invoices/in_tl_1")).json()
    check_closed_page(page, "in_tl_1")


async def test_the_same_on_postgresql(pg_harness: Harness) -> None:
    async with api_for(pg_harness) as http:
        check_running_plan(await live_an_invoice(pg_harness, http, "in_tl_pg", "cus_tl"))
        check_closed_page((await http.get("/v1/invoices/in_tl_pg")).json(), "in_tl_pg")


async def test_an_unknown_invoice_is_a_404_and_the_route_is_documented(harness: Harness) -> None:
    async with api_for(harness) as http:
        r = await http.get("/v1/invoices/in_nope")
        assert r.status_code == 404
        assert r.json()["error"] == {
            "type": "not_found",
            "message": "Relance has no invoice 'in_nope' (no event for it was received)",
        }
        assert (await http.get("/v1/invoices/in_nope", headers={"Authorization": "Bearer wrong"})).status_code == 401
        schema = (await http.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/invoices/{invoice_id}"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/InvoicePage")
    assert {"404", "401"} <= set(operation["responses"])
    assert {"EventEntry", "EmailEntry", "WebhookEntry", "PaymentEntry", "StatusEntry", "PlanSlot"} <= set(
        schema["components"]["schemas"]
    )


async def test_the_dashboard_page_shows_the_timeline_and_plan_and_is_linked(harness: Harness) -> None:
    h = harness
    async with api_for(h) as http:
        await live_an_invoice(h, http, "in_tl_d", "cus_tl")
    # A credit note that names the invoice: linked to it from the customer's email log.
    cn = dict(stripe_fixtures()["credit_note"], customer="cus_tl", id="cn_tl", invoice="in_tl_d")
    await h.send(event("credit_note.created", cn, created=await h.now()))
    [credit] = h.sent("credit_note_created")
    link = 'href="/dashboard/invoices/in_tl_d"'
    async with client_for(dashboard_app(h)) as dash:
        assert (await log_in(dash)).status_code == 303
        r = await dash.get("/dashboard/invoices/in_tl_d")
        assert r.status_code == 200, r.text[:500]
        page, text = r.text, text_of(r.text)
        assert "<script" not in page  # a plain page: works without JavaScript
        assert 'href="/dashboard/customers/cus_tl"' in page
        assert 'href="http://localhost:8233/namespaces/default/workflows/invoice-in_tl_d"' in page
        assert "INV-TL-1" in text and "Asia/Tokyo" in text and "+09:00" in text
        assert "the invoice was paid first" in text and "Derived from the email log" in text
        for what in ("invoice.finalized", "open → paid", "attempt 1", "invoice.paid", "Credit note"):
            assert what in text, what
        # Each table scrolls inside its card (the 375 px rule in base.html), none on the page.
        assert page.count('<div class="table-wrap">') == page.count("<table>") == 2
        assert f'href="/dashboard/emails/{credit.id}"' in page
        customer_page = (await dash.get("/dashboard/customers/cus_tl")).text
        assert customer_page.count(link) >= 2  # the invoices table and the email log
        assert link in (await dash.get(f"/dashboard/emails/{credit.id}")).text
        missing = await dash.get("/dashboard/invoices/in_nope")
        assert missing.status_code == 404 and "Relance has no invoice" in text_of(missing.text)
        assert (await dash.get("/dashboard/invoices/" + "x" * 256)).status_code == 404
