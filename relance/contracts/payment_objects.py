"""Stripe's payment objects (charge, payment intent, invoice payment), parsed and turned
into a `PaymentAttempt`: how one attempt to collect an invoice went, with which method.

Fields Relance does not use are ignored, as for every object (`events.py`). A charge
names its invoice only in API versions before 2025-03-31 (`charge.invoice`); from then on
the tie is the payment intent, which the invoice (`invoice.payment_intent` before then,
its expanded `payments` list after) or an invoice payment
(`invoice_payment.payment.payment_intent`) names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from relance.contracts.events import InvoicePaymentEntry, ObjectId, StripeObject, Timestamp
from relance.contracts.payments import PaymentAttempt, PaymentOutcome


class MethodDetails(StripeObject):
    """`payment_method_details` of a charge, or a payment method object: its `type` and,
    from the sub-object of that name (`card`, `sepa_debit`, `us_bank_account`, ...), the
    brand (a card's) or bank name (a bank account's) and the last four digits."""

    type: str | None = Field(default=None, max_length=100)
    brand: str | None = Field(default=None, max_length=100)
    last4: str | None = Field(default=None, max_length=4)

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kind = data.get("type")
        sub = data.get(kind) if isinstance(kind, str) else None
        if not isinstance(sub, dict):
            return {"type": kind}
        return {"type": kind, "brand": sub.get("brand") or sub.get("bank_name"), "last4": sub.get("last4")}


class ChargeOutcome(StripeObject):
    type: str | None = None  # authorized, issuer_declined, blocked, invalid, ...
    reason: str | None = None  # for issuer_declined: the bank's decline code


class PaymentCharge(StripeObject):
    id: str = Field(min_length=1, max_length=255)
    object: str = "charge"
    customer: ObjectId | None = None
    invoice: ObjectId | None = None
    payment_intent: ObjectId | None = None
    created: Timestamp | None = None
    status: str | None = None
    failure_code: str | None = Field(default=None, max_length=100)
    failure_message: str | None = Field(default=None, max_length=5000)
    outcome: ChargeOutcome | None = None
    payment_method_details: MethodDetails | None = None
    receipt_number: str | None = Field(default=None, max_length=255)

    def decline_code(self) -> str | None:
        """The bank's own code when it declined (insufficient_funds, expired_card...),
        else Stripe's failure code; a charge Radar blocked says so."""
        outcome = self.outcome
        if outcome is not None and outcome.type == "issuer_declined" and outcome.reason:
            return outcome.reason
        if outcome is not None and outcome.type == "blocked":
            return "blocked"
        return self.failure_code


class PaymentError(StripeObject):
    code: str | None = Field(default=None, max_length=100)
    decline_code: str | None = Field(default=None, max_length=100)
    message: str | None = Field(default=None, max_length=5000)
    charge: ObjectId | None = None
    payment_method: MethodDetails | None = None


class PaymentIntent(StripeObject):
    id: str = Field(min_length=1, max_length=255)
    object: str = "payment_intent"
    customer: ObjectId | None = None
    invoice: ObjectId | None = None  # API versions before 2025-03-31
    latest_charge: ObjectId | None = None
    last_payment_error: PaymentError | None = None


class InvoicePayment(InvoicePaymentEntry):
    id: str = Field(min_length=1, max_length=255)
    object: str = "invoice_payment"
    invoice: ObjectId = Field(min_length=1, max_length=255)


PAYMENT_OBJECTS: dict[str, type[BaseModel]] = {
    "charge.succeeded": PaymentCharge,
    "charge.failed": PaymentCharge,
    "payment_intent.payment_failed": PaymentIntent,
    "invoice_payment.paid": InvoicePayment,
}


def _outcome(event_type: str) -> PaymentOutcome:
    return "failed" if event_type.endswith("failed") else "succeeded"


def _attempt(method: MethodDetails | None, **fields: Any) -> PaymentAttempt:
    """An attempt with the method a charge or a payment error names."""
    method = method or MethodDetails()
    return PaymentAttempt(method_type=method.type, brand=method.brand, last4=method.last4, **fields)


def payment_attempt(event_type: str, obj: BaseModel, created: datetime) -> PaymentAttempt:
    """The attempt an event reports. `created`: the event's time."""
    outcome = _outcome(event_type)
    if isinstance(obj, PaymentCharge):
        failed = outcome == "failed"
        return _attempt(
            obj.payment_method_details,
            key=obj.id,
            charge_id=obj.id,
            payment_intent_id=obj.payment_intent,
            invoice_id=obj.invoice,
            customer_id=obj.customer,
            outcome=outcome,
            failure_code=obj.decline_code() if failed else None,
            failure_message=obj.failure_message if failed else None,
            receipt_number=obj.receipt_number,
            paid_at=None if failed else (obj.created or created),
        )
    if isinstance(obj, PaymentIntent):
        error = obj.last_payment_error or PaymentError()
        charge = error.charge or obj.latest_charge
        return _attempt(
            error.payment_method,
            key=charge or obj.id,
            charge_id=charge,
            payment_intent_id=obj.id,
            invoice_id=obj.invoice,
            customer_id=obj.customer,
            outcome=outcome,
            failure_code=error.decline_code or error.code,
            failure_message=error.message,
        )
    assert isinstance(obj, InvoicePayment)
    target = obj.payment
    return PaymentAttempt(
        key=target.charge or target.payment_intent or obj.id,
        charge_id=target.charge,
        payment_intent_id=target.payment_intent,
        invoice_id=obj.invoice,
        outcome=outcome,
        paid_at=obj.paid_at or created,
    )
