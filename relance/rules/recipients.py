"""Who a billing email goes to: the customer's own lists, else an address Stripe gave."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class CustomerAddresses(Protocol):
    """What a stored customer says about where its billing email goes."""

    @property
    def invoice_emails(self) -> Sequence[str]: ...
    @property
    def cc_emails(self) -> Sequence[str]: ...
    @property
    def email(self) -> str | None: ...


class InvoiceAddress(Protocol):
    @property
    def customer_email(self) -> str | None: ...


def recipients(
    customer: CustomerAddresses | None, invoice: InvoiceAddress | None, fallback: str | None = None
) -> tuple[list[str], list[str]]:
    """The customer's To list replaces the account email; CC applies to every billing email.
    `fallback`: an address from the customer's invoices, for emails without an invoice."""
    cc = list(customer.cc_emails) if customer else []
    if customer and customer.invoice_emails:
        to = list(customer.invoice_emails)
    elif customer and customer.email:
        to = [customer.email]
    elif invoice and invoice.customer_email:
        to = [invoice.customer_email]
    elif fallback:
        to = [fallback]
    else:
        to = []
    lowered = {a.lower() for a in to}
    return to, [a for a in cc if a.lower() not in lowered]
