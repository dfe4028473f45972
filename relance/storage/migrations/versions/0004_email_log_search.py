"""The email log for everyone: its filters' indexes, text search, resends and test sends.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Why: GET /v1/emails lists every email newest first by (created_at, id), filtered by
kind, status, dates, customer, invoice or a text. Composite indexes that lead with the
filtered column and end with the order let PostgreSQL answer a page with one backward
index scan that stops at LIMIT (bench/email_log_query.py: under 200 ms at a million
rows). `ix_email_log_created_at` is a prefix of the new (created_at, id) index, so it
goes. `q` searches a substring of the subject and recipients: the new `search` column
holds them lower-cased, with a pg_trgm GIN index on PostgreSQL (pg_trgm is a trusted
extension, which the database's owner may create). Existing rows get theirs from their
subject and JSON recipient lists. `delivery_status` copies email_delivery's status onto
the log (kept in step by webhooks_store.set_delivery_status), so `delivered` and
`bounced`, the bounce report, scan one index instead of probing email_delivery for every
sent email; existing rows get theirs from email_delivery.

`resend_of` links a resend (POST /v1/emails/{id}/resend) to the email it repeats;
`is_test` marks a test send (POST /v1/test-emails). Both are new columns with nothing
to copy (is_test defaults to false).

Cost: a backfill UPDATE of every row and four CREATE INDEX; email_log is bounded by the
retention purge (30 days by default). As in 0002, this runs in the migration's
transaction, blocking writes to email_log (not reads) meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table('email_log') as batch:
        batch.add_column(sa.Column('resend_of', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('is_test', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('search', sa.Text(), nullable=True))
        batch.add_column(sa.Column('delivery_status', sa.String(length=20), nullable=True))
    recipients = '"to"::text || \' \' || cc::text' if postgres else '"to" || \' \' || cc'
    op.execute(f"UPDATE email_log SET search = lower(coalesce(subject, '') || ' ' || {recipients})")
    op.execute(
        'UPDATE email_log SET delivery_status = '
        '(SELECT d.delivery_status FROM email_delivery d WHERE d.email_id = email_log.id)'
    )
    op.create_index('ix_email_log_resend_of', 'email_log', ['resend_of'])
    op.create_index('ix_email_log_created_id', 'email_log', ['created_at', 'id'])
    op.create_index('ix_email_log_kind_created', 'email_log', ['kind', 'created_at', 'id'])
    op.create_index('ix_email_log_status_created', 'email_log', ['status', 'created_at', 'id'])
    op.create_index('ix_email_log_delivery_created', 'email_log', ['delivery_status', 'created_at', 'id'])
    op.drop_index('ix_email_log_created_at', table_name='email_log')
    if postgres:
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.create_index(
            'ix_email_log_search_trgm',
            'email_log',
            ['search'],
            postgresql_using='gin',
            postgresql_ops={'search': 'gin_trgm_ops'},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_email_log_search_trgm', table_name='email_log')
    op.create_index('ix_email_log_created_at', 'email_log', ['created_at'])
    op.drop_index('ix_email_log_delivery_created', table_name='email_log')
    op.drop_index('ix_email_log_status_created', table_name='email_log')
    op.drop_index('ix_email_log_kind_created', table_name='email_log')
    op.drop_index('ix_email_log_created_id', table_name='email_log')
    op.drop_index('ix_email_log_resend_of', table_name='email_log')
    with op.batch_alter_table('email_log') as batch:
        batch.drop_column('delivery_status')
        batch.drop_column('search')
        batch.drop_column('is_test')
        batch.drop_column('resend_of')
