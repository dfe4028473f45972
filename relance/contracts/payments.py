"""Payment attempts, as Relance keeps them: what a charge, a payment intent or an invoice
payment tells of one try to collect an invoice, in one shape whatever event said it.

Kept apart from the Stripe objects (`payment_objects.py`) so that workflows and storage
use these small models without the parsing behind them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

PaymentOutcome = Literal["succeeded", "failed"]


class PaymentAttempt(BaseModel):
    """One attempt, normalized. `key` is the charge's id, else the payment intent's, else
    the invoice payment's: the reports of one charge (charge.failed and
    payment_intent.payment_failed) merge into one record."""

    key: str
    charge_id: str | None = None
    payment_intent_id: str | None = None
    invoice_id: str | None = None
    customer_id: str | None = None
    outcome: PaymentOutcome | None = None
    method_type: str | None = None  # card, sepa_debit, us_bank_account, link, paypal, ...
    brand: str | None = None  # a card's brand (visa), or a bank account's bank name
    last4: str | None = None
    failure_code: str | None = None  # the decline code when the bank gave one, else Stripe's failure code
    failure_message: str | None = None
    receipt_number: str | None = None
    paid_at: datetime | None = None

    def has_details(self) -> bool:
        """Whether it says how the customer paid or why it failed (an invoice payment
        only says that it was paid)."""
        return self.method_type is not None or self.failure_code is not None


class PaymentNotice(BaseModel):
    """From a payment's workflow to its invoice's: an attempt was stored."""

    event_id: str
    outcome: PaymentOutcome | None = None
    attempted_at: datetime  # the event's time
    has_details: bool = False
