"""Workflow ids: from object ids only (never emails or names, which Temporal stores in clear)."""


def invoice_workflow_id(invoice_id: str) -> str:
    return f"invoice-{invoice_id}"


def customer_workflow_id(customer_id: str) -> str:
    return f"customer-{customer_id}"


def card_workflow_id(payment_method_id: str) -> str:
    return f"card-{payment_method_id}"


def subscription_workflow_id(subscription_id: str) -> str:
    return f"subscription-{subscription_id}"


def credit_note_workflow_id(credit_note_id: str) -> str:
    return f"credit-note-{credit_note_id}"


def tax_rate_workflow_id(tax_rate_id: str) -> str:
    return f"tax-rate-{tax_rate_id}"


def refund_workflow_id(charge_id: str | None, refund_id: str | None) -> str:
    # Both reports of a refund (refund.created, charge.refunded) meet in the charge's workflow.
    return f"charge-{charge_id}" if charge_id else f"refund-{refund_id}"


def operator_email_workflow_id(email_id: str) -> str:
    # A resend's or a test send's new log row id, a digest of its idempotency key.
    return f"email-{email_id}"


def payment_workflow_id(attempt_key: str, payment_intent_id: str | None) -> str:
    # The events of one payment intent (its charges, its failures, its invoice payment)
    # meet in one workflow, applied in order.
    return f"payment-{payment_intent_id or attempt_key}"
