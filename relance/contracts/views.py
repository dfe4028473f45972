"""Stripe objects -> the small views templates use. Pure functions, safe in workflows."""

from __future__ import annotations

from relance.contracts.email_context import CardView, CreditNoteView, LineItem, RefundView, SubscriptionView
from relance.contracts.events import Charge, CreditNote, PaymentMethod, Refund, Subscription


def card_view(pm: PaymentMethod) -> CardView:
    card = pm.card_details()
    assert card is not None  # parse_event refuses card events without details
    return CardView(brand=card.brand, last4=card.last4, exp_month=card.exp_month, exp_year=card.exp_year)


def subscription_view(sub: Subscription) -> SubscriptionView:
    return SubscriptionView(
        id=sub.id,
        plan_name=sub.plan_name(),
        trial_end=sub.trial_end,
        canceled_at=sub.canceled_at,
        ended_at=sub.ended_at,
    )


def credit_note_view(cn: CreditNote) -> CreditNoteView:
    return CreditNoteView(
        id=cn.id,
        invoice_id=cn.invoice,
        number=cn.number,
        currency=cn.currency,
        amount=cn.total if cn.total is not None else cn.amount,
        reason=cn.reason,
        created=cn.created,
        memo=cn.memo,
        lines=[
            LineItem(
                description=line.description or "", quantity=line.quantity, amount=line.amount, currency=cn.currency
            )
            for line in cn.lines.data
        ],
    )


def refund_view(refund: Refund, charge: Charge | None = None) -> RefundView:
    return RefundView(
        id=refund.id,
        invoice_id=charge.invoice if charge else None,
        currency=refund.currency,
        amount=refund.amount,
        created=refund.created,
        reason=refund.reason,
    )


def uncovered_refund_view(charge: Charge, amount: int) -> RefundView:
    """A refund known only from `charge.refunded` without its refund list."""
    return RefundView(
        id=f"{charge.id}:{charge.amount_refunded}", invoice_id=charge.invoice, currency=charge.currency, amount=amount
    )
