"""Which payment attempt an invoice event is about, and whether its email waits for it.

Stripe sends a charge's events and its invoice's in no fixed order. An email about a
payment (the failure notice, the receipt) names the method and the decline reason, which
only the charge's events carry: when they have not come yet, the invoice's workflow waits
a little for them (`DETAILS_WAIT`), then sends with generic wording.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from relance.contracts.models import TERMINAL_STATUSES
from relance.contracts.payments import PaymentOutcome
from relance.rules.invoice_webhooks import PAID_TYPES

DETAILS_WAIT = timedelta(minutes=2)

FAILED_ATTEMPT_TYPES = ("invoice.payment_failed", "invoice.payment_action_required")

# A failed charge belongs to the invoice.payment_failed that follows or precedes it by
# moments; Stripe's retries are hours or days apart, so anything further away is another
# attempt's.
SAME_ATTEMPT = timedelta(hours=1)


def same_attempt(attempted_at: datetime, invoice_event_at: datetime) -> bool:
    return abs(attempted_at - invoice_event_at) <= SAME_ATTEMPT


def attempt_window(invoice_event_at: datetime) -> tuple[datetime, datetime]:
    """When the charge of the attempt an invoice event reports was made."""
    return invoice_event_at - SAME_ATTEMPT, invoice_event_at + SAME_ATTEMPT


def awaited_outcome(
    event_type: str, status: str, collection_method: str, has_payment_intent: bool
) -> PaymentOutcome | None:
    """The outcome whose details the email this event owes names: a failure notice's
    attempt, a 3D Secure notice's (its off-session try failed with authentication_required),
    or a receipt's payment when Stripe charged it (an invoice paid out of band has no charge
    to wait for)."""
    if event_type in FAILED_ATTEMPT_TYPES and status not in TERMINAL_STATUSES:
        return "failed"
    if (
        event_type in PAID_TYPES
        and status == "paid"
        and (collection_method == "charge_automatically" or has_payment_intent)
    ):
        return "succeeded"
    return None


def is_final_attempt(collection_method: str, next_payment_attempt: datetime | None) -> bool:
    """Stripe leaves `next_payment_attempt` empty once its retries are over."""
    return collection_method == "charge_automatically" and next_payment_attempt is None
