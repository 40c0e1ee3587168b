"""The first schema: returns, documents, pulls, what Khaos pushes, exceptions.

A frozen copy: later changes to store.py come as new revisions, never edits here.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reveni_returns",
        sa.Column("return_id", sa.String(64), primary_key=True),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("first_seen", Moment, nullable=False),
        sa.Column("last_changed", Moment, nullable=False),
    )
    op.create_table(
        "documents",
        sa.Column("associated_ref", sa.String(80), primary_key=True),
        sa.Column("return_id", sa.String(64), nullable=False, index=True),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("item_ids", sa.Text, nullable=False),
        sa.Column("hold_reason", sa.Text, nullable=False),
        sa.Column("source_updated_at", sa.String(40), nullable=False),
        sa.Column("feed_position", sa.BigInteger, nullable=True, unique=True),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("state_changed_at", Moment, nullable=False),
        sa.Column("published_at", Moment, nullable=True),
        sa.Column("first_served_at", Moment, nullable=True),
        sa.Column("last_served_at", Moment, nullable=True),
    )
    op.create_table(
        "pulls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", Moment, nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("specific_ids", sa.Boolean, nullable=False),
        sa.Column("continuation_in", sa.String(80), nullable=False),
        sa.Column("continuation_out", sa.String(80), nullable=False),
        sa.Column("refs", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "stock_items",
        sa.Column("stock_id", sa.String(40), primary_key=True),
        sa.Column("stock_code", sa.String(100), nullable=False, index=True),
        sa.Column("other_ref", sa.String(100), nullable=False),
        sa.Column("barcodes", sa.Text, nullable=False),
        sa.Column("tax_rate", sa.Text, nullable=False),
        sa.Column("discontinued", sa.Boolean, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
    )
    op.create_table(
        "stock_codes",
        sa.Column("stock_id", sa.String(40), primary_key=True),
        sa.Column("stock_code", sa.String(100), primary_key=True),
        sa.Column("first_seen", Moment, nullable=False),
    )
    op.create_table(
        "stock_levels",
        sa.Column("stock_id", sa.String(40), primary_key=True),
        sa.Column("site_id", sa.String(20), primary_key=True),
        sa.Column("stock_code", sa.String(100), nullable=False),
        sa.Column("available", sa.Numeric(18, 4), nullable=False),
        sa.Column("on_order", sa.Numeric(18, 4), nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
    )
    op.create_table(
        "order_statuses",
        sa.Column("order_id", sa.String(40), primary_key=True),
        sa.Column("order_code", sa.String(80), nullable=False),
        sa.Column("associated_ref", sa.String(80), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
    )
    op.create_table(
        "exceptions",
        sa.Column("trace_key", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(20), nullable=False),
        sa.Column("return_id", sa.String(64), nullable=False, index=True),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("first_seen", Moment, nullable=False),
        sa.Column("last_seen", Moment, nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False),
    )
