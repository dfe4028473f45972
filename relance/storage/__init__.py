"""The application database (sqlmodel): invoices, customers, settings, the email log and
stored documents. Activities and the API read and write through these modules only."""
