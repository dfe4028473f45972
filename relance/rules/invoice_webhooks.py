"""Which webhook an invoice event owes, once applied to the merged state.

Pure, so the invoice workflow (which emits it) and the activity that records the event
(which reads its subscribers in the same transaction) agree on it.
"""

from __future__ import annotations

from relance.contracts.models import TERMINAL_STATUSES, InvoiceState

PAID_TYPES = frozenset({"invoice.paid", "invoice.payment_succeeded"})


def invoice_event_type(signal_type: str, state: InvoiceState) -> str | None:
    """The webhook type owed for a Stripe event applied to the merged state, or None.
    Independent of which emails are turned on and of the collection method."""
    final = state.status in TERMINAL_STATUSES
    if signal_type == "invoice.finalized":
        return "invoice.finalized"
    if signal_type in ("invoice.payment_failed", "invoice.payment_action_required") and not final:
        return signal_type
    if signal_type in PAID_TYPES and state.status == "paid":
        return "invoice.paid"
    if signal_type == "invoice.voided" and state.status == "void":
        return "invoice.voided"
    if signal_type == "invoice.marked_uncollectible" and state.status == "uncollectible":
        return "invoice.marked_uncollectible"
    return None


def invoice_event_for(signal_type: str, state: InvoiceState, occurrence: str) -> tuple[str, str] | None:
    """(webhook type, key) owed, or None. The key is the event's business identity: a
    payment failure is one event per attempt, the others one per invoice."""
    event_type = invoice_event_type(signal_type, state)
    if event_type is None:
        return None
    if event_type in ("invoice.payment_failed", "invoice.payment_action_required"):
        return event_type, f"{state.invoice_id}:{event_type}:{occurrence}"
    return event_type, f"{state.invoice_id}:{event_type}"
