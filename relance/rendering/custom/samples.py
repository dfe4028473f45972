"""Sample data for trial renders and previews."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from relance.contracts.documents import PaymentFacts
from relance.contracts.email_context import (
    Branding,
    CardView,
    CreditNoteView,
    CustomerView,
    EmailContext,
    InvoiceView,
    LineItem,
    Links,
    RefundView,
    ReminderView,
    SubscriptionView,
)
from relance.contracts.kinds import EmailKind


def _utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


_SAMPLE_BRANDING = Branding(
    business_name="Northwind Studio",
    brand_color="#0f766e",
    accent_color="#2563eb",
    address_lines=["12 rue des Arts", "69001 Lyon", "France"],
    support_email="billing@northwind.example",
    support_phone="+33 4 00 00 00 00",
    support_url="https://northwind.example/help",
    footer="Northwind Studio SAS",
    legal_text="RCS Lyon 123 456 789",
)
_SAMPLE_CUSTOMER = CustomerView(
    id="cus_sample",
    name="Camille Martin",
    email="camille@example.com",
    address_lines=["8 place Bellecour", "69002 Lyon", "France"],
)
_SAMPLE_LINKS = Links(
    pay_url="https://pay.northwind.example/i/in_sample",
    update_payment_url="https://pay.northwind.example/update/cus_sample",
    confirm_payment_url="https://pay.northwind.example/confirm/in_sample",
    invoice_url="https://invoice.northwind.example/i/in_sample",
)


def _sample_invoice(kind: EmailKind) -> InvoiceView:
    paid = kind == EmailKind.receipt
    automatic = kind in (EmailKind.payment_failed, EmailKind.payment_action_required)
    return InvoiceView(
        id="in_sample",
        number="INV-2026-0042",
        currency="eur",
        amount_due=123450,
        amount_paid=123450 if paid else 0,
        amount_remaining=0 if paid else 123450,
        subtotal=102875,
        tax=20575,
        total=123450,
        created=_utc(2026, 3, 1, 8),
        due_date=_utc(2026, 3, 15, 12),
        paid_at=_utc(2026, 3, 10, 9) if paid else None,
        receipt_number="2711-4455" if paid else None,
        description="Studio subscription, March 2026",
        collection_method="charge_automatically" if automatic or paid else "send_invoice",
        status="paid" if paid else "open",
        attempt_count=1 if kind == EmailKind.payment_failed else 0,
        next_payment_attempt=_utc(2026, 3, 18, 10) if kind == EmailKind.payment_failed else None,
        lines=[
            LineItem(
                description="Studio Pro plan",
                quantity=3,
                amount=90000,
                currency="eur",
                period_start=_utc(2026, 3, 1),
                period_end=_utc(2026, 3, 31),
            ),
            LineItem(description="Extra storage (50 GB)", quantity=1, amount=12875, currency="eur"),
        ],
    )


def sample_context(kind: EmailKind) -> EmailContext:
    """A realistic context for `kind`: the parts a real email of that kind carries,
    fixed dates in March 2026 and euro amounts (1 234,50 €), for trial renders and
    previews."""
    kind = EmailKind(kind)
    ctx = EmailContext(branding=_SAMPLE_BRANDING, customer=_SAMPLE_CUSTOMER, timezone="Europe/Paris")
    links: dict[str, str | None] = {}
    if kind in (
        EmailKind.invoice_finalized,
        EmailKind.invoice_reminder,
        EmailKind.payment_failed,
        EmailKind.payment_action_required,
        EmailKind.receipt,
    ):
        ctx.invoice = _sample_invoice(kind)
        links = {"invoice_url": _SAMPLE_LINKS.invoice_url}
        if kind in (EmailKind.invoice_finalized, EmailKind.invoice_reminder):
            links["pay_url"] = _SAMPLE_LINKS.pay_url
        elif kind == EmailKind.payment_failed:
            links["update_payment_url"] = _SAMPLE_LINKS.update_payment_url
        elif kind == EmailKind.payment_action_required:
            links["confirm_payment_url"] = _SAMPLE_LINKS.confirm_payment_url
    if kind == EmailKind.payment_failed:
        ctx.payment = PaymentFacts(
            method_type="card", brand="visa", last4="4242", outcome="failed", failure_code="insufficient_funds"
        )
    if kind == EmailKind.payment_action_required:
        ctx.payment = PaymentFacts(
            method_type="card", brand="visa", last4="4242", outcome="failed", failure_code="authentication_required"
        )
    if kind == EmailKind.receipt:
        ctx.payment = PaymentFacts(
            method_type="card",
            brand="visa",
            last4="4242",
            outcome="succeeded",
            paid_at=ctx.invoice.paid_at if ctx.invoice else None,
            receipt_number=ctx.invoice.receipt_number if ctx.invoice else None,
        )
    if kind == EmailKind.invoice_reminder:
        ctx.reminder = ReminderView(days_from_due=3)
    if kind == EmailKind.card_expiring:
        ctx.card = CardView(brand="visa", last4="4242", exp_month=4, exp_year=2026)
        links = {"update_payment_url": _SAMPLE_LINKS.update_payment_url}
    if kind == EmailKind.credit_note_created:
        ctx.credit_note = CreditNoteView(
            id="cn_sample",
            invoice_id="in_sample",
            number="CN-0007",
            currency="eur",
            amount=5000,
            reason="duplicate",
            created=_utc(2026, 3, 2, 9),
            invoice_number="INV-2026-0042",
            memo="Duplicate storage line",
            lines=[LineItem(description="Extra storage (50 GB)", quantity=1, amount=5000, currency="eur")],
        )
    if kind == EmailKind.refund_issued:
        ctx.refund = RefundView(
            id="re_sample",
            invoice_id="in_sample",
            currency="eur",
            amount=4200,
            created=_utc(2026, 3, 3, 14),
            reason="requested_by_customer",
            invoice_number="INV-2026-0042",
        )
    if kind in (EmailKind.trial_ending, EmailKind.subscription_canceled):
        ending = kind == EmailKind.trial_ending
        ctx.subscription = SubscriptionView(
            id="sub_sample",
            plan_name="Studio Pro",
            trial_end=_utc(2026, 3, 20, 12) if ending else None,
            canceled_at=None if ending else _utc(2026, 3, 4, 12),
            ended_at=None if ending else _utc(2026, 3, 31, 23),
        )
        if ending:
            links = {"update_payment_url": _SAMPLE_LINKS.update_payment_url}
    ctx.links = Links(**links)
    return ctx


def sparse_context(kind: EmailKind) -> EmailContext:
    """The sample for `kind` without what real data may lack: a customer with no name
    or address, an invoice with no due date (charged automatically), description or
    lines, no links, no branding details. Identifiers, amounts and creation dates stay:
    Stripe always has them."""
    ctx = sample_context(kind)
    update: dict[str, Any] = {
        "branding": Branding(),
        "customer": CustomerView(id=ctx.customer.id),
        "links": Links(),
    }
    if ctx.invoice is not None:
        update["invoice"] = ctx.invoice.model_copy(
            update=dict(
                due_date=None,
                paid_at=None,
                description=None,
                footer=None,
                receipt_number=None,
                next_payment_attempt=None,
                subtotal=None,
                tax=None,
                total=None,
                lines=[],
            )
        )
    if ctx.card is not None:
        update["card"] = ctx.card.model_copy(update=dict(brand=None, last4=None))
    if ctx.credit_note is not None:
        update["credit_note"] = ctx.credit_note.model_copy(
            update=dict(invoice_id=None, invoice_number=None, reason=None, memo=None, lines=[])
        )
    if ctx.refund is not None:
        update["refund"] = ctx.refund.model_copy(update=dict(invoice_id=None, invoice_number=None, reason=None))
    if ctx.subscription is not None:
        update["subscription"] = ctx.subscription.model_copy(update=dict(plan_name=None, ended_at=None))
    return ctx.model_copy(update=update)
