"""Per-customer, newest-first indexes on email_log and invoices.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Why: the busiest reads of a production deploy are "this customer's emails of the last
30 days, newest first" (GET /customers/{id}/emails, the dashboard's customer page,
`relance log`: email_log.customer_emails) and "this customer's invoices, newest first"
(the dashboard). With one index on customer_id and another on created_at, PostgreSQL
either reads every email the customer ever had (up to the retention period) and sorts
them, or walks the whole created_at index filtering by customer; a composite
(customer_id, created_at) index answers the range and the order in one backward scan
and stops at LIMIT. The same holds for invoices with (customer_id, last_event_at).
Each single-column customer_id index becomes a prefix of its composite one, so it is
dropped (one less index to update on every insert).

Cost: one CREATE INDEX per table. email_log is bounded by the retention purge (30 days
by default), so this takes seconds even at a few million rows; PostgreSQL blocks writes
to the table (not reads) meanwhile, inside the migration's transaction, so a failure
leaves nothing half-built. (CREATE INDEX CONCURRENTLY would avoid the write block but
cannot run in a transaction, and a failure leaves an invalid index behind.)
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_email_log_customer_created', 'email_log', ['customer_id', 'created_at'])
    op.drop_index('ix_email_log_customer_id', table_name='email_log')
    op.create_index('ix_invoices_customer_last_event', 'invoices', ['customer_id', 'last_event_at'])
    op.drop_index('ix_invoices_customer_id', table_name='invoices')


def downgrade() -> None:
    op.create_index('ix_invoices_customer_id', 'invoices', ['customer_id'])
    op.drop_index('ix_invoices_customer_last_event', table_name='invoices')
    op.create_index('ix_email_log_customer_id', 'email_log', ['customer_id'])
    op.drop_index('ix_email_log_customer_created', table_name='email_log')
