"""An index on the document an order status is about: each batch reads the statuses of
the documents Khaos holds of its returns, which without it read every status Khaos ever
pushed (issue 22: nothing a batch does grows with the store).

Revision ID: 0017
Revises: 0015
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_order_statuses_associated_ref", "order_statuses", ["associated_ref"])
