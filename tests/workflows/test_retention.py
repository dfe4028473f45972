"""The 30-day email log: a daily Temporal Schedule (real dev server) starts a purge
workflow (time-skipping server, real SQLite) that removes old entries, their stored
bodies and the PDFs nothing else refers to."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from relance.contracts import search_attributes as sa
from relance.contracts.models import RetentionInput
from relance.platform.binaries import dev_server_path
from relance.platform.temporal_client import converter_for
from relance.storage import email_log
from relance.storage.database import session_scope
from relance.storage.documents import has_document, put_document
from relance.storage.tables import utcnow
from tests.support.harness import Harness
from worker.main import RETENTION_SCHEDULE_ID, ensure_retention_schedule
from workflows.retention import RetentionWorkflow


@pytest.mark.devserver
async def test_schedule_created_once_on_a_real_server(config) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        ui=False,
        search_attributes=[k for k in sa.ALL],
        data_converter=converter_for(config),  # the schedule's input is encoded as the worker would
    )
    try:
        assert await ensure_retention_schedule(env.client, config)
        assert await ensure_retention_schedule(env.client, config)  # a second worker starting
        desc = await env.client.get_schedule_handle(RETENTION_SCHEDULE_ID).describe()
        assert desc.schedule.spec.intervals[0].every == timedelta(days=1)
        assert isinstance(desc.schedule.action, ScheduleActionStartWorkflow)
        assert desc.schedule.action.workflow == "RetentionWorkflow"
    finally:
        await env.shutdown()


def _entry(session, now, created_days_ago: int, ref: str | None = None) -> str:
    entry = email_log.new_entry(
        session,
        key=f"k-{uuid.uuid4().hex}",
        kind="receipt",
        customer_id="cus_ret",
        invoice_id="in_ret",
        scheduled_at=utcnow(),
        status=email_log.SENT,
        attachments=[{"filename": "x.pdf", "ref": ref}] if ref else [],
    )
    entry.created_at = now - timedelta(days=created_days_ago)
    entry.message_ref = put_document(session, f"msg:{entry.id}", b"{}", "application/json")
    return entry.id


async def test_purge_removes_old_entries_bodies_and_orphan_pdfs(harness: Harness) -> None:
    h = harness
    now = await h.now()  # the test server's clock, which the purge workflow uses
    with session_scope(h.engine) as s:
        old_ids = [_entry(s, now, 40) for _ in range(7)]
        put_document(s, "pdf:invoice:in_old", b"%PDF old", "application/pdf")
        put_document(s, "pdf:invoice:in_kept", b"%PDF kept", "application/pdf")
        keep_id = _entry(s, now, 2, ref="pdf:invoice:in_kept")
    for key in ("pdf:invoice:in_old", "pdf:invoice:in_kept"):
        with session_scope(h.engine) as s:
            from relance.storage.tables import StoredDocument

            stored = s.get(StoredDocument, key)
            assert stored is not None
            stored.created_at = now - timedelta(days=45)
    purged = await h.temporal.execute_workflow(
        RetentionWorkflow.run,
        RetentionInput(days=30, batch_size=3),
        id=f"retention-{uuid.uuid4().hex[:6]}",
        task_queue=h.config.task_queue,
    )
    assert purged == 7
    with session_scope(h.engine) as s:
        remaining = [e.id for e in email_log.all_entries(s)]
        assert remaining == [keep_id]
        assert not any(has_document(s, f"msg:{i}") for i in old_ids)
        assert has_document(s, f"msg:{keep_id}")
        assert not has_document(s, "pdf:invoice:in_old")
        assert has_document(s, "pdf:invoice:in_kept")


async def test_purge_takes_provider_reports_webhook_deliveries_and_provider_events_along(harness: Harness) -> None:
    """What names a customer's address or invoice goes with the log; a webhook delivery
    still being retried and the suppression list stay."""
    from relance.storage.tables import (
        EmailDeliveryRecord,
        ProviderEventRecord,
        SuppressionRecord,
        WebhookDeliveryRecord,
    )

    h = harness
    now = await h.now()
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    with session_scope(h.engine) as s:
        old_email = _entry(s, now, 40)
        kept_email = _entry(s, now, 1)
        for email_id in (old_email, kept_email):
            s.add(EmailDeliveryRecord(email_id=email_id, delivery_status="delivered", delivery_status_at=now))
        s.add_all(
            [
                WebhookDeliveryRecord(
                    endpoint_id="we_1",
                    event_id="evt_old_done",
                    event_type="email.sent",
                    status="delivered",
                    created_at=old,
                ),
                WebhookDeliveryRecord(
                    endpoint_id="we_1",
                    event_id="evt_old_retrying",
                    event_type="email.sent",
                    status="pending",
                    created_at=old,
                ),
                WebhookDeliveryRecord(
                    endpoint_id="we_1",
                    event_id="evt_recent",
                    event_type="email.sent",
                    status="failed",
                    created_at=recent,
                ),
                *[
                    ProviderEventRecord(provider="sendgrid", event_id=f"sg_old_{i}", event="delivered", received_at=old)
                    for i in range(5)
                ],
                ProviderEventRecord(provider="sendgrid", event_id="sg_recent", event="delivered", received_at=recent),
                SuppressionRecord(address="bounced@example.com", reason="bounce", created_at=old),
            ]
        )
    await h.temporal.execute_workflow(
        RetentionWorkflow.run,
        RetentionInput(days=30, batch_size=2),
        id=f"retention-{uuid.uuid4().hex[:6]}",
        task_queue=h.config.task_queue,
    )
    with session_scope(h.engine) as s:
        from sqlmodel import select

        assert [r.email_id for r in s.exec(select(EmailDeliveryRecord))] == [kept_email]
        assert sorted(r.event_id for r in s.exec(select(WebhookDeliveryRecord))) == ["evt_old_retrying", "evt_recent"]
        assert [r.event_id for r in s.exec(select(ProviderEventRecord))] == ["sg_recent"]
        assert s.get(SuppressionRecord, "bounced@example.com") is not None
