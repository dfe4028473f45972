"""Stripe-shaped events for tests, built on Stripe's own fixture objects
(tests/specs/stripe/fixtures3.json) so tests exercise real shapes."""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel

from relance.contracts.events import InvoiceEvent, parse_event
from relance.contracts.models import InvoiceSignal
from tests.support.specs import specs_dir

SPECS = specs_dir()
_ids = itertools.count(1)

E = TypeVar("E", bound=BaseModel)


@lru_cache(maxsize=1)
def stripe_fixtures() -> dict[str, Any]:
    return json.loads((SPECS / "stripe" / "fixtures3.json").read_text())["resources"]


def ts(dt: datetime) -> int:
    return int(dt.timestamp())


def invoice(
    invoice_id: str,
    customer_id: str = "cus_test",
    *,
    status: str = "open",
    collection_method: str = "send_invoice",
    due: datetime | None = None,
    amount: int = 123450,
    currency: str = "eur",
    number: str | None = None,
    attempt_count: int = 0,
    next_payment_attempt: datetime | None = None,
    email: str | None = "billing@customer.test",
    lines: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    obj = copy.deepcopy(stripe_fixtures()["invoice"])
    line = obj["lines"]["data"][0]
    obj["lines"]["data"] = []
    per_line = amount // max(lines, 1)
    for i in range(lines):
        item = copy.deepcopy(line)
        item.update(
            id=f"il_{invoice_id}_{i}",
            amount=per_line,
            currency=currency,
            description=f"Consulting, item {i + 1}",
            invoice=invoice_id,
        )
        obj["lines"]["data"].append(item)
    paid = amount if status == "paid" else 0
    obj.update(
        id=invoice_id,
        customer=customer_id,
        status=status,
        collection_method=collection_method,
        due_date=ts(due) if due else None,
        currency=currency,
        amount_due=amount,
        amount_paid=paid,
        amount_remaining=amount - paid,
        subtotal=amount,
        total=amount,
        number=number or f"INV-{invoice_id[-6:]}",
        attempt_count=attempt_count,
        next_payment_attempt=ts(next_payment_attempt) if next_payment_attempt else None,
        customer_email=email,
        customer_name="Ada Lovelace",
        hosted_invoice_url=f"https://pay.example.test/{invoice_id}",
    )
    # Stripe's fixture names a placeholder parent ("subscription"): by default an invoice
    # here is a one-off one, as the builder's send_invoice default describes.
    obj["parent"] = None
    obj.update(extra)
    return obj


def customer(
    customer_id: str = "cus_test",
    *,
    email: str | None = "ada@customer.test",
    locales: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    obj = copy.deepcopy(stripe_fixtures()["customer"])
    obj.update(id=customer_id, email=email, name="Ada Lovelace", preferred_locales=locales or [])
    obj.update(extra)
    return obj


def event(
    event_type: str, obj: dict[str, Any], created: datetime | None = None, event_id: str | None = None
) -> dict[str, Any]:
    created = created or datetime.now(UTC)
    return {
        "id": event_id or f"evt_test_{next(_ids)}",
        "object": "event",
        "type": event_type,
        "created": ts(created),
        "data": {"object": obj},
    }


def parse_one(payload: dict[str, Any], kind: type[E]) -> E:
    """parse_event's typed event, which must be a `kind` (InvoiceEvent, CustomerEvent, ...)."""
    parsed = parse_event(payload)
    assert isinstance(parsed, kind), f"{payload['type']} parsed as a {type(parsed).__name__}"
    return parsed


def invoice_signal(payload: dict[str, Any]) -> InvoiceSignal:
    """The signal the client sends a lifecycle for an invoice event."""
    parsed = parse_one(payload, InvoiceEvent)
    return InvoiceSignal(event_id=parsed.id, type=parsed.type, created=parsed.created, invoice=parsed.invoice)


def charge(
    charge_id: str,
    *,
    invoice_id: str | None = None,
    payment_intent: str | None = None,
    customer_id: str | None = "cus_test",
    failed: bool | None = None,
    decline_code: str | None = None,
    method: str = "card",
    brand: str = "visa",
    last4: str = "4242",
    created: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Stripe's charge fixture as a succeeded or failed charge, paid with a card (or, with
    `method`, a SEPA debit, a US bank account, ...). A declined one carries the bank's
    `decline_code` the way Stripe does: `outcome.reason` of an issuer_declined outcome
    (a charge with a decline code is a failed one)."""
    obj = copy.deepcopy(stripe_fixtures()["charge"])
    failed = decline_code is not None if failed is None else failed
    details: dict[str, Any] = {"type": method}
    if method == "card":
        details["card"] = dict(obj["payment_method_details"]["card"], brand=brand, last4=last4)
    elif method in ("sepa_debit", "us_bank_account", "bacs_debit", "au_becs_debit"):
        details[method] = {"last4": last4, "bank_name": None}
    else:
        details[method] = {}
    obj.update(
        id=charge_id,
        invoice=invoice_id,
        payment_intent=payment_intent,
        customer=customer_id,
        status="failed" if failed else "succeeded",
        paid=not failed,
        payment_method_details=details,
        created=ts(created) if created else obj["created"],
    )
    if failed:
        obj.update(
            failure_code="expired_card" if decline_code == "expired_card" else "card_declined",
            failure_message="Your card was declined.",
            outcome=dict(obj["outcome"], type="issuer_declined", reason=decline_code),
        )
    obj.update(extra)
    return obj


def payment_intent_failed(
    intent_id: str,
    *,
    charge_id: str | None = None,
    decline_code: str | None = None,
    code: str = "card_declined",
    **extra: Any,
) -> dict[str, Any]:
    """Stripe's payment intent fixture after a failed attempt (`last_payment_error`)."""
    obj = copy.deepcopy(stripe_fixtures()["payment_intent"])
    obj.update(
        id=intent_id,
        latest_charge=charge_id,
        last_payment_error={
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": "Your card was declined.",
            "charge": charge_id,
            "payment_method": {
                "id": "pm_x",
                "object": "payment_method",
                "type": "card",
                "card": {"brand": "mastercard", "last4": "4444"},
            },
        },
    )
    obj.update(extra)
    return obj


def invoice_payment(
    payment_id: str, invoice_id: str, intent_id: str, paid_at: datetime | None = None
) -> dict[str, Any]:
    """Stripe's invoice_payment fixture, paid through a payment intent."""
    obj = copy.deepcopy(stripe_fixtures()["invoice_payment"])
    obj.update(
        id=payment_id,
        invoice=invoice_id,
        payment={"type": "payment_intent", "payment_intent": intent_id},
        status="paid",
        status_transitions={"canceled_at": None, "paid_at": ts(paid_at) if paid_at else None},
    )
    return obj
