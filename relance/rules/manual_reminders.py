"""Whether "send a reminder now" makes sense for an invoice: one rule for the API, the
dashboard and the CLI (the workflow checks the status again before sending)."""

from __future__ import annotations

from typing import NamedTuple, Protocol


class _Invoice(Protocol):
    status: str
    collection_method: str
    attempt_count: int


class Refusal(NamedTuple):
    code: str  # the API's error type
    message: str


def refusal(invoice: _Invoice | None, invoice_id: str) -> Refusal | None:
    """Why no reminder should go out now, or None. A charge_automatically invoice with no
    failed attempt is about to be charged: a "please pay" email would only confuse the
    customer. Once an attempt failed, a reminder (with the pay link) is ordinary dunning."""
    if invoice is None:
        return Refusal("invoice_not_open", f"invoice {invoice_id!r} is unknown to Relance")
    if invoice.status != "open":
        return Refusal("invoice_not_open", f"invoice {invoice_id!r} is {invoice.status}")
    if invoice.collection_method == "charge_automatically" and invoice.attempt_count == 0:
        return Refusal(
            "charged_automatically",
            f"invoice {invoice_id!r} is charged automatically and no payment attempt has failed: "
            "the customer will be charged, not reminded",
        )
    return None
