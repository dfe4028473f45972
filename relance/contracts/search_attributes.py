"""Search attributes ops filter invoices by in the Temporal UI. Ids and status only:
attributes are stored in clear, so never an email address or a name."""

from temporalio.common import SearchAttributeKey

INVOICE_ID = SearchAttributeKey.for_keyword("InvoiceId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
INVOICE_STATUS = SearchAttributeKey.for_keyword("InvoiceStatus")
DUE_AT = SearchAttributeKey.for_datetime("DueAt")

ALL = (INVOICE_ID, CUSTOMER_ID, INVOICE_STATUS, DUE_AT)
