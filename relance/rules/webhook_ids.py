"""Webhook event ids: a hash of the event's business identity, so the same event emitted
twice gets one id, and a reader that knows the identity can find its deliveries."""

from __future__ import annotations

import hashlib


def event_id_for(key: str) -> str:
    """A stable id from the event's business identity (invoice, type, occurrence; or an
    email's idempotency key): the same event emitted twice (a retried activity, a new run
    of a workflow) gets the same id, and so one `webhook-<id>` workflow. Also the
    `webhook-id` header receivers deduplicate on. No PII: it is a hash."""
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]
