"""tax_rates: the tax rates Stripe described, for the tax table of invoices.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Why: webhook invoices name their tax rates by id only (`total_taxes[].tax_rate_details`),
so an invoice page could not show a rate's percentage and name. `tax_rate.created` /
`tax_rate.updated` events, and rates that arrive expanded inside invoices, are kept here,
the newest event winning. A new table: nothing to copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tax_rates',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table('tax_rates')
