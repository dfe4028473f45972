"""Resends and test sends through the API, on the real stack: the worker on the
time-skipping server, SQLite or PostgreSQL, the outbox transport. What reaches the
outbox is compared with what was sent the first time, byte for byte."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.transports.outbox import OutboxTransport
from relance.platform.config import Config
from relance.storage.database import session_scope
from relance.storage.suppressions import suppress
from relance.storage.tables import EmailLogEntry
from tests.api.test_api import Api, app_for, http_for, open_invoice
from tests.conftest import running_harness
from tests.support.events import customer, event
from tests.support.mail import body_text

RELANCE = str(Path(sys.executable).parent / "relance")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api_on(request, time_env: WorkflowEnvironment, config: Config) -> AsyncIterator[Api]:
    url = request.getfixturevalue(f"{request.param}_url")
    async with running_harness(time_env, config, url, OutboxTransport(config.resolved_outbox_dir())) as h:
        async with http_for(app_for(h)) as http:
            yield Api(h, http)


def by_message_id(a: Api) -> dict[str, EmailMessage]:
    return {m["Message-ID"]: m for m in a.h.outbox_messages()}


def parts(msg: EmailMessage) -> tuple[str, str, str, list[tuple[str, bytes]]]:
    return (
        msg["Subject"],
        body_text(msg, "html"),
        body_text(msg, "plain"),
        [(p.get_filename() or "", p.get_content()) for p in msg.iter_attachments()],
    )


async def paid_invoice(a: Api, inv_id: str, cus_id: str) -> dict:
    """An invoice email, then a receipt (two PDFs: the invoice and the receipt)."""
    obj = await open_invoice(a, inv_id, cus_id)
    paid = dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)
    assert (await a.post_events(event("invoice.paid", paid, created=await a.h.now()))).status_code == 202
    await a.h.settle()
    [receipt] = a.h.sent("receipt")
    return {"id": receipt.id}


async def test_resend_is_the_same_email_with_a_new_message_id_sent_once_per_key(api_on: Api) -> None:
    a, h = api_on, api_on.h
    original_id = (await paid_invoice(a, "in_rs1", "cus_rs1"))["id"]
    first = (await a.http.get(f"/v1/emails/{original_id}")).json()
    before = by_message_id(a)[first["headers"]["Message-ID"]]
    assert len(list(before.iter_attachments())) == 2

    for _ in range(2):  # a retried request: same key, one resend
        r = a.track(await a.http.post(f"/v1/emails/{original_id}/resend", headers={"Idempotency-Key": "rs-1"}))
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert (accepted["status"], accepted["request_id"], accepted["resend_of"]) == ("accepted", "rs-1", original_id)
        await h.settle()
    resend = (await a.http.get(f"/v1/emails/{accepted['id']}")).json()
    assert resend["status"] == "sent" and resend["resend_of"] == original_id and not resend["test"]
    new_id = resend["headers"]["Message-ID"]
    assert new_id != first["headers"]["Message-ID"]
    messages = by_message_id(a)
    assert len(messages) == 3  # invoice email, receipt, one resend
    after = messages[new_id]
    assert parts(after) == parts(before)  # subject, HTML, text and each PDF byte for byte
    assert after["To"] == before["To"] == "ada@customer.test" and after["From"] == before["From"]
    assert resend["headers"]["To"] == "ada@customer.test"

    # Listed as a resend of the original, newest first.
    log = (await a.http.get("/v1/emails", params={"customer": "cus_rs1"})).json()["data"]
    assert [(e["id"], e["resend_of"]) for e in log[:2]] == [(accepted["id"], original_id), (original_id, None)]

    # Corrected recipients, validated like any address.
    r = await a.http.post(f"/v1/emails/{original_id}/resend", json={"to": ["not an address"]})
    assert (r.status_code, r.json()["error"]["type"], r.json()["error"]["field"]) == (400, "invalid_address", "to")
    r = await a.http.post(f"/v1/emails/{original_id}/resend", json={"to": []})
    assert (r.status_code, r.json()["error"]["field"]) == (400, "to")
    r = await a.http.post(f"/v1/emails/{original_id}/resend", json={"bcc": ["x@customer.test"]})
    assert (r.status_code, r.json()["error"]["field"]) == (400, "bcc")
    r = a.track(
        await a.http.post(
            f"/v1/emails/{original_id}/resend",
            json={"to": ["Fixed@Customer.test"], "cc": ["boss@customer.test"]},
            headers={"Idempotency-Key": "rs-2"},
        )
    )
    assert r.status_code == 202, r.text
    await h.settle()
    corrected = (await a.http.get(f"/v1/emails/{r.json()['id']}")).json()
    msg = by_message_id(a)[corrected["headers"]["Message-ID"]]
    assert (msg["To"], msg["Cc"]) == ("Fixed@customer.test", "boss@customer.test")
    assert parts(msg) == parts(before)

    # A suppressed address is not emailed by a resend either.
    with session_scope(h.engine) as session:
        suppress(session, "ada@customer.test", "bounce")
    r = a.track(await a.http.post(f"/v1/emails/{original_id}/resend", headers={"Idempotency-Key": "rs-3"}))
    await h.settle()
    skipped = (await a.http.get("/v1/emails", params={"status": "suppressed"})).json()["data"]
    assert [e["id"] for e in skipped] == [r.json()["id"]] and skipped[0]["resend_of"] == original_id
    assert len(by_message_id(a)) == 4


async def test_resend_refuses_an_email_skipped_because_its_kind_was_off(api_on: Api) -> None:
    a, h = api_on, api_on.h
    h.save_settings(emails={"invoice_finalized": False})
    await open_invoice(a, "in_rs2", "cus_rs2")
    [skipped] = [e for e in h.log() if e.invoice_id == "in_rs2"]
    assert (skipped.status, skipped.error) == ("skipped", "turned off in settings")
    r = await a.http.post(f"/v1/emails/{skipped.id}/resend")
    assert r.status_code == 409
    assert r.json()["error"]["type"] == "kind_turned_off" and "turned off" in r.json()["error"]["message"]
    r = await a.http.post("/v1/emails/nope/resend")
    assert (r.status_code, r.json()["error"]["type"]) == (404, "not_found")
    # Never rendered for another reason (no address): nothing to resend either.
    with session_scope(h.engine) as session:
        session.add(
            EmailLogEntry(
                id="f" * 32, idempotency_key="k-failed", kind="receipt", customer_id="c", status="failed",
                scheduled_at=skipped.scheduled_at, error="the customer has no email address",
            )
        )  # fmt: skip
    r = await a.http.post(f"/v1/emails/{'f' * 32}/resend")
    assert (r.status_code, r.json()["error"]["type"]) == (409, "not_resendable")
    # Still being delivered (here: held): its own workflow sends it, a resend would be a second copy.
    with session_scope(h.engine) as session:
        session.add(
            EmailLogEntry(
                id="e" * 32, idempotency_key="k-held", kind="receipt", customer_id="c", status="pending",
                scheduled_at=skipped.scheduled_at, error="held since 2026-12-07: sendgrid refused the credentials",
            )
        )  # fmt: skip
    r = await a.http.post(f"/v1/emails/{'e' * 32}/resend")
    assert (r.status_code, r.json()["error"]["type"]) == (409, "not_final") and "held" in r.json()["error"]["message"]
    assert not h.outbox_messages()


async def test_test_send_renders_sample_data_with_the_branding_marked_as_a_test(api_on: Api) -> None:
    a, h = api_on, api_on.h
    h.save_settings(branding={"business_name": "Acme Billing SARL"})
    body = {"kind": "receipt", "to": "me@example.com", "locale": "fr"}
    for _ in range(2):
        r = a.track(await a.http.post("/v1/test-emails", json=body, headers={"Idempotency-Key": "t-1"}))
        assert r.status_code == 202, r.text
        await h.settle()
    [msg] = h.outbox_messages()
    assert msg["To"] == "me@example.com" and msg["Subject"].startswith("[TEST] ")
    text = body_text(msg, "plain")
    assert "Acme Billing SARL" in text and "INV-2026-0042" in text  # the branding, the sample invoice
    assert "Reçu" in msg["Subject"] or "reçu" in text.lower()  # French
    [row] = (await a.http.get("/v1/emails")).json()["data"]
    assert row["id"] == r.json()["id"] and row["test"] is True and row["status"] == "sent"
    assert row["kind"] == "receipt" and row["customer"] == "cus_sample" and row["subject"] == msg["Subject"]

    for bad, field in (({"kind": "postcard"}, "kind"), ({"to": "nope"}, "to"), ({"locale": "xx"}, "locale")):
        r = await a.http.post("/v1/test-emails", json={**body, **bad})
        assert (r.status_code, r.json()["error"]["field"]) == (400, field), bad


async def test_cli_resend_sends_again_and_refuses_a_kind_that_was_off(harness, tmp_path) -> None:
    """`relance resend ID` as an operator runs it, against this test's server and database."""
    async with http_for(app_for(harness)) as http:
        a, h = Api(harness, http), harness
        original_id = (await paid_invoice(a, "in_rs4", "cus_rs4"))["id"]
        env = {
            **os.environ,
            "RELANCE_DATABASE_URL": h.engine.url.render_as_string(hide_password=False),
            "RELANCE_TEMPORAL_ADDRESS": h.temporal.service_client.config.target_host,
            "RELANCE_TASK_QUEUE": h.config.task_queue,
        }

        async def relance(*args: str) -> tuple[int, str, str]:
            proc = await asyncio.create_subprocess_exec(
                RELANCE, *args, env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode or 0, out.decode(), err.decode()

        code, out, err = await relance("resend", original_id, "--to", "cli@customer.test", "--request-id", "cli-1")
        assert code == 0, err
        new_id = out.split("email ", 1)[1].split()[0]
        h.workflow_ids.add(f"email-{new_id}")
        await h.settle()
        resent = (await http.get(f"/v1/emails/{new_id}")).json()
        assert (resent["status"], resent["resend_of"], resent["headers"]["To"]) == (
            "sent",
            original_id,
            "cli@customer.test",
        )
        code, out, err = await relance("log", "--customer", "cus_rs4")
        assert code == 0 and new_id in out

        h.save_settings(emails={"invoice_finalized": False})
        await open_invoice(a, "in_rs5", "cus_rs5")
        [skipped] = [e for e in h.log() if e.invoice_id == "in_rs5"]
        code, _, err = await relance("resend", skipped.id)
        assert code == 2 and "turned off" in err and "not resent" in err


async def test_resend_carries_the_einvoice_xml_sent_beside_the_pdf(api_on: Api) -> None:
    from tests.support import documents

    a, h = api_on, api_on.h
    h.save_settings(seller=documents.SELLER_FR, einvoice={"profile": "en16931", "attach_xml": True})
    now = await h.now()
    obj = documents.two_rate_invoice("in_rs_fx")
    r = await a.post_events(
        [event("customer.created", customer(obj["customer"])), event("invoice.finalized", obj, created=now)]
    )
    assert r.status_code == 202, r.text
    await h.settle()
    [sent] = h.sent("invoice_finalized")
    first = (await a.http.get(f"/v1/emails/{sent.id}")).json()
    assert [f["filename"] for f in first["attachments"]][1:] == ["factur-x.xml"]
    xml = await a.http.get(first["attachments"][1]["url"])
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("text/xml")
    r = a.track(await a.http.post(f"/v1/emails/{sent.id}/resend", headers={"Idempotency-Key": "rs-fx"}))
    assert r.status_code == 202, r.text
    await h.settle()
    resend = (await a.http.get(f"/v1/emails/{r.json()['id']}")).json()
    assert resend["status"] == "sent"
    assert [(f["filename"], f["size"]) for f in resend["attachments"]] == [
        (f["filename"], f["size"]) for f in first["attachments"]
    ]
    messages = by_message_id(a)
    assert parts(messages[resend["headers"]["Message-ID"]])[3] == parts(messages[first["headers"]["Message-ID"]])[3]
