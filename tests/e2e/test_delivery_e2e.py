"""Whole lifecycles through the other transports and PostgreSQL: an SMTP sink (aiosmtpd)
and a local SendGrid v3 server that validates every payload against SendGrid's spec."""

from __future__ import annotations

from datetime import timedelta

import pytest

from activities.transports.sendgrid import SendGridTransport
from activities.transports.smtp import SmtpTransport
from tests.conftest import running_harness
from tests.support.events import customer, event, invoice
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.smtp_sink import SmtpSink

DAY = timedelta(days=1)


def sendgrid_config(config):
    # SendGrid refuses reserved domains (.test, .localhost): use ordinary-looking ones.
    return config.model_copy(update={"default_from_email": "billing@relance-demo.fr"})


def paid(obj: dict) -> dict:
    return dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)


async def test_smtp_and_postgres_invoice_then_receipt(time_env, config, postgres_url) -> None:
    with SmtpSink() as sink:
        async with running_harness(time_env, config, postgres_url, SmtpTransport(sink.host, sink.port)) as h:
            now = await h.now()
            obj = invoice("in_smtp1", "cus_smtp", due=now + 20 * DAY)
            await h.send(
                event("customer.created", customer("cus_smtp", cc_emails=["cfo@customer.test"]), created=now),
                event("invoice.finalized", obj, created=now),
                event("invoice.paid", paid(obj), created=now + timedelta(hours=1)),
            )
            kinds = [(e.kind, e.status, e.provider) for e in h.log()]
            assert kinds == [("invoice_finalized", "sent", "smtp"), ("receipt", "sent", "smtp")]
    assert len(sink.messages) == 2
    receipt = sink.messages[1]
    assert set(receipt.rcpt_tos) == {"ada@customer.test", "cfo@customer.test"}
    names = sorted(p.get_filename() or "" for p in receipt.message.iter_attachments())
    assert names == [f"invoice-{obj['number']}.pdf", f"receipt-{obj['number']}.pdf"]


async def test_sendgrid_payloads_valid_and_message_id_logged(time_env, config, sqlite_url) -> None:
    config = sendgrid_config(config)
    with FakeSendGrid() as fake:
        transport = SendGridTransport(fake.api_key, base_url=fake.url)
        async with running_harness(time_env, config, sqlite_url, transport) as h:
            now = await h.now()
            obj = invoice("in_sg1", "cus_sg", email="ap@acme-client.fr")
            await h.send(
                event(
                    "customer.created",
                    customer("cus_sg", email="ap@acme-client.fr", cc_emails=["boss@acme-client.fr"]),
                    created=now,
                ),
                event("invoice.paid", paid(obj), created=now),
            )
            [entry] = h.sent()
    [payload] = fake.payloads
    assert payload["personalizations"][0]["to"] == [{"email": "ap@acme-client.fr"}]
    assert payload["personalizations"][0]["cc"] == [{"email": "boss@acme-client.fr"}]
    assert [a["filename"] for a in payload["attachments"]] == [
        f"invoice-{obj['number']}.pdf",
        f"receipt-{obj['number']}.pdf",
    ]
    assert entry.provider == "sendgrid" and entry.provider_message_id == fake.message_ids[0]


async def test_sendgrid_429_is_retried_after_its_delay_and_sent_once(time_env, config, sqlite_url) -> None:
    config = sendgrid_config(config)
    with FakeSendGrid() as fake:
        fake.queue(429, headers={"Retry-After": "1"})
        fake.queue(503)
        transport = SendGridTransport(fake.api_key, base_url=fake.url)
        async with running_harness(time_env, config, sqlite_url, transport) as h:
            now = await h.now()
            await h.send(
                event("customer.created", customer("cus_sg2", email="ap@acme-client.fr"), created=now),
                event("invoice.paid", paid(invoice("in_sg2", "cus_sg2", email=None)), created=now),
            )
            [entry] = h.log()
    assert entry.status == "sent" and entry.attempts == 2
    assert [r.status for r in fake.requests] == [429, 503, 202]
    assert len(fake.payloads) == 1


@pytest.mark.parametrize("status", [400, 413])  # 401, 403: tests/faults/test_sendgrid_faults.py (held)
async def test_sendgrid_permanent_errors_fail_once_and_are_logged(time_env, config, sqlite_url, status) -> None:
    config = sendgrid_config(config)
    with FakeSendGrid() as fake:
        fake.queue(status)
        transport = SendGridTransport(fake.api_key, base_url=fake.url)
        async with running_harness(time_env, config, sqlite_url, transport) as h:
            now = await h.now()
            await h.send(
                event("customer.created", customer(f"cus_pe{status}", email="ap@acme-client.fr"), created=now),
                event("invoice.paid", paid(invoice(f"in_pe{status}", f"cus_pe{status}")), created=now),
            )
            [entry] = h.log()
    assert entry.status == "failed" and str(status) in (entry.error or "")
    assert len(fake.requests) == 1
