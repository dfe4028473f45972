"""Hosted-page links. A URL template may use {invoice_id}, {customer_id} and
{hosted_invoice_url}; anything else in braces is left as written. Plain substitution on
purpose: str.format would let a template reach attributes of its arguments."""

from __future__ import annotations

import re
from urllib.parse import quote

_PLACEHOLDER = re.compile(r"\{(invoice_id|customer_id|hosted_invoice_url)\}")


def expand(
    template: str | None, *, invoice_id: str | None, customer_id: str, hosted_invoice_url: str | None
) -> str | None:
    if not template:
        return hosted_invoice_url
    values = {
        "invoice_id": quote(invoice_id or "", safe=""),
        "customer_id": quote(customer_id, safe=""),
        "hosted_invoice_url": hosted_invoice_url or "",
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
