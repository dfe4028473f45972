"""Purging the email log: entries older than the retention period, with their stored
message and the PDFs no remaining entry refers to."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio import activity

from relance.models import PurgeRequest
from relance.storage.database import session_scope
from relance.storage.tables import EmailLogEntry, StoredDocument


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
                .where(EmailLogEntry.created_at < req.cutoff)
                .limit(req.batch_size)
            ).all()
            if old:
                ids = [row[0] for row in old]
                refs = [row[1] for row in old if row[1]]
                session.exec(delete(EmailLogEntry).where(EmailLogEntry.id.in_(ids)))
                if refs:
                    session.exec(delete(StoredDocument).where(StoredDocument.key.in_(refs)))
                return len(ids)
            # Log done: PDFs older than the cutoff that no remaining email carried.
            kept = set()
            for attachments in session.exec(select(EmailLogEntry.attachments)):
                kept.update(a.get("ref") for a in attachments or [] if a.get("ref"))
            stale = [k for k in session.exec(
                select(StoredDocument.key).where(StoredDocument.key.startswith("pdf:"),
                                                 StoredDocument.created_at < req.cutoff).limit(req.batch_size))
                     if k not in kept]
            if stale:
                session.exec(delete(StoredDocument).where(StoredDocument.key.in_(stale)))
            return 0
