"""Webhooks out, end to end: endpoints registered through the API, events emitted by the
real workflows on the time-skipping server, delivered by WebhookWorkflow to a local HTTP
receiver on 127.0.0.1 that verifies every request with `standardwebhooks`, as a
customer's receiver would."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook, WebhookVerificationError
from temporalio.service import RPCError

from activities.webhooks import WebhookOutcome, event_id_for, signature_header
from relance.api import create_app
from relance.storage import webhooks_store
from relance.storage.database import session_scope
from relance.storage.tables import as_utc
from tests.support.events import customer, event, invoice
from tests.support.harness import Harness

KEY = "rk_test_" + "w" * 32
DAY = timedelta(days=1)
ALL_EMAILS_OFF = {
    k: False for k in ("invoice_finalized", "invoice_reminder", "payment_failed", "payment_action_required", "receipt")
}


# ---- a receiver, as a customer would run one ------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def verify(self, secret: str) -> dict[str, Any]:
        return Webhook(secret).verify(self.body, self.headers)

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """Answers each POST with the next scripted status (200 once the script is done)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._script: deque[int] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver._script.popleft() if receiver._script else 200
                data = b'{"ok":true}' if status < 300 else b'{"error":"nope"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def reply(self, *statuses: int) -> None:
        self._script.extend(statuses)

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.requests if r.payload["type"] == event_type]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
async def http(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(harness.config.model_copy(update={"api_key": SecretStr(KEY)}), harness.engine, harness.client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://relance.test",
        headers={"Authorization": f"Bearer {KEY}"},
    ) as client:
        yield client


async def register(http: httpx.AsyncClient, url: str, *types: str) -> dict[str, Any]:
    r = await http.post("/v1/webhook_endpoints", json={"url": url, "event_types": list(types) or ["*"]})
    assert r.status_code == 201, r.text
    return r.json()


async def delivered(h: Harness, key: str) -> WebhookOutcome:
    """Wait for the event's WebhookWorkflow. The time-skipping server does not skip an
    activity's retry back-off: a retry waits its real 5 s."""
    workflow_id = f"webhook-{event_id_for(key)}"
    h.workflow_ids.add(workflow_id)  # terminated at the end of the test if still retrying
    handle = h.temporal.get_workflow_handle(workflow_id, result_type=WebhookOutcome)
    return await handle.result()


async def started(h: Harness, workflow_id: str) -> bool:
    try:
        await h.temporal.get_workflow_handle(workflow_id).describe()
        return True
    except RPCError:
        return False


def deliveries(h: Harness, endpoint_id: str) -> list:
    with session_scope(h.engine) as session:
        return webhooks_store.deliveries(session, endpoint_id=endpoint_id)


# ---- the API --------------------------------------------------------------------------------


async def test_endpoints_are_validated_listed_rotated_and_deleted(harness: Harness, http: httpx.AsyncClient) -> None:
    for body, field in (
        ({"url": "ftp://x.test/h", "event_types": ["*"]}, "url"),
        ({"url": "not a url", "event_types": ["*"]}, "url"),
        ({"url": "https://", "event_types": ["*"]}, "url"),
        ({"url": "https://x.test:99999/h", "event_types": ["*"]}, "url"),
        ({"url": "https://x.test/h", "event_types": ["invoice.exploded"]}, "event_types"),
        ({"url": "https://x.test/h", "event_types": []}, "event_types"),
    ):
        r = await http.post("/v1/webhook_endpoints", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["field"] == field

    created = await register(http, "https://hooks.example.com/relance", "invoice.paid", "email.sent")
    assert created["id"].startswith("we_") and created["event_types"] == ["invoice.paid", "email.sent"]
    assert created["secret"].startswith("whsec_")
    Webhook(created["secret"])  # the Standard Webhooks format

    listed = (await http.get("/v1/webhook_endpoints")).json()["data"]
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]

    rotated = (await http.post(f"/v1/webhook_endpoints/{created['id']}/rotate_secret")).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    with session_scope(harness.engine) as session:
        endpoint = webhooks_store.get_endpoint(session, created["id"])
        assert endpoint is not None
        assert webhooks_store.signing_secrets(endpoint) == [rotated["secret"], created["secret"]]
        # After 24 hours only the new secret signs.
        expires_at = as_utc(endpoint.previous_secret_expires_at)
        assert expires_at is not None
        later = expires_at + timedelta(seconds=1)
        assert webhooks_store.signing_secrets(endpoint, now=later) == [rotated["secret"]]
    assert rotated["previous_secret_expires_at"] == expires_at.isoformat().replace("+00:00", "Z")

    assert (await http.delete(f"/v1/webhook_endpoints/{created['id']}")).json() == {
        "id": created["id"],
        "deleted": True,
    }
    assert (await http.delete(f"/v1/webhook_endpoints/{created['id']}")).status_code == 404
    assert (await http.get("/v1/webhook_endpoints")).json() == {"data": []}

    # Every route needs the key, except SendGrid's receiver (signed instead).
    for method, path in (
        ("POST", "/v1/webhook_endpoints"),
        ("GET", "/v1/webhook_endpoints"),
        ("GET", "/v1/webhook_endpoints/we_x"),
        ("DELETE", "/v1/webhook_endpoints/we_x"),
        ("POST", "/v1/webhook_endpoints/we_x/rotate_secret"),
        ("GET", "/v1/webhook_endpoints/we_x/deliveries"),
        ("GET", "/v1/suppressions"),
        ("DELETE", "/v1/suppressions/a@b.test"),
        ("GET", "/v1/emails/e1/delivery"),
    ):
        r = await http.request(
            method,
            path,
            json={"url": "https://x.test", "event_types": ["*"]},
            headers={"Authorization": "Bearer wrong"},
        )
        assert r.status_code == 401, (method, path)
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert "security" in paths["/v1/webhook_endpoints"]["post"]
    assert "security" not in paths["/v1/webhooks/sendgrid"]["post"]


# ---- signatures and emission ----------------------------------------------------------------


async def test_signed_invoice_events_arrive_even_with_every_email_turned_off(
    harness: Harness, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    h = harness
    uid = uuid.uuid4().hex[:6]
    h.save_settings(emails=ALL_EMAILS_OFF, reminders=[-1])
    endpoint = await register(http, receiver.url, "*")
    secret = endpoint["secret"]
    now = await h.now()
    inv_id, auto_id = f"in_wh_{uid}", f"in_wha_{uid}"
    obj = invoice(inv_id, "cus_wh", due=now + 3 * DAY)
    await h.send(
        event("customer.created", customer("cus_wh"), created=now), event("invoice.finalized", obj, created=now)
    )
    await delivered(h, f"{inv_id}:invoice.finalized")
    await h.advance(3 * DAY)  # the reminder slot fires (its email is turned off)
    await delivered(h, f"{inv_id}:invoice.reminder_due:due-{obj['due_date']}:-1")
    await h.send(
        event(
            "invoice.paid",
            dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0),
            created=now + 3 * DAY,
        )
    )
    await delivered(h, f"{inv_id}:invoice.paid")
    # charge_automatically: no email is ever owed, the events still are.
    auto = invoice(auto_id, "cus_wh", collection_method="charge_automatically")
    await h.send(event("invoice.payment_failed", dict(auto, attempt_count=1)))
    await delivered(h, f"{auto_id}:invoice.payment_failed:attempt-1")

    assert h.sent() == []  # every email off
    kinds = [r.payload["type"] for r in receiver.requests]
    assert kinds == ["invoice.finalized", "invoice.reminder_due", "invoice.paid", "invoice.payment_failed"]
    for r in receiver.requests:
        payload = r.verify(secret)
        assert set(payload) == {"type", "timestamp", "data"}
        assert r.headers["webhook-id"].startswith("msg_")
        assert abs(int(r.headers["webhook-timestamp"]) - time.time()) < 60
    finalized, reminder, paid, failed = (r.payload["data"] for r in receiver.requests)
    assert finalized["invoice_id"] == inv_id and finalized["customer_id"] == "cus_wh"
    assert finalized["status"] == "open" and finalized["collection_method"] == "send_invoice"
    assert reminder["days_from_due"] == -1 and reminder["manual"] is False
    assert paid["status"] == "paid"
    assert (failed["invoice_id"], failed["collection_method"], failed["attempt_count"]) == (
        auto_id,
        "charge_automatically",
        1,
    )
    assert all(d.status == "delivered" and d.attempts == 1 for d in deliveries(h, endpoint["id"]))

    # Tampered body, forged timestamp, wrong secret, stale (replayed later): all refused.
    first = receiver.requests[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(first.body.replace(b"open", b"paid"), first.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(first.body, {**first.headers, "webhook-timestamp": str(int(time.time()) - 30)})
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks_store.new_secret()).verify(first.body, first.headers)
    stale = int(time.time()) - 600
    body = first.body.decode()
    old_headers = {
        **first.headers,
        "webhook-timestamp": str(stale),
        "webhook-signature": signature_header([secret], first.headers["webhook-id"], stale, body),
    }
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(body, old_headers)

    # Rotation: for 24 h both secrets sign, so a receiver on either one verifies.
    new_secret = (await http.post(f"/v1/webhook_endpoints/{endpoint['id']}/rotate_secret")).json()["secret"]
    await h.send(event("invoice.payment_action_required", dict(auto, attempt_count=2)))
    await delivered(h, f"{auto_id}:invoice.payment_action_required:attempt-2")
    last = receiver.requests[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 2
    assert last.verify(secret)["type"] == last.verify(new_secret)["type"] == "invoice.payment_action_required"


async def test_uncollectible_then_voided_invoice_events_arrive(
    harness: Harness, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    h = harness
    uid = uuid.uuid4().hex[:6]
    endpoint = await register(http, receiver.url, "invoice.marked_uncollectible", "invoice.voided")
    now = await h.now()
    inv_id = f"in_whv_{uid}"
    obj = invoice(inv_id, "cus_whv", due=now + 10 * DAY)
    uncollectible = event(
        "invoice.marked_uncollectible", dict(obj, status="uncollectible"), created=now + timedelta(seconds=1)
    )
    voided = event("invoice.voided", dict(obj, status="void"), created=now + timedelta(seconds=2))
    await h.send(event("invoice.finalized", obj, created=now), uncollectible)
    await delivered(h, f"{inv_id}:invoice.marked_uncollectible")
    await h.send(voided)
    await delivered(h, f"{inv_id}:invoice.voided")

    # Only the subscribed types: the finalized invoice went nowhere.
    assert [r.payload["type"] for r in receiver.requests] == ["invoice.marked_uncollectible", "invoice.voided"]
    marked, void = (r.verify(endpoint["secret"])["data"] for r in receiver.requests)
    assert (marked["invoice_id"], marked["customer_id"], marked["status"], marked["source_event_id"]) == (
        inv_id,
        "cus_whv",
        "uncollectible",
        uncollectible["id"],
    )
    assert (void["invoice_id"], void["status"], void["source_event_id"]) == (inv_id, "void", voided["id"])
    assert marked["collection_method"] == "send_invoice" and marked["due_date"] is not None
    assert [d.status for d in deliveries(h, endpoint["id"])] == ["delivered", "delivered"]


async def test_email_sent_after_a_500_is_retried_and_received_once(
    harness: Harness, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    h = harness
    uid = uuid.uuid4().hex[:6]
    endpoint = await register(http, receiver.url, "email.sent")
    receiver.reply(500)
    now = await h.now()
    inv_id = f"in_whr_{uid}"
    await h.send(
        event("customer.created", customer("cus_whr"), created=now),
        event("invoice.finalized", invoice(inv_id, "cus_whr", due=now + 10 * DAY), created=now),
    )
    outcome = await delivered(h, f"{inv_id}:invoice_finalized:finalized:email.sent")
    assert [(d.status, d.status_code) for d in outcome.deliveries] == [("delivered", 200)]
    # Two attempts of the same message (same id and body), one of them accepted.
    assert len(receiver.requests) == 2
    assert len({(r.headers["webhook-id"], r.body) for r in receiver.requests}) == 1
    data = receiver.requests[1].verify(endpoint["secret"])["data"]
    [email] = h.sent()
    assert data["email_id"] == email.id and data["kind"] == "invoice_finalized" and data["status"] == "sent"
    assert data["invoice_id"] == inv_id and "html" not in json.dumps(data)
    [row] = deliveries(h, endpoint["id"])
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)
    # Only the subscribed type: invoice.finalized went nowhere (no workflow at all).
    assert not await started(h, f"webhook-{event_id_for(f'{inv_id}:invoice.finalized')}")


async def test_a_400_fails_at_once_without_retrying(
    harness: Harness, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    h = harness
    uid = uuid.uuid4().hex[:6]
    endpoint = await register(http, receiver.url, "invoice.finalized")
    receiver.reply(400)
    inv_id = f"in_whf_{uid}"
    await h.send(event("invoice.finalized", invoice(inv_id, "cus_whf", collection_method="charge_automatically")))
    outcome = await delivered(h, f"{inv_id}:invoice.finalized")
    assert [(d.status, d.status_code) for d in outcome.deliveries] == [("failed", 400)]
    assert len(receiver.requests) == 1
    [row] = deliveries(h, endpoint["id"])
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 1, 400)
    assert row.last_error.startswith("HTTP 400")
    r = await http.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries")
    assert [(d["status"], d["attempts"], d["event_type"]) for d in r.json()["data"]] == [
        ("failed", 1, "invoice.finalized")
    ]


async def test_no_endpoint_no_webhook_workflow(harness: Harness) -> None:
    h = harness
    inv_id = f"in_whn_{uuid.uuid4().hex[:6]}"
    await h.send(event("invoice.finalized", invoice(inv_id, "cus_whn", collection_method="charge_automatically")))
    assert not await started(h, f"webhook-{event_id_for(f'{inv_id}:invoice.finalized')}")
