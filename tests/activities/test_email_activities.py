"""The email activities on their own (Temporal's ActivityEnvironment, real SQLite, real SMTP
sink): an email is never sent twice, whatever is retried."""

from __future__ import annotations

import inspect
import os
from datetime import UTC, datetime

import pytest
from temporalio.testing import ActivityEnvironment

from activities.emails import EmailActivities
from activities.transports.outbox import OutboxTransport
from activities.transports.smtp import SmtpTransport
from relance.contracts.events import CustomerEvent
from relance.contracts.kinds import EmailKind
from relance.contracts.models import DeliveryRequest, EmailRequest
from relance.platform.config import Config
from relance.rules.outgoing import email_key_digest
from relance.storage import email_log
from relance.storage.customers import record_customer_event
from relance.storage.database import get_engine, session_scope
from relance.storage.invoices import record_invoice_event
from tests.support.events import customer, event, invoice, invoice_signal, parse_one
from tests.support.smtp_sink import SmtpSink

NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)


async def run(env: ActivityEnvironment, fn, arg):
    """Sync activities return their result, async ones a coroutine."""
    result = env.run(fn, arg)
    return await result if inspect.isawaitable(result) else result


@pytest.fixture
def stored_invoice(sqlite_url):
    engine = get_engine(sqlite_url)
    cus = parse_one(event("customer.created", customer("cus_test"), created=NOW), CustomerEvent)
    with session_scope(engine) as s:
        record_customer_event(s, cus.id, cus.type, cus.created, cus.customer)
        state = record_invoice_event(
            s, invoice_signal(event("invoice.paid", invoice("in_act1", status="paid"), created=NOW))
        )
    return engine, state


def _receipt_request(state, suffix: str) -> EmailRequest:
    return EmailRequest(
        kind=EmailKind.receipt,
        idempotency_key=f"in_act1:receipt:{suffix}",
        customer_id="cus_test",
        invoice_id="in_act1",
        invoice_revision=state.revision,
        scheduled_at=NOW,
    )


async def test_prepare_and_deliver_retried_send_once(stored_invoice) -> None:
    engine, state = stored_invoice
    env = ActivityEnvironment()
    beats: list[tuple] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    req = _receipt_request(state, "paid")
    with SmtpSink() as sink:
        acts = EmailActivities(engine, Config(_env_file=None), SmtpTransport(sink.host, sink.port))
        first = await run(env, acts.prepare_email, req)
        again = await run(env, acts.prepare_email, req)  # a retry after a crash before delivery
        assert first.status == again.status == "ready"
        assert first.documents == again.documents
        attachments = [await run(env, acts.render_document, d) for d in first.documents]
        delivery = DeliveryRequest(idempotency_key=req.idempotency_key, attachments=attachments)
        sent = await run(env, acts.deliver_email, delivery)
        replayed = await run(env, acts.deliver_email, delivery)  # retried after the provider accepted
        assert sent.status == replayed.status == "sent"
        assert (await run(env, acts.prepare_email, req)).status == "done"
        assert len(sink.messages) == 1
    with session_scope(engine) as s:
        [entry] = email_log.all_entries(s)
    assert entry.status == "sent" and entry.provider == "smtp"
    assert entry.provider_message_id and entry.sent_at is not None
    # Nobody subscribes to email.sent: the workflow learns it from the result, with no lookup.
    assert sent.webhook_endpoints == replayed.webhook_endpoints == []
    # Done in milliseconds, so no heartbeat: each would be a write on the Temporal server,
    # and the heartbeat timeout counts from the start anyway.
    assert beats == []


async def test_outbox_file_is_named_by_time_kind_invoice_and_key(stored_invoice, tmp_path) -> None:
    engine, state = stored_invoice
    env = ActivityEnvironment()
    req = _receipt_request(state, "paid")
    acts = EmailActivities(engine, Config(_env_file=None), OutboxTransport(tmp_path / "outbox"))
    prepared = await run(env, acts.prepare_email, req)
    attachments = [await run(env, acts.render_document, d) for d in prepared.documents]
    await run(env, acts.deliver_email, DeliveryRequest(idempotency_key=req.idempotency_key, attachments=attachments))
    key = email_key_digest(req.idempotency_key)
    assert os.listdir(tmp_path / "outbox") == [f"2026-03-01T090000Z_receipt_in_act1_{key}.eml"]


async def test_delivery_result_names_the_email_sent_subscribers(stored_invoice) -> None:
    from relance.storage import webhooks_store

    engine, state = stored_invoice
    with session_scope(engine) as s:
        sent_hook = webhooks_store.create_endpoint(s, url="https://hooks.example.test/sent", event_types=["email.sent"])
        webhooks_store.create_endpoint(s, url="https://hooks.example.test/failed", event_types=["email.failed"])
        everything = webhooks_store.create_endpoint(s, url="https://hooks.example.test/all", event_types=["*"])
    env = ActivityEnvironment()
    req = _receipt_request(state, "subs")
    with SmtpSink() as sink:
        acts = EmailActivities(engine, Config(_env_file=None), SmtpTransport(sink.host, sink.port))
        prepared = await run(env, acts.prepare_email, req)
        attachments = [await run(env, acts.render_document, d) for d in prepared.documents]
        result = await run(
            env, acts.deliver_email, DeliveryRequest(idempotency_key=req.idempotency_key, attachments=attachments)
        )
    assert result.status == "sent"
    assert sorted(result.webhook_endpoints) == sorted([sent_hook.id, everything.id])


async def test_pdf_rendered_once_per_revision(stored_invoice) -> None:
    engine, state = stored_invoice
    env = ActivityEnvironment()
    with SmtpSink() as sink:
        acts = EmailActivities(engine, Config(_env_file=None), SmtpTransport(sink.host, sink.port))
        reqs = [
            EmailRequest(
                kind=EmailKind.receipt,
                idempotency_key=f"in_act1:receipt:{i}",
                customer_id="cus_test",
                invoice_id="in_act1",
                invoice_revision=state.revision,
                scheduled_at=NOW,
            )
            for i in (1, 2)
        ]
        docs = [(await run(env, acts.prepare_email, r)).documents for r in reqs]
        refs = [[(await run(env, acts.render_document, d)).ref for d in ds] for ds in docs]
    assert refs[0] == refs[1]
    with session_scope(engine) as s:
        from sqlmodel import select

        from relance.storage.tables import StoredDocument

        pdfs = s.exec(select(StoredDocument).where(StoredDocument.media_type == "application/pdf")).all()
    assert len(pdfs) == 2  # invoice + receipt, not four


async def test_smtp_refusal_is_final_and_logged(stored_invoice) -> None:
    engine, state = stored_invoice
    env = ActivityEnvironment()
    req = EmailRequest(
        kind=EmailKind.receipt,
        idempotency_key="in_act1:receipt:x",
        customer_id="cus_test",
        invoice_id="in_act1",
        invoice_revision=state.revision,
        scheduled_at=NOW,
    )
    with SmtpSink() as sink:
        sink.refuse_recipient("ada@customer.test")
        acts = EmailActivities(engine, Config(_env_file=None), SmtpTransport(sink.host, sink.port))
        await run(env, acts.prepare_email, req)
        result = await run(env, acts.deliver_email, DeliveryRequest(idempotency_key=req.idempotency_key))
    assert result.status == "failed" and "550" in (result.error or "")
    with session_scope(engine) as s:
        entry = email_log.get_entry(s, req.idempotency_key)
        assert entry is not None and entry.status == "failed"


def test_secrets_never_in_reprs() -> None:
    config = Config(sendgrid_api_key="SG.super-secret", smtp_password="hunter2", _env_file=None)
    text = repr(config) + str(config) + config.model_dump_json()
    assert "SG.super-secret" not in text and "hunter2" not in text


@pytest.mark.parametrize(
    ("error_type", "note", "reason"),
    [
        ("TransportHeld", "SendGrid 401 (attempt 4)", "held"),  # the type decides, whatever the note says
        ("RetryableDeliveryError", "held since yesterday", "provider_unavailable"),  # a stale note does not
        (None, "held since yesterday", "held"),  # a run from before error_type: the note
    ],
)
async def test_a_failure_after_retries_is_counted_by_the_last_errors_type(sqlite_url, error_type, note, reason) -> None:
    from prometheus_client import REGISTRY

    from relance.contracts.models import FailureRecord

    engine = get_engine(sqlite_url)
    key = f"in_fail:receipt:{reason}:{error_type}"
    with session_scope(engine) as s:
        email_log.new_entry(
            s,
            key=key,
            kind="receipt",
            customer_id="cus_test",
            invoice_id="in_fail",
            scheduled_at=NOW,
            status=email_log.PENDING,
            error=note,
            attempts=4,
        )

    def count() -> float:
        return REGISTRY.get_sample_value("relance_emails_failed_total", {"kind": "receipt", "reason": reason}) or 0.0

    before = count()
    req = EmailRequest(
        kind=EmailKind.receipt, idempotency_key=key, customer_id="cus_test", invoice_id="in_fail", scheduled_at=NOW
    )
    acts = EmailActivities(engine, Config(_env_file=None), SmtpTransport("127.0.0.1", 9))
    await run(
        ActivityEnvironment(),
        acts.record_delivery_failure,
        FailureRecord(request=req, error="the window closed", error_type=error_type),
    )
    assert count() == before + 1
    with session_scope(engine) as s:
        entry = email_log.get_entry(s, key)
        assert entry is not None and entry.status == email_log.FAILED
