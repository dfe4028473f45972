"""E-invoices: a customer's profile, and what became of an email's e-invoice.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Why: a customer can have its own e-invoice profile (Factur-X, XRechnung) rather than the
account's, and the email log says whether the invoice PDF an email carried held a valid
e-invoice or went plain, naming the failed rules. Two nullable columns; nothing to
backfill (None: the account's profile; no e-invoice recorded).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        batch.add_column(sa.Column('einvoice_profile', sa.String(length=20), nullable=True))
    with op.batch_alter_table('email_log') as batch:
        batch.add_column(sa.Column('einvoice', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('email_log') as batch:
        batch.drop_column('einvoice')
    with op.batch_alter_table('customers') as batch:
        batch.drop_column('einvoice_profile')
