"""An index on when exceptions were last seen: each batch streams the ones it touched.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_exceptions_last_seen", "exceptions", ["last_seen"])
