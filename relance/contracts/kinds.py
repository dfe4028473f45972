"""The kinds of email Relance sends. One name per email, used in settings, the log,
templates (`templates/email/<kind>.*`) and the simulator's output."""

from enum import StrEnum


class EmailKind(StrEnum):
    invoice_finalized = "invoice_finalized"
    invoice_reminder = "invoice_reminder"
    payment_failed = "payment_failed"
    payment_action_required = "payment_action_required"
    receipt = "receipt"
    card_expiring = "card_expiring"
    credit_note_created = "credit_note_created"
    refund_issued = "refund_issued"
    trial_ending = "trial_ending"
    subscription_canceled = "subscription_canceled"


class DocumentKind(StrEnum):
    """PDFs Relance renders and attaches."""

    invoice = "invoice"
    receipt = "receipt"
    credit_note = "credit_note"
