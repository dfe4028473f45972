"""The payment an email or a PDF describes: a receipt's, or a failed attempt's.

    facts = receipt_payment_facts(session, invoice)   # the receipt email and the receipt PDF

Read at send or render time from what the payment events stored (relance/storage/
payments.py), completed with what the invoice itself says (its paid date, its receipt
number), so a receipt for an invoice paid with no charge event still has both.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from relance.contracts.documents import PaymentFacts
from relance.contracts.events import Invoice
from relance.rules.payment_attempts import attempt_window
from relance.storage.payments import payment_facts_for


def receipt_payment_facts(session: Session, invoice: Invoice) -> PaymentFacts | None:
    """How the invoice was paid: method, paid date, receipt number. None when nothing
    says it was paid."""
    facts = payment_facts_for(session, invoice.id, "succeeded")
    paid_at = invoice.paid_at
    if facts is None:
        if invoice.status != "paid" and paid_at is None:
            return None
        facts = PaymentFacts(outcome="succeeded")
    return facts.model_copy(
        update={
            "paid_at": paid_at or facts.paid_at,
            "receipt_number": invoice.receipt_number or facts.receipt_number,
        }
    )


def failed_payment_facts(session: Session, invoice_id: str, attempted_at: datetime | None) -> PaymentFacts | None:
    """The failed attempt an invoice.payment_failed of `attempted_at` reports (an earlier
    attempt's decline is not this one's); None when no event described it."""
    within = attempt_window(attempted_at) if attempted_at is not None else None
    return payment_facts_for(session, invoice_id, "failed", within=within)
