"""When each invoice was finalized and paid, and its failed payment attempts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

Why: the recovery report (GET /v1/analytics/recovery) groups invoices by the month they
were finalized and ties each payment to the email that came last before it, which needs
the time of both events and of the last failed attempt. The invoices table kept only the
merged snapshot (status, amounts) and the time of the newest event; processed_events
keeps types but the time Relance received each event, not the event's own.

New nullable columns and a counter at 0, then a best-effort backfill for invoices stored
before: finalized at the first event received for it, paid at its newest event, failures
counted from processed_events. Those are receipt times, close to the event times in a
live deploy; invoices recorded from now on carry the events' own times. One index on
finalized_at (the report's range scan).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('invoices') as batch:
        batch.add_column(sa.Column('finalized_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('payment_failures', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('last_payment_failed_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('invoices') as batch:
        batch.alter_column('payment_failures', server_default=None)
    op.create_index('ix_invoices_finalized_at', 'invoices', ['finalized_at'])
    op.execute(
        "UPDATE invoices SET finalized_at = (SELECT MIN(p.received_at) FROM processed_events p "
        "WHERE p.object_id = invoices.id) WHERE status <> 'draft'"
    )
    op.execute("UPDATE invoices SET paid_at = last_event_at WHERE status = 'paid'")
    op.execute(
        "UPDATE invoices SET payment_failures = (SELECT COUNT(*) FROM processed_events p "
        "WHERE p.object_id = invoices.id AND p.type = 'invoice.payment_failed'), "
        "last_payment_failed_at = (SELECT MAX(p.received_at) FROM processed_events p "
        "WHERE p.object_id = invoices.id AND p.type = 'invoice.payment_failed')"
    )


def downgrade() -> None:
    op.drop_index('ix_invoices_finalized_at', table_name='invoices')
    with op.batch_alter_table('invoices') as batch:
        batch.drop_column('last_payment_failed_at')
        batch.drop_column('payment_failures')
        batch.drop_column('paid_at')
        batch.drop_column('finalized_at')
