"""The three steps of every email as Temporal activities: prepare (decide, render, log as
pending), render the attached documents, deliver; and the record of a delivery that ran
out of retries. Each is an activity so each retries on its own.

The work is relance.services' (outgoing, documents, deliveries); these adapters add what
only Temporal knows (attempts, heartbeats, retry delays) and map outcomes to its errors.
Sending stays here, since it goes through a transport. Exactly-once rests on the email
log: `prepare_email` writes the row before anything is sent, and `deliver_email` does
nothing for a row that is already final.

Services are imported inside the methods: workflows import this module (passed through
their sandbox), and rendering and prometheus_client must stay out of what they import.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.transports.base import DeliveryError, PermanentDeliveryError, RetryableDeliveryError, Transport
from relance.contracts.models import (
    DeliveryRequest,
    DeliveryResult,
    DocumentRequest,
    EmailRequest,
    FailureRecord,
    OperatorEmailRequest,
    PreparedEmail,
    PreparedOperatorEmail,
    StoredAttachment,
)
from relance.platform.config import Config
from relance.storage.database import session_scope

if TYPE_CHECKING:
    from relance.platform.metrics import FailureReason, RetryReason
    from relance.services.deliveries import DeliveryLog

log = logging.getLogger("relance.delivery")

# How long an email for a customer Relance has never heard of, with no address on its
# invoice either, waits for that customer's event before failing as having no recipient:
# prepare_email is retried with the PREPARE policy's back-off (up to 5 minutes apart) for
# this long, counted from the first attempt. Long enough for a backend's or Stripe's
# redelivery of a customer event that failed the first time.
CUSTOMER_WAIT = timedelta(hours=1)
CUSTOMER_NOT_KNOWN_YET = "CustomerNotKnownYet"


def _customer_may_still_come() -> bool:
    info = activity.info()
    return info.current_attempt_scheduled_time - info.scheduled_time < CUSTOMER_WAIT


async def _heartbeat_while_sending(every: float = 5.0) -> None:
    """A provider may take its whole timeout (30 s) to answer; the heartbeat tells Temporal
    the worker is alive meanwhile, so a dead one is noticed within the heartbeat timeout
    instead of the 2-minute start-to-close timeout. None before `every`: the heartbeat
    timeout counts from the start, and a heartbeat is a server write (Core sends an
    activity's first one at once), which most sends, done in milliseconds, never need."""
    while True:
        await asyncio.sleep(every)
        activity.heartbeat()


async def _alert_webhook(
    deliveries: DeliveryLog, event_type: str, data: dict[str, Any], id_key: str, what: str
) -> None:
    """`event_type` (`email.failed` with status "held", `einvoice.invalid`) to the
    endpoints that subscribe, through the same WebhookWorkflow the workflows start; its
    id is derived from `id_key`, so a retried activity cannot alert twice. Never fails the
    delivery: the log line is the fallback."""
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from activities.webhooks import WebhookEvent, event_id_for
    from relance.storage.tables import utcnow

    try:
        endpoints = await asyncio.to_thread(deliveries.subscribers, event_type)
        if not endpoints:
            return
        event = WebhookEvent(
            id=event_id_for(id_key),
            type=event_type,
            timestamp=utcnow(),
            endpoint_ids=endpoints,
            data=data,
        )
        await activity.client().start_workflow(
            "WebhookWorkflow",
            event,
            id=f"webhook-{event.id}",
            task_queue=activity.info().task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass
    except Exception as exc:  # noqa: BLE001 - the alert must not hold up the email
        log.warning("could not emit the %s webhook (%s): %s", event_type, what, exc)


class EmailActivities:
    def __init__(self, engine: Engine, config: Config, transport: Transport) -> None:
        from relance.services.deliveries import DeliveryLog

        self.engine = engine
        self.config = config
        self.transport = transport
        self.deliveries = DeliveryLog(engine, timedelta(seconds=config.hold_probe_seconds))

    # ---- prepare -------------------------------------------------------------------

    @activity.defn
    def prepare_email(self, req: EmailRequest) -> PreparedEmail:
        # No heartbeat: preparing takes milliseconds, well inside the heartbeat timeout
        # (HEARTBEAT in workflows/options.py), which counts from the start and still
        # catches a dead worker; each heartbeat would be a server write.
        from relance.services.outgoing import CustomerNotKnownYet, prepare_email

        try:
            with session_scope(self.engine) as session:
                done = prepare_email(session, req, self.config, may_wait=_customer_may_still_come)
        except CustomerNotKnownYet as exc:
            # Benign: an expected wait, not a failure (the SDK logs it at DEBUG and does
            # not count it); one line of our own says it once.
            if activity.info().attempt == 1:
                log.info("%s %s", req.idempotency_key, exc)
            raise ApplicationError(
                str(exc), type=CUSTOMER_NOT_KNOWN_YET, category=ApplicationErrorCategory.BENIGN
            ) from None
        if done.report is not None:
            done.report()  # the outcome is committed: count and log it
        return done.prepared

    @activity.defn
    def prepare_operator_email(self, req: OperatorEmailRequest) -> PreparedOperatorEmail:
        """A resend or a test send (relance.services.operator_emails), logged as pending
        for deliver_email like any other email."""
        from relance.services.operator_emails import prepare_resend, prepare_test

        with session_scope(self.engine) as session:
            if req.purpose == "resend":
                return prepare_resend(session, req)
            return prepare_test(session, req, self.config)

    # ---- documents -----------------------------------------------------------------

    @activity.defn
    def render_document(self, req: DocumentRequest) -> StoredAttachment:
        from relance.platform.metrics import PDF_RENDER_SECONDS
        from relance.rendering.pdf_pool import render_in_pool
        from relance.services.documents import document_to_render, store_document, stored_einvoice
        from relance.storage.documents import xml_key

        with session_scope(self.engine) as session:
            key, ctx = document_to_render(session, req)
            einvoice, has_xml = stored_einvoice(session, key) if ctx is None else (None, False)
        if ctx is not None:
            # Timed here, in the worker, around the pool: the child processes have no registry.
            with PDF_RENDER_SECONDS.labels(req.kind.value).time():
                rendered = render_in_pool(req.kind, ctx, req.locale, on_wait=activity.heartbeat)
            with session_scope(self.engine) as session:
                store_document(session, key, rendered.pdf, rendered.einvoice, rendered.xml)
            einvoice, has_xml = rendered.einvoice, rendered.xml is not None
        companion = None
        if has_xml and einvoice is not None and einvoice.filename:
            companion = StoredAttachment(ref=xml_key(key), filename=einvoice.filename, content_type="text/xml")
        return StoredAttachment(ref=key, filename=req.filename, einvoice=einvoice, companion=companion)

    # ---- deliver -------------------------------------------------------------------

    @activity.defn
    async def deliver_email(self, req: DeliveryRequest) -> DeliveryResult:
        result = await self._deliver(req)
        if result.status not in ("sent", "failed"):
            return result
        # Who subscribes to email.sent / email.failed, read here rather than by a local
        # activity of the workflow: one Temporal round trip fewer per email.
        endpoints = await asyncio.to_thread(self.deliveries.subscribers, f"email.{result.status}")
        return result.model_copy(update={"webhook_endpoints": endpoints})

    async def _deliver(self, req: DeliveryRequest) -> DeliveryResult:
        from relance.platform.metrics import DELIVERY_SECONDS, FailureReason, RetryReason
        from relance.services import outcomes
        from relance.services.deliveries import NoSuchEmail

        try:
            message = await asyncio.to_thread(self.deliveries.outgoing, req)
        except NoSuchEmail as exc:
            raise ApplicationError(str(exc), non_retryable=True) from None
        if isinstance(message, DeliveryResult):
            return message  # already final
        await self._note_einvoices(req)
        provider = self.transport.name
        credentials = self.transport.credential_fingerprint
        if credentials is not None:
            hold = await asyncio.to_thread(self.deliveries.hold_on, provider, credentials)
            if hold is not None:
                await self._hold(
                    req.idempotency_key,
                    provider,
                    f"held since {hold.held_since:%Y-%m-%d %H:%M} UTC: "
                    f"{provider} refused the credentials; sent once they are fixed ({hold.error})",
                )
        alive = asyncio.create_task(_heartbeat_while_sending())
        try:
            with DELIVERY_SECONDS.labels(provider).time():
                outcome = await self.transport.send(message)
        except PermanentDeliveryError as exc:
            if exc.credentials_refused and credentials is not None:
                alive.cancel()
                await self._credentials_refused(req.idempotency_key, provider, credentials, exc)
            await self._failed(req.idempotency_key, provider, FailureReason.rejected, str(exc))
            return DeliveryResult(status="failed", provider=provider, error=str(exc))
        except RetryableDeliveryError as exc:
            await self._retrying(req.idempotency_key, provider, RetryReason.transient, str(exc))
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
            raise ApplicationError(str(exc), type="RetryableDeliveryError", next_retry_delay=delay) from None
        except ValueError as exc:
            # An address or header refused when the message was built.
            await self._failed(req.idempotency_key, provider, FailureReason.invalid, str(exc))
            return DeliveryResult(status="failed", provider=provider, error=str(exc))
        finally:
            alive.cancel()
        ref = await asyncio.to_thread(
            self.deliveries.record,
            req.idempotency_key,
            "sent",
            provider=outcome.provider,
            provider_message_id=outcome.provider_message_id,
            attachments=req.attachments,
            clears_hold=credentials is not None,
        )
        if ref is not None:
            outcomes.sent(ref, outcome.provider)
        return DeliveryResult(status="sent", provider=outcome.provider, provider_message_id=outcome.provider_message_id)

    async def _note_einvoices(self, req: DeliveryRequest) -> None:
        """An invalid e-invoice is never sent: the plain PDF goes, and the log row, a
        warning and an `einvoice.invalid` webhook name the failed rules."""
        for data in await asyncio.to_thread(self.deliveries.note_einvoices, req.idempotency_key, req.attachments):
            log.warning(
                "email %s: the %s e-invoice of %s is invalid (%s); sent as a plain PDF",
                req.idempotency_key,
                data["profile"],
                data["document"],
                ", ".join(data["rules"]),
            )
            key = f"{req.idempotency_key}:einvoice.invalid:{data['document']}"
            await _alert_webhook(self.deliveries, "einvoice.invalid", data, key, req.idempotency_key)

    async def _failed(self, key: str, provider: str, reason: FailureReason, error: str) -> None:
        await asyncio.to_thread(self.deliveries.failed, key, provider, reason, error)

    async def _retrying(self, key: str, provider: str, reason: RetryReason, error: str) -> None:
        from relance.services import outcomes

        ref = await asyncio.to_thread(self.deliveries.record, key, "retry", provider=provider, error=error)
        if ref is not None:
            outcomes.retrying(ref, provider, reason, error)

    # ---- refused credentials (a hold on the whole transport) --------------------------

    async def _hold(self, key: str, provider: str, reason: str) -> None:
        """Not sent, not failed: pending, retried every RELANCE_HOLD_RETRY_SECONDS (its 3-day
        window still applies, after which it fails and is reported like any other failure)."""
        from relance.platform.metrics import RetryReason

        await self._retrying(key, provider, RetryReason.held, reason)
        raise ApplicationError(
            reason, type="TransportHeld", next_retry_delay=timedelta(seconds=self.config.hold_retry_seconds)
        )

    async def _credentials_refused(self, key: str, provider: str, credentials: str, exc: DeliveryError) -> None:
        opened = await asyncio.to_thread(self.deliveries.open_hold, key, provider, credentials, str(exc))
        if opened is not None:
            # The one alert: an error line, and an email.failed webhook (status "held").
            log.error(
                "%s refused Relance's credentials: emails are held (pending, not sent) until they are "
                "fixed, then go out; email %s was the first. %s",
                provider,
                key,
                exc,
            )
            data = {**opened, "status": "held", "provider": provider, "provider_message_id": None, "error": str(exc)}
            await _alert_webhook(self.deliveries, "email.failed", data, f"{opened['email_key']}:email.failed:held", key)
        await self._hold(key, provider, f"held: {exc}")

    @activity.defn
    def record_delivery_failure(self, failure: FailureRecord) -> None:
        """Retries ran out (the provider stayed down) or the email could not be prepared:
        the log says so instead of staying 'pending' or showing nothing."""
        self.deliveries.record_failure(failure)
