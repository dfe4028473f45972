"""Webhooks out: what an event looks like, who subscribes to it, and one signed HTTP
delivery per endpoint (Standard Webhooks: webhook-id, webhook-timestamp,
webhook-signature).

The models live here rather than in a workflow module: the workflow sandbox re-imports
workflow modules, and models with `datetime` fields defined there do not decode. Secrets
never leave the database: the workflow carries endpoint ids, and the delivery activity
reads the endpoint's current secrets at each attempt (so a rotation applies to retries).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from relance.rules.webhook_ids import event_id_for  # noqa: F401 - workflows import it from here

log = logging.getLogger("relance.webhooks")

EVENT_TYPES: tuple[str, ...] = (
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "invoice.reminder_due",
    "email.sent",
    "email.failed",
    "einvoice.invalid",
    "email.delivered",
    "email.bounced",
    "recipient.suppressed",
)
WILDCARD = "*"

REQUEST_TIMEOUT_SECONDS = 15.0
MAX_RETRY_AFTER = timedelta(hours=1)
_ERROR_TEXT = 300
USER_AGENT = "Relance-Webhooks/1"


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class WebhookEvent(BaseModel):
    """One event to deliver. `data` holds ids, kinds and statuses, never email bodies."""

    id: str
    type: str
    timestamp: datetime
    data: dict[str, Any] = Field(default_factory=dict)
    # The endpoints subscribed when the event was emitted; None: the workflow looks them up.
    endpoint_ids: list[str] | None = None

    def body(self) -> str:
        """The exact bytes signed and posted (compact JSON, same on every attempt)."""
        return json.dumps(
            {"type": self.type, "timestamp": iso(self.timestamp), "data": self.data},
            separators=(",", ":"),
            ensure_ascii=False,
        )


class WebhookDeliveryRequest(BaseModel):
    endpoint_id: str
    event: WebhookEvent


class WebhookAttempt(BaseModel):
    endpoint_id: str
    status: str  # delivered | failed | skipped
    status_code: int | None = None
    error: str | None = None


class WebhookFailure(BaseModel):
    endpoint_id: str
    event_id: str
    event_type: str
    error: str


class WebhookOutcome(BaseModel):
    event_id: str
    deliveries: list[WebhookAttempt] = Field(default_factory=list)


def signature_header(secrets: list[str], msg_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64>` per secret, space-separated (the current secret first; during a
    rotation the previous one too, so receivers on either secret verify)."""
    from standardwebhooks import Webhook

    at = datetime.fromtimestamp(timestamp, tz=UTC)
    return " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_TEXT else text[: _ERROR_TEXT - 3] + "..."


def _retry_after(value: str | None) -> timedelta | None:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return min(timedelta(seconds=max(seconds, 0.0)), MAX_RETRY_AFTER)


class WebhookActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def webhook_subscribers(self, event_type: str) -> list[str]:
        """Endpoint ids subscribed to this type. Run as a local activity by the emitting
        workflow, so an event nobody subscribes to costs one query and no workflow."""
        from relance.storage import webhooks_store
        from relance.storage.database import session_scope

        with session_scope(self.engine) as session:
            return webhooks_store.subscribers(session, event_type)

    @activity.defn
    def open_deliveries(self, event: WebhookEvent) -> WebhookEvent:
        """A `pending` delivery row per endpoint still there (for ops), and the event as it
        will be sent: email events get the email log id added."""
        from relance.storage import email_log, webhooks_store
        from relance.storage.database import session_scope

        with session_scope(self.engine) as session:
            ids = (
                event.endpoint_ids
                if event.endpoint_ids is not None
                else webhooks_store.subscribers(session, event.type)
            )
            data = dict(event.data)
            if event.type.startswith("email.") and "email_id" not in data and data.get("email_key"):
                entry = email_log.get_entry(session, data["email_key"])
                if entry is not None:
                    data["email_id"] = entry.id
            ready = []
            for endpoint_id in ids:
                if webhooks_store.get_endpoint(session, endpoint_id) is None:
                    continue  # deleted since the event was emitted
                row = webhooks_store.open_delivery(session, endpoint_id, event.id, event.type)
                if row.status == webhooks_store.PENDING:
                    ready.append(endpoint_id)
            return event.model_copy(update={"endpoint_ids": ready, "data": data})

    @activity.defn
    async def deliver_webhook(self, req: WebhookDeliveryRequest) -> WebhookAttempt:
        """One POST. 2xx: delivered. 408, 429, 5xx, timeouts and connection errors: raise,
        and Temporal retries with back-off. Any other answer: failed at once, not retried."""
        import httpx

        endpoint = await asyncio.to_thread(self._load, req)
        if isinstance(endpoint, WebhookAttempt):
            return endpoint
        url, secrets = endpoint
        event = req.event
        body = event.body()
        now = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": event.id,
            "webhook-timestamp": str(now),
            "webhook-signature": signature_header(secrets, event.id, now, body),
        }
        try:
            async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, follow_redirects=False) as http:
                response = await http.post(url, content=body.encode(), headers=headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return await self._finish(req, "failed", None, f"invalid URL: {exc}")
        except httpx.TimeoutException as exc:
            await self._note(req, None, f"timed out after {REQUEST_TIMEOUT_SECONDS:.0f}s ({type(exc).__name__})")
            raise ApplicationError(
                f"webhook endpoint timed out: {type(exc).__name__}", type="WebhookRetryable"
            ) from None
        except httpx.HTTPError as exc:
            await self._note(req, None, f"{type(exc).__name__}: {_short(str(exc))}")
            raise ApplicationError(
                f"webhook endpoint unreachable: {type(exc).__name__}", type="WebhookRetryable"
            ) from None

        status = response.status_code
        if 200 <= status < 300:
            return await self._finish(req, "delivered", status, None)
        detail = f"HTTP {status}: {_short(response.text)}" if response.text else f"HTTP {status}"
        if status in (408, 429) or status >= 500:
            await self._note(req, status, detail)
            raise ApplicationError(
                f"webhook endpoint answered {status}",
                type="WebhookRetryable",
                next_retry_delay=_retry_after(response.headers.get("retry-after")),
            )
        # 3xx (redirects are not followed) and 4xx: the endpoint refuses; retrying will not help.
        log.warning(
            "webhook %s (%s) to endpoint %s refused with %s; not retried", event.id, event.type, req.endpoint_id, status
        )
        return await self._finish(req, "failed", status, detail)

    @activity.defn
    def record_webhook_failure(self, failure: WebhookFailure) -> None:
        """Retries ran out (3 days): the delivery row says failed instead of pending."""
        from relance.storage import webhooks_store
        from relance.storage.database import session_scope

        log.warning(
            "webhook %s (%s) to endpoint %s failed for good: %s",
            failure.event_id,
            failure.event_type,
            failure.endpoint_id,
            failure.error,
        )
        with session_scope(self.engine) as session:
            row = webhooks_store.open_delivery(session, failure.endpoint_id, failure.event_id, failure.event_type)
            if row.status == webhooks_store.PENDING:
                webhooks_store.finish_delivery(
                    session, row, webhooks_store.FAILED, None, f"gave up: {failure.error}", count_attempt=False
                )

    # ---- database (in a thread) ------------------------------------------------------

    def _load(self, req: WebhookDeliveryRequest) -> tuple[str, list[str]] | WebhookAttempt:
        from relance.storage import webhooks_store
        from relance.storage.database import session_scope

        with session_scope(self.engine) as session:
            row = webhooks_store.open_delivery(session, req.endpoint_id, req.event.id, req.event.type)
            if row.status != webhooks_store.PENDING:
                # Delivered (or failed) by an earlier attempt whose result was lost: not again.
                return WebhookAttempt(
                    endpoint_id=req.endpoint_id,
                    status=row.status,
                    status_code=row.last_status_code,
                    error=row.last_error,
                )
            endpoint = webhooks_store.get_endpoint(session, req.endpoint_id)
            if endpoint is None:
                webhooks_store.finish_delivery(
                    session, row, webhooks_store.SKIPPED, None, "endpoint deleted", count_attempt=False
                )
                return WebhookAttempt(
                    endpoint_id=req.endpoint_id, status=webhooks_store.SKIPPED, error="endpoint deleted"
                )
            return endpoint.url, webhooks_store.signing_secrets(endpoint)

    async def _note(self, req: WebhookDeliveryRequest, status: int | None, error: str) -> None:
        from relance.storage import webhooks_store
        from relance.storage.database import session_scope

        def note() -> None:
            with session_scope(self.engine) as session:
                row = webhooks_store.open_delivery(session, req.endpoint_id, req.event.id, req.event.type)
                webhooks_store.note_attempt(session, row, status, error)

        await asyncio.to_thread(note)

    async def _finish(
        self, req: WebhookDeliveryRequest, outcome: str, status: int | None, error: str | None
    ) -> WebhookAttempt:
        from relance.storage import webhooks_store
        from relance.storage.database import session_scope

        def finish() -> None:
            with session_scope(self.engine) as session:
                row = webhooks_store.open_delivery(session, req.endpoint_id, req.event.id, req.event.type)
                webhooks_store.finish_delivery(session, row, outcome, status, error)

        await asyncio.to_thread(finish)
        return WebhookAttempt(endpoint_id=req.endpoint_id, status=outcome, status_code=status, error=error)
