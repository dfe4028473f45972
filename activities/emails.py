"""The three steps of every email: prepare (decide, render, log as pending), render the
attached documents, deliver. Each is an activity so each retries on its own.

Exactly-once rests on the email log: `prepare_email` writes the row (keyed by the
idempotency key the workflow derives from invoice, kind and occurrence) before anything
is sent, and `deliver_email` does nothing for a row that is already final.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.transports.base import DeliveryError, PermanentDeliveryError, RetryableDeliveryError, Transport
from relance.contracts.account import AccountSettings
from relance.contracts.events import Invoice
from relance.contracts.kinds import DocumentKind, EmailKind
from relance.contracts.messages import Attachment, OutgoingEmail, RenderedContent
from relance.contracts.models import (
    DeliveryRequest,
    DeliveryResult,
    DocumentRequest,
    EmailRequest,
    FailureRecord,
    PreparedEmail,
    StoredAttachment,
)
from relance.platform.config import Config
from relance.rendering.context import email_context, recipients, time_zone_for
from relance.rendering.i18n import email_locale
from relance.rules.schedule import local_due_date
from relance.storage import email_log, transport_holds, webhooks_store
from relance.storage.customers import get_customer
from relance.storage.database import session_scope
from relance.storage.documents import add_document, get_document, has_document, put_document
from relance.storage.invoices import billing_email_from_invoices, load_invoice_document
from relance.storage.settings_store import load_settings
from relance.storage.suppressions import drop_suppressed
from relance.storage.tables import CustomerRecord, InvoiceRecord
from relance.storage.templates_store import get_version as get_template_version

if TYPE_CHECKING:  # imported lazily at run time: this module is passed through the workflow sandbox
    from activities.outcomes import EmailRef
    from relance.platform.metrics import FailureReason

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


# Which PDFs go with which email (when the account attaches PDFs at all).
ATTACHMENTS: dict[EmailKind, tuple[DocumentKind, ...]] = {
    EmailKind.invoice_finalized: (DocumentKind.invoice,),
    EmailKind.invoice_reminder: (DocumentKind.invoice,),
    EmailKind.receipt: (DocumentKind.invoice, DocumentKind.receipt),
}


def message_id_for(key: str, from_email: str) -> str:
    """Stable across retries, so a resend after a crash is recognisable as the same email."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    domain = from_email.rsplit("@", 1)[-1]
    return f"<{digest}@{domain}>"


def sender_for(settings: AccountSettings, config: Config) -> tuple[str, str | None, str | None]:
    """The custom domain's address only once that domain is verified."""
    s = settings.sender
    from_email = s.verified_from_email() or config.default_from_email
    from_name = s.from_name or settings.branding.business_name or config.default_from_name
    reply_to = s.reply_to or settings.branding.support_email
    return from_email, from_name, reply_to


def document_filename(kind: DocumentKind, label: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in label)[:80]
    return f"{kind.value}-{safe}.pdf"


def _documents_for(req: EmailRequest, inv: Invoice | None, locale: str) -> list[DocumentRequest]:
    if req.kind == EmailKind.credit_note_created and req.credit_note is not None:
        cn = req.credit_note
        return [
            DocumentRequest(
                kind=DocumentKind.credit_note,
                locale=locale,
                customer_id=req.customer_id,
                credit_note=cn,
                filename=document_filename(DocumentKind.credit_note, cn.number or cn.id),
            )
        ]
    if inv is None or not req.invoice_revision:
        return []
    return [
        DocumentRequest(
            kind=k,
            invoice_id=inv.id,
            revision=req.invoice_revision,
            locale=locale,
            customer_id=req.customer_id,
            filename=document_filename(k, inv.number or inv.id),
        )
        for k in ATTACHMENTS.get(req.kind, ())
    ]


def _render(session, req: EmailRequest, ctx, locale: str, attachments: list[str]) -> tuple[RenderedContent, str | None]:
    """The account's custom template for this kind (the version the invoice pinned), else
    Relance's own. A custom template that fails at send time (it passed validation, but
    real data can differ) falls back to the default rather than sending nothing."""
    from relance.rendering.custom_templates import CustomTemplate, TemplateProblem, render_custom
    from relance.rendering.email import render_email

    row = get_template_version(session, req.kind.value, req.template_version)
    if row is not None:
        custom = CustomTemplate(subject=row.subject, html=row.html, text=row.text)
        try:
            return render_custom(req.kind, custom, ctx, locale, attachments=attachments), None
        except TemplateProblem as exc:
            note = f"custom template v{row.version} failed ({exc}); sent Relance's default"
            log.warning(
                "email %s: %s",
                req.idempotency_key,
                note,
                extra={"kind": req.kind.value, "invoice_id": req.invoice_id, "customer_id": req.customer_id},
            )
            return render_email(req.kind, ctx, locale, attachments=attachments), note
    return render_email(req.kind, ctx, locale, attachments=attachments), None


# Customers already told about (per process): a fallback is worth one line, not one per email.
_locale_fallback_logged: set[str] = set()
_locale_fallback_lock = threading.Lock()


def _locale_for(customer: CustomerRecord | None, settings: AccountSettings) -> str:
    """The customer's email locale; a customer whose preferred locales are all unshipped
    gets the default, said once at INFO so the operator can tell why."""
    preferred = list(customer.preferred_locales) if customer else []
    locale, matched = email_locale(preferred, settings.default_locale)
    if customer is not None and preferred and not matched:
        with _locale_fallback_lock:
            first = customer.id not in _locale_fallback_logged
            _locale_fallback_logged.add(customer.id)
        if first:
            log.info(
                "customer %s prefers %s, which Relance does not ship; their emails go out in %s",
                customer.id,
                ", ".join(preferred),
                locale,
                extra={"customer_id": customer.id, "locale": locale},
            )
    return locale


def _with_invoice_numbers(session, req: EmailRequest) -> EmailRequest:
    """Credit notes and refunds name their invoice by number when Relance knows it."""
    updates = {}
    for field in ("credit_note", "refund"):
        view = getattr(req, field)
        if view is not None and view.invoice_id and not view.invoice_number:
            rec = session.get(InvoiceRecord, view.invoice_id)
            if rec is not None and rec.number:
                updates[field] = view.model_copy(update={"invoice_number": rec.number})
    return req.model_copy(update=updates) if updates else req


async def _heartbeat_while_sending(every: float = 5.0) -> None:
    """A provider may take its whole timeout (30 s) to answer; the heartbeat tells Temporal
    the worker is alive meanwhile, so a dead one is noticed within the heartbeat timeout
    instead of the 2-minute start-to-close timeout. None before `every`: the heartbeat
    timeout counts from the start, and a heartbeat is a server write (Core sends an
    activity's first one at once), which most sends, done in milliseconds, never need."""
    while True:
        await asyncio.sleep(every)
        activity.heartbeat()


def _subscribers(engine: Engine, event_type: str) -> list[str]:
    with session_scope(engine) as session:
        return webhooks_store.subscribers(session, event_type)


async def _alert_webhook(engine: Engine, email: dict, provider: str, error: str) -> None:
    """`email.failed` (status "held") to the endpoints that subscribe, through the same
    WebhookWorkflow the workflows start; its id is derived from the email, so a retried
    activity cannot alert twice. Never fails the delivery: the log line is the fallback."""
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from activities.webhooks import WebhookEvent, event_id_for
    from relance.storage.tables import utcnow

    try:
        endpoints = await asyncio.to_thread(_subscribers, engine, "email.failed")
        if not endpoints:
            return
        event = WebhookEvent(
            id=event_id_for(f"{email['email_key']}:email.failed:held"),
            type="email.failed",
            timestamp=utcnow(),
            endpoint_ids=endpoints,
            data={**email, "status": "held", "provider": provider, "provider_message_id": None, "error": error},
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
    except Exception as exc:  # noqa: BLE001 - the alert must not hold up the hold
        log.warning("could not emit the email.failed alert webhook: %s", exc)


class EmailActivities:
    def __init__(self, engine: Engine, config: Config, transport: Transport) -> None:
        self.engine = engine
        self.config = config
        self.transport = transport

    # ---- prepare -------------------------------------------------------------------

    @activity.defn
    def prepare_email(self, req: EmailRequest) -> PreparedEmail:
        # No heartbeat: preparing takes milliseconds, well inside the heartbeat timeout
        # (HEARTBEAT in workflows/email_steps.py), which counts from the start and still
        # catches a dead worker; each heartbeat would be a server write.
        prepared, report = self._prepare(req)
        if report is not None:
            report()  # the outcome is committed: count and log it (activities/outcomes.py)
        return prepared

    def _prepare(self, req: EmailRequest) -> tuple[PreparedEmail, Callable[[], None] | None]:
        from activities import outcomes
        from relance.platform.metrics import RENDER_SECONDS, FailureReason, SuppressionReason

        ref = outcomes.EmailRef.of_request(req)
        with session_scope(self.engine) as session:
            entry = email_log.get_entry(session, req.idempotency_key)
            if entry is not None:
                if entry.status in email_log.FINAL_STATUSES:
                    return (
                        PreparedEmail(status="done", reason=f"already {entry.status}"),
                        partial(outcomes.suppressed, ref, SuppressionReason.duplicate),
                    )
                # Rendered by an earlier attempt that did not finish delivering: reuse it.
                return PreparedEmail(status="ready", documents=[DocumentRequest(**d) for d in entry.attachments]), None

            settings, _ = load_settings(session)
            row = dict(
                key=req.idempotency_key,
                kind=req.kind.value,
                customer_id=req.customer_id,
                invoice_id=req.invoice_id,
                scheduled_at=req.scheduled_at,
            )
            if not settings.email_enabled(req.kind):
                email_log.new_entry(session, status=email_log.SKIPPED, error="turned off in settings", **row)
                return (
                    PreparedEmail(status="skipped", reason="turned off in settings"),
                    partial(outcomes.suppressed, ref, SuppressionReason.switched_off),
                )

            customer = get_customer(session, req.customer_id)
            invoice_rec = session.get(InvoiceRecord, req.invoice_id) if req.invoice_id else None
            inv = None
            if req.invoice_id and req.invoice_revision:
                inv = load_invoice_document(session, req.invoice_id, req.invoice_revision)
            to, cc = recipients(customer, invoice_rec)
            if not to and invoice_rec is None:
                # No invoice of its own and no address on the customer: the one its invoices carry.
                related = (req.credit_note.invoice_id if req.credit_note else None) or (
                    req.refund.invoice_id if req.refund else None
                )
                to, cc = recipients(customer, None, billing_email_from_invoices(session, req.customer_id, related))
            # Addresses that hard-bounced or reported spam are not emailed again.
            to, cc, suppressed_note = drop_suppressed(session, to, cc)
            if not to and suppressed_note:
                email_log.new_entry(session, status=email_log.SKIPPED, error=suppressed_note, **row)
                return (
                    PreparedEmail(status="skipped", reason=suppressed_note, undeliverable=True),
                    partial(outcomes.suppressed, ref, SuppressionReason.suppressed_address),
                )
            if not to and customer is None and _customer_may_still_come():
                # Events arrive out of order (a backend's concurrent sends, Stripe's retries):
                # an invoice with no address of its own can come before its customer's
                # customer.created. Nothing is logged yet: the retry reads the customer again.
                # Benign: an expected wait, not a failure (the SDK logs it at DEBUG and does
                # not count it); one line of our own says it once.
                waiting = f"customer {req.customer_id} is not known yet; waiting for its customer event before emailing"
                if activity.info().attempt == 1:
                    log.info("%s %s", req.idempotency_key, waiting)
                raise ApplicationError(waiting, type=CUSTOMER_NOT_KNOWN_YET, category=ApplicationErrorCategory.BENIGN)
            if not to:
                no_address = "the customer has no email address"
                email_log.new_entry(session, status=email_log.FAILED, error=no_address, **row)
                return (
                    PreparedEmail(status="skipped", reason=no_address, undeliverable=True),
                    partial(outcomes.failed, ref, FailureReason.no_recipient, no_address),
                )

            req = _with_invoice_numbers(session, req)
            locale = _locale_for(customer, settings)
            if req.manual and inv is not None and inv.due_date is not None and req.reminder_days_from_due is None:
                tz = time_zone_for(settings, customer)
                days = (local_due_date(req.scheduled_at, tz) - local_due_date(inv.due_date, tz)).days
                req = req.model_copy(update={"reminder_days_from_due": days})
            documents = _documents_for(req, inv, locale) if settings.attach_pdf else []
            ctx = email_context(settings, req, customer, inv)
            with RENDER_SECONDS.labels(req.kind.value).time():
                content, template_note = _render(session, req, ctx, locale, [d.filename for d in documents])
            from_email, from_name, reply_to = sender_for(settings, self.config)
            message = OutgoingEmail(
                message_id=message_id_for(req.idempotency_key, from_email),
                from_email=from_email,
                from_name=from_name,
                reply_to=reply_to,
                to=to,
                cc=cc,
                subject=content.subject,
                html=content.html,
                text=content.text,
                tags={
                    "kind": req.kind.value,
                    "email_key": hashlib.sha256(req.idempotency_key.encode()).hexdigest()[:32],
                },
            )
            # The message is stored under the new row's id, so both are plain INSERTs.
            entry_id = email_log.new_entry_id()
            email_log.new_entry(
                session,
                id=entry_id,
                status=email_log.PENDING,
                to=to,
                cc=cc,
                from_email=from_email,
                subject=content.subject,
                locale=locale,
                note="; ".join(filter(None, [template_note, suppressed_note])) or None,
                attachments=[d.model_dump(mode="json") for d in documents],
                message_ref=add_document(
                    session, f"msg:{entry_id}", message.model_dump_json().encode(), "application/json"
                ),
                **row,
            )
            return PreparedEmail(status="ready", documents=documents), None

    # ---- documents -----------------------------------------------------------------

    @activity.defn
    def render_document(self, req: DocumentRequest) -> StoredAttachment:
        from relance.platform.metrics import PDF_RENDER_SECONDS
        from relance.rendering.context import customer_view, invoice_view
        from relance.rendering.pdf import DocumentContext
        from relance.rendering.pdf_pool import render_pdf_in_pool

        with session_scope(self.engine) as session:
            settings, version = load_settings(session)
            if req.credit_note is not None:
                digest = hashlib.sha256(req.credit_note.model_dump_json().encode()).hexdigest()[:24]
                key = f"pdf:credit_note:{req.credit_note.id}:{digest}:{req.locale}:s{version}"
            else:
                assert req.invoice_id and req.revision
                # Rendered once per invoice revision, locale and settings version, then reused
                # by every email that attaches it.
                key = f"pdf:{req.kind.value}:{req.invoice_id}:{req.revision[:24]}:{req.locale}:s{version}"
            if has_document(session, key):
                return StoredAttachment(ref=key, filename=req.filename)
            inv = None
            if req.invoice_id and req.revision:
                inv = load_invoice_document(session, req.invoice_id, req.revision)
            customer_id = req.customer_id or (inv.customer if inv else "")
            customer = get_customer(session, customer_id)
            ctx = DocumentContext(
                branding=settings.branding,
                customer=customer_view(customer, customer_id, inv),
                invoice=invoice_view(inv) if inv else None,
                credit_note=req.credit_note,
                timezone=time_zone_for(settings, customer),
            )
        # Timed here, in the worker, around the pool: the child processes have no registry.
        with PDF_RENDER_SECONDS.labels(req.kind.value).time():
            pdf = render_pdf_in_pool(req.kind, ctx, req.locale, on_wait=activity.heartbeat)
        with session_scope(self.engine) as session:
            put_document(session, key, pdf, "application/pdf")
        return StoredAttachment(ref=key, filename=req.filename)

    # ---- deliver -------------------------------------------------------------------

    def _load_outgoing(self, req: DeliveryRequest) -> tuple[str, OutgoingEmail | None, DeliveryResult | None]:
        with session_scope(self.engine) as session:
            entry = email_log.get_entry(session, req.idempotency_key)
            if entry is None:
                raise ApplicationError(f"no email log entry for {req.idempotency_key}", non_retryable=True)
            if entry.status in email_log.FINAL_STATUSES:
                return (
                    entry.status,
                    None,
                    DeliveryResult(
                        status=entry.status,
                        provider=entry.provider,
                        provider_message_id=entry.provider_message_id,
                        error=entry.error,
                    ),
                )
            message = OutgoingEmail.model_validate_json(get_document(session, entry.message_ref))
            message.attachments = [
                Attachment(filename=a.filename, content_type=a.content_type, content=get_document(session, a.ref))
                for a in req.attachments
            ]
            return entry.status, message, None

    def _record(
        self,
        key: str,
        outcome: str,
        *,
        provider: str | None = None,
        provider_message_id: str | None = None,
        error: str | None = None,
        attachments: list[StoredAttachment] = (),
    ) -> EmailRef | None:
        """The email's identity, or None when the row already said `outcome` (a second
        attempt that raced the first): that one counted it."""
        from activities.outcomes import EmailRef

        with session_scope(self.engine) as session:
            entry = email_log.get_entry(session, key)
            assert entry is not None
            ref = EmailRef.of(entry) if entry.status != outcome else None
            if outcome == "sent":
                email_log.mark_sent(session, entry, provider or "", provider_message_id)
                # The stored PDFs it carried, so the log can show the email exactly as sent.
                refs = {a.filename: a.ref for a in attachments}
                entry.attachments = [{**d, "ref": refs.get(d["filename"])} for d in entry.attachments]
                if self.transport.credential_fingerprint is not None:
                    transport_holds.clear_hold(session, entry.provider or provider or "")
            elif outcome == "failed":
                email_log.mark_failed(session, entry, error or "failed", provider)
            else:
                email_log.note_attempt(session, entry, error, provider)
        return ref

    @activity.defn
    async def deliver_email(self, req: DeliveryRequest) -> DeliveryResult:
        result = await self._deliver(req)
        if result.status not in ("sent", "failed"):
            return result
        # Who subscribes to email.sent / email.failed, read here rather than by a local
        # activity of the workflow: one Temporal round trip fewer per email.
        endpoints = await asyncio.to_thread(_subscribers, self.engine, f"email.{result.status}")
        return result.model_copy(update={"webhook_endpoints": endpoints})

    async def _deliver(self, req: DeliveryRequest) -> DeliveryResult:
        from activities import outcomes
        from relance.platform.metrics import DELIVERY_SECONDS, FailureReason, RetryReason

        _, message, done = await asyncio.to_thread(self._load_outgoing, req)
        if done is not None:
            return done
        assert message is not None
        provider = self.transport.name
        credentials = self.transport.credential_fingerprint
        if credentials is not None:
            hold = await asyncio.to_thread(self._held, provider, credentials)
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
            ref = await asyncio.to_thread(self._record, req.idempotency_key, "retry", provider=provider, error=str(exc))
            outcomes.retrying(ref, provider, RetryReason.transient, str(exc))
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
            raise ApplicationError(str(exc), type="RetryableDeliveryError", next_retry_delay=delay) from None
        except ValueError as exc:
            # An address or header refused when the message was built.
            await self._failed(req.idempotency_key, provider, FailureReason.invalid, str(exc))
            return DeliveryResult(status="failed", provider=provider, error=str(exc))
        finally:
            alive.cancel()
        ref = await asyncio.to_thread(
            self._record,
            req.idempotency_key,
            "sent",
            provider=outcome.provider,
            provider_message_id=outcome.provider_message_id,
            attachments=req.attachments,
        )
        if ref is not None:
            outcomes.sent(ref, outcome.provider)
        return DeliveryResult(status="sent", provider=outcome.provider, provider_message_id=outcome.provider_message_id)

    async def _failed(self, key: str, provider: str, reason: FailureReason, error: str) -> None:
        from activities import outcomes

        ref = await asyncio.to_thread(self._record, key, "failed", provider=provider, error=error)
        if ref is not None:
            outcomes.failed(ref, reason, error)

    # ---- refused credentials (a hold on the whole transport) --------------------------

    def _held(self, provider: str, credentials: str):
        with session_scope(self.engine) as session:
            return transport_holds.held(
                session, provider, credentials, timedelta(seconds=self.config.hold_probe_seconds)
            )

    async def _hold(self, key: str, provider: str, reason: str) -> None:
        """Not sent, not failed: pending, retried every RELANCE_HOLD_RETRY_SECONDS (its 3-day
        window still applies, after which it fails and is reported like any other failure)."""
        from activities import outcomes
        from relance.platform.metrics import RetryReason

        ref = await asyncio.to_thread(self._record, key, "retry", provider=provider, error=reason)
        outcomes.retrying(ref, provider, RetryReason.held, reason)
        raise ApplicationError(
            reason, type="TransportHeld", next_retry_delay=timedelta(seconds=self.config.hold_retry_seconds)
        )

    def _open_hold(self, key: str, provider: str, credentials: str, error: str) -> dict | None:
        """The email's identity if this refusal opened the hold (and so raises the alert)."""
        with session_scope(self.engine) as session:
            if not transport_holds.open_hold(
                session, provider, credentials, error, timedelta(seconds=self.config.hold_probe_seconds)
            ):
                return None
            entry = email_log.get_entry(session, key)
            assert entry is not None
            return {
                "email_key": key,
                "kind": entry.kind,
                "customer_id": entry.customer_id,
                "invoice_id": entry.invoice_id,
            }

    async def _credentials_refused(self, key: str, provider: str, credentials: str, exc: DeliveryError) -> None:
        opened = await asyncio.to_thread(self._open_hold, key, provider, credentials, str(exc))
        if opened is not None:
            # The one alert: an error line, and an email.failed webhook (status "held").
            log.error(
                "%s refused Relance's credentials: emails are held (pending, not sent) until they are "
                "fixed, then go out; email %s was the first. %s",
                provider,
                key,
                exc,
            )
            await _alert_webhook(self.engine, opened, provider, str(exc))
        await self._hold(key, provider, f"held: {exc}")

    @activity.defn
    def record_delivery_failure(self, failure: FailureRecord) -> None:
        """Retries ran out (the provider stayed down) or the email could not be prepared:
        the log says so instead of staying 'pending' or showing nothing."""
        from activities import outcomes
        from relance.platform.metrics import FailureReason

        req = failure.request
        reason = None
        with session_scope(self.engine) as session:
            entry = email_log.get_entry(session, req.idempotency_key)
            if entry is None:
                email_log.new_entry(
                    session,
                    key=req.idempotency_key,
                    kind=req.kind.value,
                    customer_id=req.customer_id,
                    invoice_id=req.invoice_id,
                    scheduled_at=req.scheduled_at,
                    status=email_log.FAILED,
                    error=failure.error[:2000],
                )
                reason = FailureReason.error
            elif entry.status not in email_log.FINAL_STATUSES:
                # Why it was still pending: a hold (the last attempt raised TransportHeld),
                # a provider outage (attempts noted), or neither.
                if failure.error_type is not None:
                    held = failure.error_type == "TransportHeld"
                else:  # a run from before error_type was passed: _hold's note says it
                    held = (entry.error or "").startswith("held")
                if held:
                    reason = FailureReason.held
                else:
                    reason = FailureReason.provider_unavailable if entry.attempts else FailureReason.error
                email_log.mark_failed(session, entry, failure.error)
        if reason is not None:
            outcomes.failed(outcomes.EmailRef.of_request(req), reason, failure.error)
