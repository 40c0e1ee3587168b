"""Each document keeps what each Reveni item in it credits, and with which disposition:
what Khaos holds once it has pulled the document, for later versions to be judged against.

Documents from before keep `{}`: their credit is read from their gross prices instead.

Revision ID: 0011
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as table:
        table.add_column(sa.Column("lines", sa.Text, nullable=False, server_default="{}"))
