"""Turn database records into what templates see. Pure functions: no I/O."""

from __future__ import annotations

from relance.contracts.account import AccountSettings
from relance.contracts.documents import PaymentFacts
from relance.contracts.email_context import (
    CustomerView,
    EmailContext,
    InvoiceView,
    LineItem,
    Links,
    ReminderView,
)
from relance.contracts.events import Invoice
from relance.contracts.models import EmailRequest
from relance.rules.links import expand
from relance.storage.tables import CustomerRecord


def invoice_view(inv: Invoice) -> InvoiceView:
    return InvoiceView(
        id=inv.id,
        number=inv.number,
        currency=inv.currency,
        amount_due=inv.amount_due,
        amount_paid=inv.amount_paid,
        amount_remaining=inv.amount_remaining,
        subtotal=inv.subtotal,
        tax=inv.tax,
        total=inv.total,
        created=inv.created,
        due_date=inv.due_date,
        paid_at=inv.paid_at,
        description=inv.description,
        footer=inv.footer,
        receipt_number=inv.receipt_number,
        collection_method=inv.collection_method,
        status=inv.status or "open",
        attempt_count=inv.attempt_count,
        next_payment_attempt=inv.next_payment_attempt,
        lines=[
            LineItem(
                description=line.description or "",
                quantity=line.quantity,
                amount=line.amount,
                currency=line.currency or inv.currency,
                period_start=line.period.start if line.period else None,
                period_end=line.period.end if line.period else None,
            )
            for line in inv.lines.data
        ],
    )


def customer_view(customer: CustomerRecord | None, customer_id: str, inv: Invoice | None) -> CustomerView:
    if customer is not None:
        return CustomerView(
            id=customer.id,
            name=customer.name or (inv.customer_name if inv else None),
            email=customer.email,
            address_lines=list(customer.address_lines),
            buyer_reference=customer.buyer_reference,
        )
    return CustomerView(
        id=customer_id,
        name=inv.customer_name if inv else None,
        email=inv.customer_email if inv else None,
        address_lines=inv.customer_address.lines() if inv and inv.customer_address else [],
    )


def links_for(settings: AccountSettings, customer_id: str, inv: Invoice | None) -> Links:
    hosted = inv.hosted_invoice_url if inv else None
    invoice_id = inv.id if inv else None

    def link(template: str | None) -> str | None:
        return expand(template, invoice_id=invoice_id, customer_id=customer_id, hosted_invoice_url=hosted)

    return Links(
        pay_url=link(settings.links.pay_url),
        update_payment_url=link(settings.links.update_payment_url),
        confirm_payment_url=link(settings.links.confirm_payment_url),
        invoice_url=hosted,
    )


def time_zone_for(settings: AccountSettings, customer: CustomerRecord | None) -> str:
    return (customer.timezone if customer and customer.timezone else None) or settings.timezone


def email_context(
    settings: AccountSettings,
    req: EmailRequest,
    customer: CustomerRecord | None,
    inv: Invoice | None,
    payment: PaymentFacts | None = None,
) -> EmailContext:
    reminder = None
    if req.reminder_days_from_due is not None or req.manual:
        reminder = ReminderView(days_from_due=req.reminder_days_from_due or 0, manual=req.manual)
    return EmailContext(
        branding=settings.branding,
        customer=customer_view(customer, req.customer_id, inv),
        invoice=invoice_view(inv) if inv else None,
        links=links_for(settings, req.customer_id, inv),
        reminder=reminder,
        card=req.card,
        subscription=req.subscription,
        credit_note=req.credit_note,
        refund=req.refund,
        payment=payment,
        timezone=time_zone_for(settings, customer),
    )
