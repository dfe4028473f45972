"""Purging the email log: entries older than the retention period, with their stored
message, what the provider reported about them, the PDFs no remaining entry refers to,
and the webhook deliveries and provider events of the same age (they name customers'
addresses and invoices too, so they must not outlive the log). Suppressions are kept:
they are state (an address that bounced), not history."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio import activity

from relance.contracts.models import PurgeRequest
from relance.storage.database import session_scope
from relance.storage.documents import outcome_key, xml_key
from relance.storage.tables import (
    EmailDeliveryRecord,
    EmailLogEntry,
    ProviderEventRecord,
    StoredDocument,
    WebhookDeliveryRecord,
)

MAX_HISTORY_BATCHES = 20


class RetentionActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def purge_email_log(self, req: PurgeRequest) -> int:
        """One batch; returns how many log entries went (0: done). Small batches keep each
        transaction short on a busy database."""
        with session_scope(self.engine) as session:
            old = session.exec(
                select(EmailLogEntry.id, EmailLogEntry.message_ref)
                .where(col(EmailLogEntry.created_at) < req.cutoff)
                .limit(req.batch_size)
            ).all()
            if old:
                ids = [row[0] for row in old]
                refs = [row[1] for row in old if row[1]]
                session.exec(delete(EmailLogEntry).where(col(EmailLogEntry.id).in_(ids)))
                session.exec(delete(EmailDeliveryRecord).where(col(EmailDeliveryRecord.email_id).in_(ids)))
                if refs:
                    session.exec(delete(StoredDocument).where(col(StoredDocument.key).in_(refs)))
                return len(ids)
            # Log done: PDFs older than the cutoff that no remaining email carried.
            kept: set[str] = set()
            for attachments in session.exec(select(EmailLogEntry.attachments)):
                kept.update(a.get("ref") for a in attachments or [] if a.get("ref"))
            # A kept PDF keeps its e-invoice's outcome and XML, stored beside it.
            kept.update([outcome_key(k) for k in kept] + [xml_key(k) for k in kept])
            stale = [
                k
                for k in session.exec(
                    select(StoredDocument.key)
                    .where(col(StoredDocument.key).startswith("pdf:"), col(StoredDocument.created_at) < req.cutoff)
                    .limit(req.batch_size)
                )
                if k not in kept
            ]
            if stale:
                session.exec(delete(StoredDocument).where(col(StoredDocument.key).in_(stale)))
        self._purge_history(req)
        return 0

    def _purge_history(self, req: PurgeRequest) -> None:
        """Webhook deliveries (finished ones: a pending delivery is still being retried)
        and provider events older than the cutoff, a batch per transaction. At most
        `MAX_HISTORY_BATCHES` per table per run, to stay inside the activity's timeout
        on a first purge of a large backlog; the next day's run takes the rest."""
        tables = (
            (
                WebhookDeliveryRecord,
                (col(WebhookDeliveryRecord.endpoint_id), col(WebhookDeliveryRecord.event_id)),
                (col(WebhookDeliveryRecord.created_at) < req.cutoff, col(WebhookDeliveryRecord.status) != "pending"),
            ),
            (
                ProviderEventRecord,
                (col(ProviderEventRecord.provider), col(ProviderEventRecord.event_id)),
                (col(ProviderEventRecord.received_at) < req.cutoff,),
            ),
        )
        for table, key, conditions in tables:
            for _ in range(MAX_HISTORY_BATCHES):
                activity.heartbeat()
                with session_scope(self.engine) as session:
                    rows = session.exec(select(*key).where(*conditions).limit(req.batch_size)).all()
                    for first, second in rows:
                        session.exec(delete(table).where(key[0] == first, key[1] == second))
                if len(rows) < req.batch_size:
                    break
