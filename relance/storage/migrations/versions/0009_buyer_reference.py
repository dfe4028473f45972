"""E-invoices: a customer's buyer reference.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Why: XRechnung requires the buyer reference (BT-10), for a German public buyer its
Leitweg-ID, which is the customer's and the same on each of its invoices. One nullable
column; nothing to backfill (None: no reference).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        batch.add_column(sa.Column('buyer_reference', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        batch.drop_column('buyer_reference')
