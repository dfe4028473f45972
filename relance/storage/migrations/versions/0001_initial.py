"""Initial schema: the tables as `SQLModel.metadata.create_all` made them before Alembic.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Every table and index is created IF NOT EXISTS, so a database that `create_all` made
(before Relance used migrations; no alembic_version table) is adopted by running this
revision: whatever it already has is kept, rows included, and only what an older Relance
did not create yet (say, the webhook tables) is added. Types are plain SQLAlchemy types,
not SQLModel's, so this file means the same thing whatever SQLModel does later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('account_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_table('custom_templates',
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'version'),
    if_not_exists=True,
    )
    op.create_table('customers',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('email', sa.String(), nullable=True),
    sa.Column('name', sa.String(), nullable=True),
    sa.Column('preferred_locales', sa.JSON(), nullable=False),
    sa.Column('invoice_emails', sa.JSON(), nullable=False),
    sa.Column('cc_emails', sa.JSON(), nullable=False),
    sa.Column('timezone', sa.String(), nullable=True),
    sa.Column('address_lines', sa.JSON(), nullable=False),
    sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_table('documents',
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key'),
    if_not_exists=True,
    )
    op.create_index('ix_documents_created_at', 'documents', ['created_at'], unique=False, if_not_exists=True)

    op.create_table('email_delivery',
    sa.Column('email_id', sa.String(length=32), nullable=False),
    sa.Column('delivery_status', sa.String(length=20), nullable=False),
    sa.Column('delivery_status_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('email_id'),
    if_not_exists=True,
    )
    op.create_table('email_log',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('idempotency_key', sa.String(length=400), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=255), nullable=False),
    sa.Column('invoice_id', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('to', sa.JSON(), nullable=False),
    sa.Column('cc', sa.JSON(), nullable=False),
    sa.Column('from_email', sa.String(), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('locale', sa.String(), nullable=True),
    sa.Column('message_ref', sa.String(), nullable=True),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('provider', sa.String(), nullable=True),
    sa.Column('provider_message_id', sa.String(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index('ix_email_log_created_at', 'email_log', ['created_at'], unique=False, if_not_exists=True)
    op.create_index('ix_email_log_customer_id', 'email_log', ['customer_id'], unique=False, if_not_exists=True)
    op.create_index('ix_email_log_idempotency_key', 'email_log', ['idempotency_key'], unique=True, if_not_exists=True)
    op.create_index('ix_email_log_invoice_id', 'email_log', ['invoice_id'], unique=False, if_not_exists=True)
    op.create_index('ix_email_log_provider_message_id', 'email_log', ['provider_message_id'], unique=False, if_not_exists=True)

    op.create_table('invoice_revisions',
    sa.Column('invoice_id', sa.String(length=255), nullable=False),
    sa.Column('revision', sa.String(length=64), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('invoice_id', 'revision'),
    if_not_exists=True,
    )
    op.create_table('invoices',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('customer_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('collection_method', sa.String(length=30), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('number', sa.String(), nullable=True),
    sa.Column('amount_due', sa.Integer(), nullable=False),
    sa.Column('amount_paid', sa.Integer(), nullable=False),
    sa.Column('amount_remaining', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempt_count', sa.Integer(), nullable=False),
    sa.Column('next_payment_attempt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('hosted_invoice_url', sa.Text(), nullable=True),
    sa.Column('customer_email', sa.String(), nullable=True),
    sa.Column('customer_name', sa.String(), nullable=True),
    sa.Column('revision', sa.String(length=64), nullable=False),
    sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index('ix_invoices_customer_id', 'invoices', ['customer_id'], unique=False, if_not_exists=True)

    op.create_table('processed_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index('ix_processed_events_object_id', 'processed_events', ['object_id'], unique=False, if_not_exists=True)
    op.create_index('ix_processed_events_received_at', 'processed_events', ['received_at'], unique=False, if_not_exists=True)

    op.create_table('provider_events',
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('email_id', sa.String(length=32), nullable=True),
    sa.Column('recipient', sa.String(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('provider', 'event_id'),
    if_not_exists=True,
    )
    op.create_index('ix_provider_events_email_id', 'provider_events', ['email_id'], unique=False, if_not_exists=True)
    op.create_index('ix_provider_events_received_at', 'provider_events', ['received_at'], unique=False, if_not_exists=True)

    op.create_table('suppressions',
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('email_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('address'),
    if_not_exists=True,
    )
    op.create_table('webhook_deliveries',
    sa.Column('endpoint_id', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=60), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('endpoint_id', 'event_id'),
    if_not_exists=True,
    )
    op.create_index('ix_webhook_deliveries_created_at', 'webhook_deliveries', ['created_at'], unique=False, if_not_exists=True)

    op.create_table('webhook_endpoints',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('event_types', sa.JSON(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('previous_secret', sa.String(length=200), nullable=True),
    sa.Column('previous_secret_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )


def downgrade() -> None:
    # Dropping a table drops its indexes. Everything goes: only for tests and scratch databases.
    op.drop_table('webhook_endpoints')
    op.drop_table('webhook_deliveries')
    op.drop_table('suppressions')
    op.drop_table('provider_events')
    op.drop_table('processed_events')
    op.drop_table('invoices')
    op.drop_table('invoice_revisions')
    op.drop_table('email_log')
    op.drop_table('email_delivery')
    op.drop_table('documents')
    op.drop_table('customers')
    op.drop_table('custom_templates')
    op.drop_table('account_settings')
