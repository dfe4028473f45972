"""The HTTP API against a real stack: the app from create_app, wired to the harness's
worker on the time-skipping server, SQLite and the outbox. Requests go through httpx's
ASGI transport (and once over real TCP, through serve())."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine
from temporalio.client import Client
from temporalio.service import RPCError

from relance.api import create_app
from relance.api.server import bind_socket, serve
from relance.client import RelanceClient
from relance.platform.temporal_client import DATA_CONVERTER, runtime
from tests.support.events import customer, event, invoice
from tests.support.harness import Harness
from tests.support.mail import body_text

KEY = "rk_test_" + "x" * 32
WHSEC = "whsec_test_current"
OLD_WHSEC = "whsec_test_previous"
DAY = timedelta(days=1)
UNAUTHORIZED = {"error": {"type": "unauthorized", "message": "a valid API key is required"}}


@dataclass
class Api:
    h: Harness
    http: httpx.AsyncClient

    def track(self, response: httpx.Response) -> httpx.Response:
        """Let h.settle() wait for the workflows a response says it started."""
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        for accepted in body.get("events", []) if isinstance(body, dict) else []:
            self.h.workflow_ids.add(accepted["workflow_id"])
        if isinstance(body, dict) and "workflow_id" in body:
            self.h.workflow_ids.add(body["workflow_id"])
        return response

    async def post_events(self, payload: Any) -> httpx.Response:
        return self.track(await self.http.post("/v1/events", json=payload))


def app_for(h: Harness, client: RelanceClient | None = None, **config: Any):
    values = {"api_key": SecretStr(KEY), "stripe_webhook_secret": SecretStr(WHSEC), **config}
    return create_app(h.config.model_copy(update=values), h.engine, client or h.client, apply_wait=10.0)


def http_for(app, key: str | None = KEY) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relance.test", headers=headers)


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    async with http_for(app_for(harness)) as http:
        yield Api(harness, http)


async def started(h: Harness, workflow_id: str) -> bool:
    try:
        await h.temporal.get_workflow_handle(workflow_id).describe()
        return True
    except RPCError:
        return False


def stripe_signature(payload: bytes, *secrets: str, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    signed = f"{t}.".encode() + payload
    return ",".join([f"t={t}"] + [f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in secrets])


async def open_invoice(a: Api, inv_id: str, cus_id: str, **kw: Any) -> dict:
    now = await a.h.now()
    obj = invoice(inv_id, cus_id, due=now + 10 * DAY, **kw)
    r = await a.post_events([event("customer.created", customer(cus_id)), event("invoice.finalized", obj, created=now)])
    assert r.status_code == 202, r.text
    await a.h.settle()
    return obj


# ---- health, OpenAPI, auth ------------------------------------------------------------------


async def test_healthz_and_openapi_need_no_key(harness: Harness) -> None:
    async with http_for(app_for(harness), key=None) as http:
        r = await http.get("/healthz")
        assert (r.status_code, r.json()) == (200, {"status": "ok"})
        spec = (await http.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    events = spec["paths"]["/v1/events"]["post"]
    assert {"200", "202", "400", "401", "503"} <= set(events["responses"])
    assert "422" not in json.dumps(spec["paths"])
    assert "security" not in spec["paths"]["/v1/webhooks/stripe"]["post"]

    # A database that does not answer makes the check fail, without saying more.
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/relance")
    async with http_for(create_app(harness.config, dead, harness.client), key=None) as http:
        r = await http.get("/healthz")
    assert (r.status_code, r.json()["error"]["type"]) == (503, "unavailable")
    assert "127.0.0.1" not in r.text


AUTHENTICATED = [
    ("POST", "/v1/events"),
    ("PUT", "/v1/customers/cus_x"),
    ("GET", "/v1/customers/cus_x"),
    ("GET", "/v1/settings"),
    ("PATCH", "/v1/settings"),
    ("POST", "/v1/invoices/in_x/send_reminder"),
    ("GET", "/v1/customers/cus_x/emails"),
    ("GET", "/v1/emails/e1"),
    ("GET", "/v1/emails/e1/attachments/0"),
]


async def test_every_route_refuses_a_missing_or_wrong_key_and_fails_closed_without_one(harness: Harness) -> None:
    h = harness
    body = event("invoice.finalized", invoice("in_noauth"))
    keyed, unkeyed = app_for(h), app_for(h, api_key=None)
    async with (
        http_for(keyed, key=None) as missing,
        http_for(keyed, key="rk_wrong") as wrong,
        http_for(unkeyed, key=KEY) as no_key_configured,
        http_for(unkeyed, key="") as empty,
    ):
        basic = {"Authorization": "Basic " + KEY}
        for method, path in AUTHENTICATED:
            for http, headers in ((missing, {}), (wrong, {}), (missing, basic), (no_key_configured, {}), (empty, {})):
                r = await http.request(method, path, json=body, headers=headers)
                assert (r.status_code, r.json()) == (401, UNAUTHORIZED), (method, path, r.text)
                assert r.headers["www-authenticate"] == "Bearer"
    assert not await started(h, "invoice-in_noauth")


# ---- events ---------------------------------------------------------------------------------


async def test_events_are_accepted_sent_once_and_duplicates_answer_200(api: Api) -> None:
    a, h = api, api.h
    now = await h.now()
    batch = [
        event("customer.created", customer("cus_ev1")),
        event("invoice.finalized", invoice("in_ev1", "cus_ev1", due=now + 10 * DAY), created=now),
    ]
    r = await a.post_events(batch)
    assert r.status_code == 202, r.text
    assert r.json() == {
        "status": "accepted",
        "events": [
            {"id": batch[0]["id"], "type": "customer.created", "workflow_id": "customer-cus_ev1"},
            {"id": batch[1]["id"], "type": "invoice.finalized", "workflow_id": "invoice-in_ev1"},
        ],
    }
    await h.settle()
    [sent] = h.sent()
    assert (sent.kind, sent.invoice_id, sent.to) == ("invoice_finalized", "in_ev1", ["ada@customer.test"])

    # Again, as a list and one by one: every id is in processed_events, nothing is sent.
    for payload in (batch, batch[1]):
        r = await a.post_events(payload)
        assert (r.status_code, r.json()) == (200, {"status": "duplicate"})
    await h.settle()
    assert len(h.sent()) == 1 and len(h.outbox_messages()) == 1


async def test_invalid_events_are_refused_naming_the_field_and_nothing_starts(api: Api) -> None:
    a, h = api, api.h
    good = event("invoice.finalized", invoice("in_bad_ok"))
    bad = event("invoice.finalized", invoice("in_bad_cur", currency="e12"))
    r = await a.post_events([good, bad])
    assert r.status_code == 400
    err = r.json()["error"]
    assert (err["type"], err["field"]) == ("invalid_event", "[1].data.object.currency")
    assert "ISO 4217" in err["message"]

    r = await a.post_events(event("invoice.upcoming", invoice("in_bad_up")))
    assert r.status_code == 400
    assert r.json()["error"] | {"message": ""} == {"type": "unsupported_event_type", "field": "type", "message": ""}

    r = await a.post_events(dict(good, created="yesterday"))
    assert (r.status_code, r.json()["error"]["field"]) == (400, "created")
    r = await a.http.post("/v1/events", content=b"{not json", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["error"]["type"]) == (400, "invalid_json")
    r = await a.post_events([])
    assert (r.status_code, r.json()["error"]["type"]) == (400, "invalid_event")

    for wf in ("invoice-in_bad_ok", "invoice-in_bad_cur", "invoice-in_bad_up"):
        assert not await started(h, wf)
    assert h.log() == []


async def test_temporal_unreachable_answers_503_with_retry_after(harness: Harness) -> None:
    # A port nobody listens on: the lazily connected client fails on first use.
    down = await Client.connect("127.0.0.1:1", lazy=True, data_converter=DATA_CONVERTER, runtime=runtime())
    async with http_for(app_for(harness, RelanceClient(down, harness.config.task_queue))) as http:
        r = await http.post("/v1/events", json=event("invoice.finalized", invoice("in_down")))
        assert r.status_code == 503
        assert r.json()["error"]["type"] == "temporal_unavailable"
        assert r.headers["retry-after"] == "5"
        # Reading what is stored does not need Temporal.
        assert (await http.get("/v1/settings")).status_code == 200


# ---- Stripe webhook -------------------------------------------------------------------------


async def test_stripe_webhook_verifies_signatures(api: Api) -> None:
    a, h = api, api.h
    now = await h.now()
    body = json.dumps(
        event("invoice.finalized", invoice("in_wh1", "cus_wh1", due=now + 10 * DAY), created=now)
    ).encode()

    async def deliver(payload: bytes, signature: str | None, app=None) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        async with http_for(app or app_for(h), key=None) as stripe_side:  # Stripe sends no API key
            return a.track(await stripe_side.post("/v1/webhooks/stripe", content=payload, headers=headers))

    tampered = body.replace(b"123450", b"100")
    refusals = [
        (body, None),
        (body, "garbage"),
        (body, "t=1,v0=abc"),
        (tampered, stripe_signature(body, WHSEC)),  # signed, then changed
        (body, stripe_signature(body, OLD_WHSEC)),  # someone else's secret
        (body, stripe_signature(body, WHSEC, at=int(time.time()) - 301)),  # stale: a replay
        (b"\xff" + body, stripe_signature(body, WHSEC)),
    ]
    for payload, signature in refusals:
        r = await deliver(payload, signature)
        assert (r.status_code, r.json()["error"]["type"]) == (400, "invalid_signature"), signature
    # No secret configured: refused the same way, whatever the signature.
    r = await deliver(body, stripe_signature(body, WHSEC), app=app_for(h, stripe_webhook_secret=None))
    assert (r.status_code, r.json()["error"]["type"]) == (400, "invalid_signature")
    assert not await started(h, "invoice-in_wh1")

    # During a secret roll Stripe signs with both: either order verifies.
    r = await deliver(body, stripe_signature(body, OLD_WHSEC, WHSEC))
    assert r.status_code == 202, r.text
    assert r.json()["events"][0]["workflow_id"] == "invoice-in_wh1"
    await h.settle()
    assert [e.kind for e in h.sent()] == ["invoice_finalized"]
    assert (await deliver(body, stripe_signature(body, WHSEC, OLD_WHSEC))).json() == {"status": "duplicate"}

    unknown = json.dumps(event("customer.discount.created", {"id": "di_1"})).encode()
    r = await deliver(unknown, stripe_signature(unknown, WHSEC))
    assert (r.status_code, r.json()) == (200, {"status": "ignored"})

    invalid = json.dumps(event("invoice.paid", invoice("in_wh2", currency="12"))).encode()
    r = await deliver(invalid, stripe_signature(invalid, WHSEC))
    assert r.status_code == 400
    assert r.json()["error"] | {"message": ""} == {
        "type": "invalid_event",
        "field": "data.object.currency",
        "message": "",
    }
    assert not await started(h, "invoice-in_wh2")
    await h.settle()
    assert len(h.sent()) == 1


# ---- customers ------------------------------------------------------------------------------


async def test_customer_put_get_and_lists_apply_to_the_next_email(api: Api) -> None:
    a, h = api, api.h
    assert (await a.http.get("/v1/customers/cus_api1")).status_code == 404

    r = a.track(
        await a.http.put(
            "/v1/customers/cus_api1",
            json={
                "email": "ada@customer.test",
                "name": "Ada",
                "preferred_locales": ["fr"],
                "timezone": "Europe/Paris",
                "invoice_emails": ["ap@customer.test", "AP@customer.test", "books@customer.test"],
                "cc_emails": ["cfo@customer.test"],
                "address": {"line1": "1 rue de Rivoli", "city": "Paris"},
            },
        )
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "applied" and body["event_id"].startswith("evt_api_")
    assert body["workflow_id"] == "customer-cus_api1"
    stored = (await a.http.get("/v1/customers/cus_api1")).json()
    assert stored == body["customer"]
    assert stored["invoice_emails"] == ["ap@customer.test", "books@customer.test"]  # duplicates dropped
    assert (stored["cc_emails"], stored["timezone"], stored["address_lines"]) == (
        ["cfo@customer.test"],
        "Europe/Paris",
        ["1 rue de Rivoli", "Paris"],
    )

    now = await h.now()
    r = await a.post_events(event("invoice.finalized", invoice("in_api1", "cus_api1", due=now + 10 * DAY), created=now))
    assert r.status_code == 202
    await h.settle()
    [sent] = h.sent()
    assert (sent.to, sent.cc, sent.locale) == (["ap@customer.test", "books@customer.test"], ["cfo@customer.test"], "fr")
    [msg] = h.outbox_messages()
    assert msg["To"] == "ap@customer.test, books@customer.test" and msg["Cc"] == "cfo@customer.test"

    # Omitted lists stay; [] clears.
    r = a.track(await a.http.put("/v1/customers/cus_api1", json={"email": "ada@customer.test", "cc_emails": []}))
    assert r.json()["customer"]["invoice_emails"] == ["ap@customer.test", "books@customer.test"]
    assert r.json()["customer"]["cc_emails"] == []

    r = await a.http.put("/v1/customers/cus_api1", json={"cc_emails": ["ok@customer.test", "not-an-address"]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert (err["type"], err["field"]) == ("invalid_customer", "cc_emails")
    assert "'not-an-address'" in err["message"]
    r = await a.http.put("/v1/customers/cus_api1", json={"timezone": "Mars/Olympus"})
    assert (r.status_code, r.json()["error"]["field"]) == (400, "timezone")
    r = await a.http.put("/v1/customers/cus_api1", json={"emails": ["typo@customer.test"]})
    assert (r.status_code, r.json()["error"]) == (
        400,
        {"type": "invalid_request", "field": "emails", "message": "Extra inputs are not permitted"},
    )
    r = await a.http.put("/v1/customers/cus_api1", content=b"{", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["error"]["type"]) == (400, "invalid_json")
    assert (await a.http.get("/v1/customers/cus_api1")).json()["cc_emails"] == []


async def test_customer_einvoice_profile(api: Api) -> None:
    a = api
    r = a.track(
        await a.http.put("/v1/customers/cus_fx", json={"email": "ap@customer.test", "einvoice_profile": "xrechnung"})
    )
    assert r.status_code == 202 and r.json()["customer"]["einvoice_profile"] == "xrechnung"
    # Omitted: unchanged; "default": the account's again.
    r = a.track(await a.http.put("/v1/customers/cus_fx", json={"email": "ap@customer.test"}))
    assert r.json()["customer"]["einvoice_profile"] == "xrechnung"
    r = a.track(
        await a.http.put("/v1/customers/cus_fx", json={"email": "ap@customer.test", "einvoice_profile": "default"})
    )
    assert (await a.http.get("/v1/customers/cus_fx")).json()["einvoice_profile"] is None
    r = await a.http.put("/v1/customers/cus_fx", json={"einvoice_profile": "pdf"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "einvoice_profile"
    # The buyer reference (a Leitweg-ID): omitted, unchanged; empty, cleared.
    r = a.track(await a.http.put("/v1/customers/cus_fx", json={"buyer_reference": "04011000-12345-34"}))
    assert r.json()["customer"]["buyer_reference"] == "04011000-12345-34"
    a.track(await a.http.put("/v1/customers/cus_fx", json={"email": "ap@customer.test"}))
    assert (await a.http.get("/v1/customers/cus_fx")).json()["buyer_reference"] == "04011000-12345-34"
    a.track(await a.http.put("/v1/customers/cus_fx", json={"buyer_reference": ""}))
    assert (await a.http.get("/v1/customers/cus_fx")).json()["buyer_reference"] is None


# ---- settings -------------------------------------------------------------------------------


async def test_settings_get_and_patch_validated_all_or_nothing(api: Api) -> None:
    a = api
    r = await a.http.get("/v1/settings")
    assert r.status_code == 200
    assert r.json()["version"] == 0 and r.json()["settings"]["reminders"] == [-3, 0, 7]
    # Valid but probably unwanted: said, named, never refused.
    assert [x["field"] for x in r.json()["advice"]] == ["links.update_payment_url"]
    r = await a.http.patch("/v1/settings", json={"links": {"update_payment_url": "https://b.acme.test/{customer_id}"}})
    assert r.status_code == 200 and r.json()["advice"] == [], r.text

    r = await a.http.patch(
        "/v1/settings",
        json={"reminders": [7, -1, 0], "emails": {"receipt": False}, "branding": {"business_name": "Acme"}},
    )
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["version"] == 2 and saved["settings"]["reminders"] == [-1, 0, 7]
    assert saved["settings"]["emails"]["receipt"] is False and saved["settings"]["emails"]["invoice_reminder"]
    assert saved["settings"]["branding"]["business_name"] == "Acme"

    refused = [
        ({"send_hour": 25, "timezone": "Europe/Paris"}, "send_hour"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"reminders": [1, 1]}, "reminders"),
        ({"no_such_setting": 1}, "no_such_setting"),
        ({"sender": {"domain": "acme.test"}}, "sender.domain"),
        ({"sender": {"domain_verified": True}}, "sender.domain_verified"),
        ({"branding": {"support_email": "nope"}}, "branding.support_email"),
        ({"einvoice": {"profile": "zugferd1"}}, "einvoice.profile"),
        ({"branding": {"logo_data_uri": "https://tracker.example/logo.png"}}, "branding.logo_data_uri"),
        ({"branding": {"logo_data_uri": "data:image/png;base64,aGVsbG8="}}, "branding.logo_data_uri"),
    ]
    for patch, field in refused:
        r = await a.http.patch("/v1/settings", json=patch)
        assert r.status_code == 400, patch
        assert r.json()["error"]["type"] == "invalid_settings" and r.json()["error"]["field"] == field, r.text
    r = await a.http.patch("/v1/settings", json=[1])
    assert (r.status_code, r.json()["error"]["type"]) == (400, "invalid_request")
    assert (await a.http.get("/v1/settings")).json() == saved  # nothing half-applied


# ---- reminders and the email log ------------------------------------------------------------


async def test_manual_reminder_for_an_automatically_charged_invoice_waits_for_a_failed_attempt(api: Api) -> None:
    """Before any attempt the customer is about to be charged: a "please pay" email would
    only confuse them (409 charged_automatically). Once an attempt failed, a reminder with
    the pay link is ordinary dunning."""
    a, h = api, api.h
    obj = await open_invoice(a, "in_auto_rem", "cus_auto_rem", collection_method="charge_automatically")
    r = await a.http.post("/v1/invoices/in_auto_rem/send_reminder")
    assert (r.status_code, r.json()["error"]["type"]) == (409, "charged_automatically"), r.text
    assert "no payment attempt has failed" in r.json()["error"]["message"]
    failed = event("invoice.payment_failed", dict(obj, attempt_count=1), created=await h.now())
    assert (await a.post_events(failed)).status_code == 202
    await h.settle()
    r = a.track(await a.http.post("/v1/invoices/in_auto_rem/send_reminder", headers={"Idempotency-Key": "auto-1"}))
    assert r.status_code == 202, r.text
    await h.settle()
    assert [e.kind for e in h.sent()] == ["payment_failed", "invoice_reminder"]


async def test_send_reminder_then_email_log_pages_and_one_email_with_its_pdf(api: Api) -> None:
    a, h = api, api.h
    r = await a.http.post("/v1/invoices/in_nope/send_reminder")
    assert (r.status_code, r.json()["error"]["type"]) == (409, "invoice_not_open")

    obj = await open_invoice(a, "in_log1", "cus_log1")
    for _ in range(2):  # a retried request: same key, one reminder
        r = a.track(await a.http.post("/v1/invoices/in_log1/send_reminder", headers={"Idempotency-Key": "rem-1"}))
        assert r.status_code == 202, r.text
        assert r.json() == {
            "status": "accepted",
            "invoice_id": "in_log1",
            "request_id": "rem-1",
            "workflow_id": "invoice-in_log1",
        }
    r = await a.http.post("/v1/invoices/in_log1/send_reminder", headers={"Idempotency-Key": "two words"})
    assert (r.status_code, r.json()["error"]["field"]) == (400, "header.idempotency-key")
    await h.settle()
    assert len(h.sent("invoice_reminder")) == 1

    paid = dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)
    assert (await a.post_events(event("invoice.paid", paid, created=await h.now()))).status_code == 202
    await h.settle()
    r = await a.http.post("/v1/invoices/in_log1/send_reminder")
    assert r.status_code == 409 and "paid" in r.json()["error"]["message"]

    # The log: newest first, two per page.
    r = await a.http.get("/v1/customers/cus_log1/emails", params={"limit": 2})
    page1 = r.json()
    assert [e["kind"] for e in page1["data"]] == ["receipt", "invoice_reminder"]
    assert (page1["has_more"], page1["next_offset"]) == (True, 2)
    page2 = (await a.http.get("/v1/customers/cus_log1/emails", params={"limit": 2, "offset": 2})).json()
    assert [e["kind"] for e in page2["data"]] == ["invoice_finalized"]
    assert (page2["has_more"], page2["next_offset"]) == (False, None)
    receipt = page1["data"][0]
    assert receipt["status"] == "sent" and receipt["invoice"] == "in_log1" and receipt["to"] == ["ada@customer.test"]
    assert receipt["provider_message_id"] and receipt["subject"] and receipt["error"] is None
    assert (await a.http.get("/v1/customers/cus_nobody/emails")).json() == {
        "data": [],
        "has_more": False,
        "next_offset": None,
    }
    r = await a.http.get("/v1/customers/cus_log1/emails", params={"limit": 101})
    assert (r.status_code, r.json()["error"]["field"]) == (400, "query.limit")

    # One email as sent, and its PDFs.
    r = await a.http.get(f"/v1/emails/{receipt['id']}")
    assert r.status_code == 200
    one = r.json()
    [msg] = [m for m in h.outbox_messages() if m["Message-ID"] == one["headers"]["Message-ID"]]
    assert one["headers"]["To"] == msg["To"] == "ada@customer.test"
    assert one["headers"]["Subject"] == msg["Subject"] == receipt["subject"]
    assert one["headers"]["From"].endswith("<billing@relance.localhost>")
    assert obj["number"] in one["text"] and obj["number"] in body_text(msg, "plain")
    assert "<html" in one["html"].lower()
    pdfs = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    assert [att["filename"] for att in one["attachments"]] == list(pdfs)
    for n, att in enumerate(one["attachments"]):
        assert att["url"] == f"/v1/emails/{receipt['id']}/attachments/{n}"
        r = await a.http.get(att["url"])
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        assert r.content.startswith(b"%PDF-") and r.content == pdfs[att["filename"]]
        assert att["size"] == len(r.content)
    assert (await a.http.get(f"/v1/emails/{receipt['id']}/attachments/2")).status_code == 404
    r = await a.http.get("/v1/emails/nope")
    assert (r.status_code, r.json()["error"]["type"]) == (404, "not_found")


# ---- serve() --------------------------------------------------------------------------------


async def test_serve_over_tcp_with_its_own_lazily_connected_client(harness: Harness) -> None:
    h = harness
    target = h.temporal.service_client.config.target_host
    config = h.config.model_copy(
        update={
            "api_key": SecretStr(KEY),
            "temporal_address": target,
            "database_url": h.engine.url.render_as_string(hide_password=False),
        }
    )
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    stop = asyncio.Event()
    server = asyncio.create_task(serve(config, stop, sock=sock))
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {KEY}"}
        ) as http:
            for _ in range(100):
                try:
                    r = await http.get("/healthz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert r.json() == {"status": "ok"}
            now = await h.now()
            r = await http.post(
                "/v1/events",
                json=[
                    event("customer.created", customer("cus_tcp1")),
                    event("invoice.finalized", invoice("in_tcp1", "cus_tcp1", due=now + 10 * DAY), created=now),
                ],
            )
            assert r.status_code == 202, r.text
            h.workflow_ids.update(e["workflow_id"] for e in r.json()["events"])
            await h.settle()
            assert [e.kind for e in h.sent()] == ["invoice_finalized"]
    finally:
        stop.set()
        await asyncio.wait_for(server, 15)
    assert sock.fileno() == -1  # closed: the port is free again
