"""Reveni's values fit whatever Reveni sends: ids, references and timestamps become text of
any length (a 65-character id stopped a whole load on Postgres), and each return keeps
its Reveni status, so a version whose status moves backwards can be caught.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WIDENED = {
    "reveni_returns": ("return_id", "updated_at"),
    "documents": ("associated_ref", "return_id", "source_updated_at"),
    "exceptions": ("trace_key", "return_id", "item_id"),
    "order_statuses": ("associated_ref",),
    "credit_notes": ("associated_ref",),
}


def upgrade() -> None:
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, type_=sa.Text)
    with op.batch_alter_table("reveni_returns") as returns:
        returns.add_column(sa.Column("status", sa.Text, nullable=False, server_default=""))
    returns_table = sa.table(
        "reveni_returns", sa.column("return_id", sa.Text), sa.column("record", sa.Text), sa.column("status")
    )
    bind = op.get_bind()
    for return_id, record in bind.execute(sa.select(returns_table.c.return_id, returns_table.c.record)).all():
        status = str(json.loads(record).get("status") or "").replace("\x00", "\ufffd")
        bind.execute(returns_table.update().where(returns_table.c.return_id == return_id).values(status=status))
