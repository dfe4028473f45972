"""SendGrid's Event Webhook in: delivery status, bounces and spam reports, verified by
SendGrid's ECDSA signature (no API key). Updates each email's delivery status,
suppresses hard-bounced and spam-reporting addresses, and hands `email.delivered`,
`email.bounced` and `recipient.suppressed` to the webhooks out."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.webhooks import WebhookEvent, event_id_for
from relance.api.deps import Services, ServicesDep
from relance.api.schemas import ApiError, error_responses
from relance.storage import suppressions, webhooks_store
from relance.storage.database import session_scope
from relance.storage.tables import utcnow
from workflows.webhooks import WebhookWorkflow

log = logging.getLogger("relance.api")
router = APIRouter(tags=["webhooks"])


class SendGridReceived(BaseModel):
    received: int
    applied: int
    duplicates: int
    ignored: int


SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
HANDLED = frozenset({"processed", "delivered", "deferred", "bounce", "dropped", "spamreport"})
PROVIDER = "sendgrid"


@lru_cache(maxsize=4)
def _public_key(configured: str) -> Any:
    """The configured key, base64 DER (as SendGrid shows it) or PEM, as a key object."""
    from sendgrid.helpers.eventwebhook import EventWebhook

    body = "".join(line.strip() for line in configured.strip().splitlines() if not line.startswith("-----"))
    return EventWebhook().convert_public_key_to_ecdsa(body)


def verify_sendgrid_signature(
    public_key: str | None, payload: bytes, signature: str | None, timestamp: str | None
) -> bool:
    from sendgrid.helpers.eventwebhook import EventWebhook

    if not (public_key and signature and timestamp):
        return False
    try:
        key = _public_key(public_key)
    except Exception as exc:  # noqa: BLE001  (any unreadable key is a configuration problem)
        log.warning(
            "SendGrid webhook refused: RELANCE_SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid key (%s)", type(exc).__name__
        )
        return False
    try:
        return bool(EventWebhook().verify_signature(payload.decode("utf-8"), signature, timestamp, public_key=key))
    except Exception:  # noqa: BLE001  (malformed base64 or DER, non-EC key: not a valid signature)
        return False


@dataclass
class _Applied:
    sg_event_id: str
    event: str
    status: str
    at: datetime
    recipient: str | None
    reason: str | None
    email_id: str | None
    suppress: str | None  # bounce | spamreport


@dataclass
class _Plan:
    apply: list[_Applied] = field(default_factory=list)
    outgoing: list[WebhookEvent] = field(default_factory=list)
    duplicates: int = 0
    ignored: int = 0


def _event_time(raw: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(raw["timestamp"]), tz=UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return utcnow()


def _text(value: Any, limit: int = 500) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def _plan_sendgrid(engine: Engine, events: list[Any]) -> _Plan:
    """Read only: what the batch changes, and the webhooks out it owes. Nothing is written
    until those webhooks are handed to Temporal, so a failure there changes nothing and
    SendGrid's retry finds the events unseen."""
    plan = _Plan()
    with session_scope(engine) as session:
        ids = [e["sg_event_id"] for e in events if isinstance(e, dict) and isinstance(e.get("sg_event_id"), str)]
        seen = webhooks_store.seen_provider_events(session, PROVIDER, ids)
        subscribed: dict[str, list[str]] = {}
        newly_suppressed: set[str] = set()

        def out(event_type: str, key: str, at: datetime, data: dict[str, Any]) -> None:
            if event_type not in subscribed:
                subscribed[event_type] = webhooks_store.subscribers(session, event_type)
            if subscribed[event_type]:
                plan.outgoing.append(
                    WebhookEvent(
                        id=event_id_for(key),
                        type=event_type,
                        timestamp=at,
                        data=data,
                        endpoint_ids=subscribed[event_type],
                    )
                )

        for raw in events:
            sg_id = raw.get("sg_event_id") if isinstance(raw, dict) else None
            name = raw.get("event") if isinstance(raw, dict) else None
            if not isinstance(sg_id, str) or not sg_id or name not in HANDLED:
                plan.ignored += 1  # opens, clicks, unsubscribes...: not Relance's business
                continue
            if sg_id in seen:
                plan.duplicates += 1
                continue
            seen.add(sg_id)
            # sg_message_id is the X-Message-Id we stored, then ".filter..." per recipient.
            message_id = str(raw.get("sg_message_id") or "").split(".", 1)[0]
            entry = webhooks_store.email_for_provider_message(session, message_id)
            at = _event_time(raw)
            recipient = _text(raw.get("email"), 320)
            bounce_type = str(raw.get("type") or "bounce") if name == "bounce" else None
            status = "blocked" if bounce_type == "blocked" else name
            reason = _text(raw.get("reason") or raw.get("response"))
            hard = (name == "bounce" and bounce_type == "bounce") or name == "spamreport"
            plan.apply.append(
                _Applied(
                    sg_event_id=sg_id,
                    event=name,
                    status=status,
                    at=at,
                    recipient=recipient,
                    reason=reason,
                    email_id=entry.id if entry else None,
                    suppress=name if hard and recipient else None,
                )
            )
            email = {}
            if entry is not None:
                email = {
                    "email_id": entry.id,
                    "email_key": entry.idempotency_key,
                    "kind": entry.kind,
                    "customer_id": entry.customer_id,
                    "invoice_id": entry.invoice_id,
                }
                common = {
                    **email,
                    "recipient": recipient,
                    "provider": PROVIDER,
                    "provider_message_id": entry.provider_message_id,
                    "provider_event_id": sg_id,
                }
                if name == "delivered":
                    out("email.delivered", f"{PROVIDER}:{sg_id}:email.delivered", at, {**common, "status": "delivered"})
                elif name == "bounce":
                    out(
                        "email.bounced",
                        f"{PROVIDER}:{sg_id}:email.bounced",
                        at,
                        {**common, "status": status, "bounce_type": bounce_type, "reason": reason},
                    )
            if hard and recipient:
                address = suppressions.normalize(recipient)
                if address not in newly_suppressed and not suppressions.is_suppressed(session, address):
                    newly_suppressed.add(address)
                    out(
                        "recipient.suppressed",
                        f"{PROVIDER}:{sg_id}:recipient.suppressed",
                        at,
                        {"address": address, "reason": name, "detail": reason, **email},
                    )
    return plan


def _apply_sendgrid(engine: Engine, plan: _Plan) -> int:
    from relance.platform.metrics import DELIVERY_REPORTS

    applied: list[_Applied] = []
    with session_scope(engine) as session:
        # Seen again inside the transaction: a concurrent post of the same batch applies once.
        seen = webhooks_store.seen_provider_events(session, PROVIDER, [a.sg_event_id for a in plan.apply])
        for a in plan.apply:
            if a.sg_event_id in seen:
                continue
            webhooks_store.record_provider_event(
                session, PROVIDER, a.sg_event_id, a.event, email_id=a.email_id, recipient=a.recipient, occurred_at=a.at
            )
            if a.email_id is not None:
                webhooks_store.set_delivery_status(session, a.email_id, a.status, a.at, a.reason)
            if a.suppress and a.recipient:
                suppressions.suppress(session, a.recipient, a.suppress, detail=a.reason, email_id=a.email_id)
            applied.append(a)
    for a in applied:  # committed: counted once, however often SendGrid posts the batch
        DELIVERY_REPORTS.labels(PROVIDER, a.status).inc()
    return len(applied)


async def start_webhook(svc: Services, event: WebhookEvent) -> None:
    """Hand one event to a WebhookWorkflow (once per event id)."""
    try:
        await svc.client.temporal.start_workflow(
            WebhookWorkflow.run,
            event,
            id=f"webhook-{event.id}",
            task_queue=svc.client.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass


@router.post(
    "/v1/webhooks/sendgrid",
    response_model=SendGridReceived,
    summary="SendGrid Event Webhook endpoint",
    responses=error_responses(400, 503),
)
async def sendgrid_events(request: Request, svc: ServicesDep) -> SendGridReceived:
    """Point SendGrid's signed Event Webhook here and set `RELANCE_SENDGRID_WEBHOOK_PUBLIC_KEY`
    to its verification key. No API key: the ECDSA signature is verified instead. Updates
    each email's delivery status, suppresses hard-bounced and spam-reporting addresses,
    and emits `email.delivered`, `email.bounced` and `recipient.suppressed`."""
    payload = await request.body()
    if not verify_sendgrid_signature(
        svc.config.sendgrid_webhook_public_key,
        payload,
        request.headers.get(SIGNATURE_HEADER),
        request.headers.get(TIMESTAMP_HEADER),
    ):
        if not svc.config.sendgrid_webhook_public_key:
            log.warning("SendGrid webhook refused: RELANCE_SENDGRID_WEBHOOK_PUBLIC_KEY is not set")
        raise ApiError(400, "invalid_signature", f"the {SIGNATURE_HEADER} header does not verify")
    try:
        events = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    if isinstance(events, dict):
        events = [events]
    if not isinstance(events, list):
        raise ApiError(400, "invalid_event", "expected a JSON array of events")
    plan = await run_in_threadpool(_plan_sendgrid, svc.engine, events)
    for event in plan.outgoing:
        await svc.temporal(start_webhook(svc, event))
    applied = await run_in_threadpool(_apply_sendgrid, svc.engine, plan)
    return SendGridReceived(
        received=len(events),
        applied=applied,
        duplicates=plan.duplicates + len(plan.apply) - applied,
        ignored=plan.ignored,
    )
