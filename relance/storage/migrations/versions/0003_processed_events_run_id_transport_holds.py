"""processed_events.run_id and transport_holds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Why:
- `processed_events.run_id` records which workflow run applied each invoice event. A worker
  killed after `record_invoice` committed, before Temporal heard of it, gets the activity
  retried; without it the retry took its own event for a duplicate and the
  invoice email or receipt was never sent (found by tests/faults/test_worker_kills.py).
- `transport_holds` is the hold a provider's refusal of our credentials opens (SendGrid
  401, SMTP 535): emails wait instead of failing one by one, until the key changes or a
  probe succeeds. It keeps a fingerprint of the refused key, never the key.

A nullable column (rows from before it mean "applied by some earlier run", which is what
they were) and a new table: nothing to copy. On SQLite the column is a plain ADD COLUMN
(batch mode only recreates a table when SQLite cannot ALTER it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('processed_events') as batch:
        batch.add_column(sa.Column('run_id', sa.String(length=64), nullable=True))
    op.create_table('transport_holds',
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('key_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('held_since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('probe_after', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('provider'),
    if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table('transport_holds')
    with op.batch_alter_table('processed_events') as batch:
        batch.drop_column('run_id')
