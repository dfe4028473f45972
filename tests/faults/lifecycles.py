"""A batch of invoice lifecycles and the emails it must produce, exactly once each.

- `send_invoice` invoices: finalized, then paid → the invoice email and the receipt;
- `charge_automatically` invoices: finalized, a failed payment (attempt 1), then paid →
  the payment-failed notice and the receipt (no invoice email for those).

Expected log keys follow the workflow's idempotency keys (invoice:kind:occurrence).
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.events import event, invoice


@dataclass
class Lifecycle:
    invoice_id: str
    customer_id: str
    automatic: bool
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def expected_keys(self) -> set[str]:
        first = (
            f"{self.invoice_id}:payment_failed:attempt-1"
            if self.automatic
            else f"{self.invoice_id}:invoice_finalized:finalized"
        )
        return {first, f"{self.invoice_id}:receipt:paid"}

    @property
    def workflow_ids(self) -> set[str]:
        return {f"invoice-{self.invoice_id}"}


def batch(
    prefix: str, count: int, *, automatic_every: int = 3, email_domain: str = "client-demo.fr"
) -> list[Lifecycle]:
    """`count` lifecycles; every `automatic_every`-th is charge_automatically."""
    now = datetime.now(UTC).replace(microsecond=0)
    out = []
    for i in range(count):
        inv_id, cus_id = f"in_{prefix}{i:03d}", f"cus_{prefix}{i % 7}"
        automatic = i % automatic_every == automatic_every - 1
        method = "charge_automatically" if automatic else "send_invoice"
        obj = invoice(
            inv_id,
            cus_id,
            collection_method=method,
            email=f"ap{i % 7}@{email_domain}",
            due=None if automatic else now + timedelta(days=30),
            number=f"F-{prefix}-{i:03d}",
        )
        life = Lifecycle(inv_id, cus_id, automatic)
        life.events.append(event("invoice.finalized", obj, created=now))
        if automatic:
            life.events.append(
                event("invoice.payment_failed", dict(obj, attempt_count=1), created=now + timedelta(seconds=1))
            )
        paid = dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)
        life.events.append(event("invoice.paid", paid, created=now + timedelta(seconds=2)))
        out.append(life)
    return out


def expected_keys(lives: list[Lifecycle]) -> set[str]:
    return set().union(*(life.expected_keys for life in lives))


def outbox_message_ids(outbox: Path) -> list[str]:
    """The Message-ID of every .eml in the outbox, one per file (duplicates kept)."""
    ids = []
    for path in sorted(outbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        ids.append(str(msg["Message-ID"]))
    return ids
