"""SendGrid's Event Webhook in: a real ECDSA P-256 key pair made here (SendGrid signs
timestamp + body with ECDSA SHA-256; we hold its public key, base64 DER), emails sent
through the SendGrid transport to the local v3 fake, and the events it would report."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr
from sqlmodel import select

from activities.transports.sendgrid import SendGridTransport
from relance.api import create_app
from relance.storage.database import session_scope
from relance.storage.tables import EmailDeliveryRecord, ProviderEventRecord, SuppressionRecord
from tests.conftest import running_harness
from tests.support.events import customer, event, invoice
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.harness import Harness
from tests.workflows.test_webhooks_out import Receiver, delivered, register

KEY = "rk_test_" + "s" * 32
TO, CC = "ap@acme-client.fr", "boss@acme-client.fr"
SIG, TS = "X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"


def public_der(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def sign(key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIG: base64.b64encode(signature).decode(), TS: timestamp, "Content-Type": "application/json"}


@dataclass
class Stack:
    h: Harness
    http: httpx.AsyncClient
    key: ec.EllipticCurvePrivateKey
    fake: FakeSendGrid

    async def post(
        self, events: list[dict[str, Any]], *, key: ec.EllipticCurvePrivateKey | None = None, tamper: bool = False
    ) -> httpx.Response:
        body = json.dumps(events).encode()
        headers = sign(key or self.key, body)
        if tamper:
            body = body.replace(b"delivered", b"bounce")
        return await self.http.post("/v1/webhooks/sendgrid", content=body, headers=headers)


@pytest.fixture
async def stack(time_env, config, sqlite_url) -> AsyncIterator[Stack]:
    key = ec.generate_private_key(ec.SECP256R1())
    # SendGrid refuses reserved domains (.test): ordinary-looking ones.
    config = config.model_copy(update={"default_from_email": "billing@relance-demo.fr"})
    with FakeSendGrid() as fake:
        transport = SendGridTransport(fake.api_key, base_url=fake.url)
        async with running_harness(time_env, config, sqlite_url, transport) as h:
            app = create_app(
                config.model_copy(update={"api_key": SecretStr(KEY), "sendgrid_webhook_public_key": public_der(key)}),
                h.engine,
                h.client,
            )
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://relance.test",
                headers={"Authorization": f"Bearer {KEY}"},
            ) as http:
                yield Stack(h, http, key, fake)


def sg_event(name: str, message_id: str, email: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": email,
        "timestamp": int(time.time()),
        "event": name,
        "sg_event_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
        "sg_message_id": f"{message_id}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC1BC-9.0",
        **extra,
    }


def table(h: Harness, model) -> list:
    with session_scope(h.engine) as session:
        return list(session.exec(select(model)))


async def first_email(s: Stack, inv_id: str) -> Any:
    now = await s.h.now()
    await s.h.send(
        event("customer.created", customer("cus_sge", email=TO, cc_emails=[CC]), created=now),
        event("invoice.finalized", invoice(inv_id, "cus_sge", email=TO), created=now),
    )
    [entry] = s.h.sent()
    assert entry.provider_message_id == s.fake.message_ids[0]
    return entry


async def test_signature_valid_tampered_wrong_key_or_missing(stack: Stack) -> None:
    s = stack
    entry = await first_email(s, f"in_sgv_{uuid.uuid4().hex[:6]}")
    events = [sg_event("delivered", entry.provider_message_id, TO)]
    refused = [
        await s.post(events, tamper=True),
        await s.post(events, key=ec.generate_private_key(ec.SECP256R1())),
        await s.http.post("/v1/webhooks/sendgrid", json=events),  # unsigned
        await s.http.post(
            "/v1/webhooks/sendgrid",
            content=json.dumps(events).encode(),
            headers={**sign(s.key, json.dumps(events).encode()), SIG: "bm90IGEgc2lnbmF0dXJl"},
        ),
    ]
    for r in refused:
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_signature", r.text
    assert table(s.h, ProviderEventRecord) == [] and table(s.h, EmailDeliveryRecord) == []

    # No key configured: refused too (the endpoint is public, its configuration is not).
    app = create_app(s.h.config, s.h.engine, s.h.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relance.test") as bare:
        body = json.dumps(events).encode()
        assert (await bare.post("/v1/webhooks/sendgrid", content=body, headers=sign(s.key, body))).status_code == 400

    # PEM works as well as base64 DER; signed garbage is a 400 of another kind.
    pem = (
        s.key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    app = create_app(s.h.config.model_copy(update={"sendgrid_webhook_public_key": pem}), s.h.engine, s.h.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relance.test") as pem_http:
        r = await pem_http.post("/v1/webhooks/sendgrid", content=b"{nope", headers=sign(s.key, b"{nope"))
        assert (r.status_code, r.json()["error"]["type"]) == (400, "invalid_json")
        body = json.dumps(events).encode()
        r = await pem_http.post("/v1/webhooks/sendgrid", content=body, headers=sign(s.key, body))
    assert r.status_code == 200 and r.json() == {"received": 1, "applied": 1, "duplicates": 0, "ignored": 0}
    [status] = table(s.h, EmailDeliveryRecord)
    assert (status.email_id, status.delivery_status) == (entry.id, "delivered")


def counted() -> dict[tuple[str, str], float]:
    """Delivery reports (API process) and suppressed reminders (worker) counted so far."""
    from prometheus_client import REGISTRY

    samples = {
        ("report", status): REGISTRY.get_sample_value(
            "relance_delivery_reports_total", {"provider": "sendgrid", "status": status}
        )
        for status in ("processed", "delivered", "bounce", "blocked", "spamreport")
    }
    samples["suppressed", "invoice_reminder"] = REGISTRY.get_sample_value(
        "relance_emails_suppressed_total", {"kind": "invoice_reminder", "reason": "suppressed_address"}
    )
    return {k: v or 0.0 for k, v in samples.items()}


async def test_delivery_status_dedup_bounce_suppression_and_webhooks_out(stack: Stack) -> None:
    s, h = stack, stack.h
    before = counted()
    inv_id = f"in_sgb_{uuid.uuid4().hex[:6]}"
    with Receiver() as receiver:
        endpoint = await register(s.http, receiver.url, "email.delivered", "email.bounced", "recipient.suppressed")
        entry = await first_email(s, inv_id)
        msg = entry.provider_message_id

        # Delivered, reported twice (SendGrid duplicates posts): applied once.
        batch = [sg_event("processed", msg, TO), sg_event("delivered", msg, TO), sg_event("open", msg, TO)]
        r = await s.post(batch)
        assert r.json() == {"received": 3, "applied": 2, "duplicates": 0, "ignored": 1}
        r = await s.post(batch)
        assert r.json() == {"received": 3, "applied": 0, "duplicates": 2, "ignored": 1}
        # A late `processed` does not undo `delivered`.
        assert (await s.post([sg_event("processed", msg, TO, timestamp=int(time.time()) + 5)])).json()["applied"] == 1
        view = (await s.http.get(f"/v1/emails/{entry.id}/delivery")).json()
        assert (view["status"], view["delivery_status"]) == ("sent", "delivered")
        assert [e["event"] for e in view["events"]].count("delivered") == 1
        # The customer's log shows it too, beside Relance's own status.
        listed = (await s.http.get(f"/v1/customers/{entry.customer_id}/emails")).json()["data"]
        assert [(e["id"], e["status"], e["delivery_status"]) for e in listed] == [(entry.id, "sent", "delivered")]
        assert h.sent()[0].status == "sent"
        delivered_out = await delivered(h, f"sendgrid:{batch[1]['sg_event_id']}:email.delivered")
        assert [d.status for d in delivered_out.deliveries] == ["delivered"]

        # Hard bounce of To, spam report from CC, a "blocked" bounce elsewhere (not suppressed).
        bounce = sg_event("bounce", msg, TO.upper(), type="bounce", reason="550 5.1.1 no such user")
        spam = sg_event("spamreport", msg, CC)
        blocked = sg_event("bounce", msg, "other@acme-client.fr", type="blocked", reason="IP blocklisted")
        r = await s.post([bounce, spam, blocked])
        assert r.json()["applied"] == 3
        suppressed = {x.address: x.reason for x in table(h, SuppressionRecord)}
        assert suppressed == {TO: "bounce", CC: "spamreport"}
        for key in (
            f"sendgrid:{bounce['sg_event_id']}:email.bounced",
            f"sendgrid:{bounce['sg_event_id']}:recipient.suppressed",
            f"sendgrid:{spam['sg_event_id']}:recipient.suppressed",
            f"sendgrid:{blocked['sg_event_id']}:email.bounced",
        ):
            await delivered(h, key)
        # Each in its own workflow, concurrently: compared without order.
        payloads = [r.verify(endpoint["secret"]) for r in receiver.requests]
        assert len(payloads) == 5
        [was_delivered] = [p["data"] for p in payloads if p["type"] == "email.delivered"]
        assert (was_delivered["email_id"], was_delivered["recipient"], was_delivered["invoice_id"]) == (
            entry.id,
            TO,
            inv_id,
        )
        bounced = {p["data"]["recipient"]: p["data"]["bounce_type"] for p in payloads if p["type"] == "email.bounced"}
        assert bounced == {TO.upper(): "bounce", "other@acme-client.fr": "blocked"}
        newly = {p["data"]["address"]: p["data"]["reason"] for p in payloads if p["type"] == "recipient.suppressed"}
        assert newly == {TO: "bounce", CC: "spamreport"}

        # The next email to them is skipped, and the log says why; nothing reaches SendGrid.
        await h.remind(inv_id, "cus_sge", "after-bounce")
        skipped = h.log()[-1]
        assert (skipped.kind, skipped.status) == ("invoice_reminder", "skipped")
        assert skipped.error == f"suppressed: {TO} (bounce), {CC} (spamreport)"
        assert len(s.fake.payloads) == 1
        # Counted once each, the duplicated post included.
        after = counted()
        assert {k: after[k] - before[k] for k in after} == {
            ("report", "processed"): 2,
            ("report", "delivered"): 1,
            ("report", "bounce"): 1,
            ("report", "blocked"): 1,
            ("report", "spamreport"): 1,
            ("suppressed", "invoice_reminder"): 1,
        }

        # Lifted for To: it is emailed again, CC still left out (noted in the log).
        assert (await s.http.delete(f"/v1/suppressions/{TO}")).json()["reason"] == "bounce"
        await h.remind(inv_id, "cus_sge", "after-lift")
        again = h.log()[-1]
        assert (again.status, again.to, again.cc, again.note) == ("sent", [TO], [], f"suppressed: {CC} (spamreport)")
        assert [x["address"] for x in (await s.http.get("/v1/suppressions")).json()["data"]] == [CC]
