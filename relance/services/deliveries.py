"""The email log's side of delivering: the stored message to send, and each outcome
(sent, failed, retrying, held) written once and reported once.

Each method is one transaction and blocks: async callers run them in a thread. Sending
itself is the caller's (the transports are Temporal adapters' business).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy.engine import Engine

from relance.contracts.messages import Attachment, OutgoingEmail
from relance.contracts.models import DeliveryRequest, DeliveryResult, FailureRecord, StoredAttachment
from relance.platform.metrics import FailureReason
from relance.services import outcomes
from relance.services.outcomes import EmailRef
from relance.storage import email_log, transport_holds, webhooks_store
from relance.storage.database import session_scope
from relance.storage.documents import get_document
from relance.storage.tables import TransportHoldRecord

Outcome = Literal["sent", "failed", "retry"]


def _as_sent(logged: dict[str, Any], sent: StoredAttachment | None) -> dict[str, Any]:
    out = {**logged, "ref": sent.ref if sent else None}
    if sent is not None and sent.companion is not None:
        out["xml"] = sent.companion.logged()
    return out


class NoSuchEmail(LookupError):
    """Delivery asked for an email no preparation logged."""


class DeliveryLog:
    def __init__(self, engine: Engine, hold_probe: timedelta) -> None:
        self.engine = engine
        self.hold_probe = hold_probe

    def outgoing(self, req: DeliveryRequest) -> OutgoingEmail | DeliveryResult:
        """The message to send with its attachments, or the result already logged when
        the email is final (a retried or replayed delivery)."""
        with session_scope(self.engine) as session:
            entry = email_log.get_entry(session, req.idempotency_key)
            if entry is None:
                raise NoSuchEmail(f"no email log entry for {req.idempotency_key}")
            if entry.status in email_log.FINAL_STATUSES:
                return DeliveryResult(
                    status=entry.status,
                    provider=entry.provider,
                    provider_message_id=entry.provider_message_id,
                    error=entry.error,
                )
            if entry.message_ref is None:
                raise LookupError(f"email log entry {req.idempotency_key} has no stored message")
            message = OutgoingEmail.model_validate_json(get_document(session, entry.message_ref))
            # A PDF's e-invoice XML, when it also goes as a file of its own, follows it.
            files = [f for a in req.attachments for f in (a, a.companion) if f is not None]
            message.attachments = [
                Attachment(filename=f.filename, content_type=f.content_type, content=get_document(session, f.ref))
                for f in files
            ]
            return message

    def note_einvoices(self, key: str, attachments: Sequence[StoredAttachment]) -> list[dict[str, Any]]:
        """Writes what became of the e-invoices the email carries on its log row; returns
        the `einvoice.invalid` webhook data of each one that went as a plain PDF."""
        carried = [(a, a.einvoice) for a in attachments if a.einvoice is not None]
        if not carried:
            return []
        with session_scope(self.engine) as session:
            entry = email_log.get_entry(session, key)
            assert entry is not None
            entry.einvoice = "; ".join(outcome.summary() for _, outcome in carried)
            session.add(entry)
            return [
                {
                    "email_key": key,
                    "kind": entry.kind,
                    "customer_id": entry.customer_id,
                    "invoice_id": entry.invoice_id,
                    "document": a.filename,
                    "profile": outcome.profile,
                    "sent_as": "plain_pdf",
                    "rules": list(dict.fromkeys(f.rule for f in outcome.failures)),
                    "failures": [f.model_dump() for f in outcome.failures[:20]],
                }
                for a, outcome in carried
                if outcome.status == "invalid"
            ]

    def record(
        self,
        key: str,
        outcome: Outcome,
        *,
        provider: str | None = None,
        provider_message_id: str | None = None,
        error: str | None = None,
        attachments: Sequence[StoredAttachment] = (),
        clears_hold: bool = False,
    ) -> EmailRef | None:
        """The email's identity, or None when the row already said `outcome` (a second
        attempt that raced the first): that one counted it. `clears_hold`: a sent email
        proves the transport's credentials work again."""
        with session_scope(self.engine) as session:
            entry = email_log.get_entry(session, key)
            assert entry is not None
            ref = EmailRef.of(entry) if entry.status != outcome else None
            if outcome == "sent":
                email_log.mark_sent(session, entry, provider or "", provider_message_id)
                # The stored PDFs it carried, and the e-invoice XML that went beside one
                # as a file of its own, so the log can show the email exactly as sent.
                sent = {a.filename: a for a in attachments}
                entry.attachments = [_as_sent(d, sent.get(d["filename"])) for d in entry.attachments]
                if clears_hold:
                    transport_holds.clear_hold(session, entry.provider or provider or "")
            elif outcome == "failed":
                email_log.mark_failed(session, entry, error or "failed", provider)
            else:
                email_log.note_attempt(session, entry, error, provider)
        return ref

    def failed(self, key: str, provider: str, reason: FailureReason, error: str) -> None:
        ref = self.record(key, "failed", provider=provider, error=error)
        if ref is not None:
            outcomes.failed(ref, reason, error)

    def subscribers(self, event_type: str) -> list[str]:
        with session_scope(self.engine) as session:
            return webhooks_store.subscribers(session, event_type)

    # ---- refused credentials (a hold on the whole transport) --------------------------

    def hold_on(self, provider: str, credentials: str) -> TransportHoldRecord | None:
        """The hold that stops this delivery, or None to go ahead (see transport_holds.held)."""
        with session_scope(self.engine) as session:
            return transport_holds.held(session, provider, credentials, self.hold_probe)

    def open_hold(self, key: str, provider: str, credentials: str, error: str) -> dict[str, str | None] | None:
        """The email's identity if this refusal opened the hold (and so raises the alert)."""
        with session_scope(self.engine) as session:
            if not transport_holds.open_hold(session, provider, credentials, error, self.hold_probe):
                return None
            entry = email_log.get_entry(session, key)
            assert entry is not None
            return {
                "email_key": key,
                "kind": entry.kind,
                "customer_id": entry.customer_id,
                "invoice_id": entry.invoice_id,
            }

    # ---- retries ran out ------------------------------------------------------------

    def record_failure(self, failure: FailureRecord) -> None:
        """Retries ran out (the provider stayed down) or the email could not be prepared:
        the log says so instead of staying 'pending' or showing nothing."""
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
                else:  # a run from before error_type was passed: the hold's note says it
                    held = (entry.error or "").startswith("held")
                if held:
                    reason = FailureReason.held
                else:
                    reason = FailureReason.provider_unavailable if entry.attempts else FailureReason.error
                email_log.mark_failed(session, entry, failure.error)
        if reason is not None:
            outcomes.failed(EmailRef.of_request(req), reason, failure.error)
