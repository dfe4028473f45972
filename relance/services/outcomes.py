"""What operators see of each email's outcome: one log line (identifiers only, never an
address, subject or body) and one counter, emitted once the email log has committed
the outcome, so a retried activity reports nothing twice.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from relance.contracts.models import EmailRequest
from relance.platform import metrics
from relance.platform.metrics import FailureReason, RetryReason, SuppressionReason
from relance.storage.tables import EmailLogEntry

log = logging.getLogger("relance.delivery")

# A provider's error can quote the recipient ("550 5.1.1 <ap@client.fr>: unknown user").
# Logs carry identifiers, not addresses: the local part is masked, the domain (what an
# operator needs to tell a dead mailbox from a dead provider) stays. The email log keeps
# the full text for the customer's record.
_LOCAL_PART = re.compile(r"[^\s<>()\[\]\\,;:\"'@]+@(?=[A-Za-z0-9.-]+)")


def masked(detail: str) -> str:
    return _LOCAL_PART.sub("***@", detail[:500])


@dataclass(frozen=True)
class EmailRef:
    key: str
    kind: str
    customer_id: str
    invoice_id: str | None

    @classmethod
    def of(cls, entry: EmailLogEntry) -> EmailRef:
        return cls(
            key=entry.idempotency_key, kind=entry.kind, customer_id=entry.customer_id, invoice_id=entry.invoice_id
        )

    @classmethod
    def of_request(cls, req: EmailRequest) -> EmailRef:
        return cls(key=req.idempotency_key, kind=req.kind.value, customer_id=req.customer_id, invoice_id=req.invoice_id)

    def fields(self, **more: str) -> dict[str, str | None]:
        return {
            "email_key": self.key,
            "kind": self.kind,
            "customer_id": self.customer_id,
            "invoice_id": self.invoice_id,
            **more,
        }


def sent(email: EmailRef, transport: str) -> None:
    metrics.EMAILS_SENT.labels(email.kind, transport).inc()
    log.info("email %s sent via %s", email.key, transport, extra=email.fields(status="sent", transport=transport))


def failed(email: EmailRef, reason: FailureReason, detail: str) -> None:
    metrics.EMAILS_FAILED.labels(email.kind, reason.value).inc()
    # `detail` is the provider's or Relance's error text, which never quotes the message.
    log.warning(
        "email %s failed (%s): %s",
        email.key,
        reason.value,
        masked(detail),
        extra=email.fields(status="failed", reason=reason.value),
    )


def suppressed(email: EmailRef, reason: SuppressionReason) -> None:
    metrics.EMAILS_SUPPRESSED.labels(email.kind, reason.value).inc()
    log.info(
        "email %s not sent (%s)", email.key, reason.value, extra=email.fields(status="suppressed", reason=reason.value)
    )


def retrying(email: EmailRef, transport: str, reason: RetryReason, detail: str) -> None:
    metrics.DELIVERY_RETRIES.labels(transport, reason.value).inc()
    if reason == RetryReason.held:
        return  # every held email retries on a timer; the hold's one ERROR line is the alert
    log.info(
        "email %s not delivered yet, will retry (%s): %s",
        email.key,
        reason.value,
        masked(detail),
        extra=email.fields(status="pending", reason=reason.value, transport=transport),
    )
