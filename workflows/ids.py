"""Workflow ids: from object ids only (never emails or names, which Temporal stores in clear)."""


def invoice_workflow_id(invoice_id: str) -> str:
    return f"invoice-{invoice_id}"


def customer_workflow_id(customer_id: str) -> str:
    return f"customer-{customer_id}"
