"""Payment attempts, and which invoice each payment intent collects.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Why: the failed-payment email names the method that failed and why, and the receipt the
method that paid; only the charge, payment intent and invoice payment events say so, and
they arrive before or after their invoice's. `payment_attempts` keeps what they said, one
row per attempt; `payment_intent_invoices` ties an intent to its invoice, since charges
of API versions from 2025-03-31 name only their intent. New tables, nothing to backfill.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'payment_attempts',
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('charge_id', sa.String(length=255), nullable=True),
        sa.Column('payment_intent_id', sa.String(length=255), nullable=True),
        sa.Column('invoice_id', sa.String(length=255), nullable=True),
        sa.Column('customer_id', sa.String(length=255), nullable=True),
        sa.Column('outcome', sa.String(length=20), nullable=True),
        sa.Column('method_type', sa.String(length=100), nullable=True),
        sa.Column('brand', sa.String(length=100), nullable=True),
        sa.Column('last4', sa.String(length=4), nullable=True),
        sa.Column('failure_code', sa.String(length=100), nullable=True),
        sa.Column('failure_message', sa.Text(), nullable=True),
        sa.Column('receipt_number', sa.String(length=255), nullable=True),
        sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index('ix_payment_attempts_payment_intent_id', 'payment_attempts', ['payment_intent_id'])
    op.create_index('ix_payment_attempts_invoice_id', 'payment_attempts', ['invoice_id'])
    op.create_table(
        'payment_intent_invoices',
        sa.Column('payment_intent_id', sa.String(length=255), nullable=False),
        sa.Column('invoice_id', sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint('payment_intent_id'),
    )
    op.create_index('ix_payment_intent_invoices_invoice_id', 'payment_intent_invoices', ['invoice_id'])


def downgrade() -> None:
    op.drop_index('ix_payment_intent_invoices_invoice_id', table_name='payment_intent_invoices')
    op.drop_table('payment_intent_invoices')
    op.drop_index('ix_payment_attempts_invoice_id', table_name='payment_attempts')
    op.drop_index('ix_payment_attempts_payment_intent_id', table_name='payment_attempts')
    op.drop_table('payment_attempts')
