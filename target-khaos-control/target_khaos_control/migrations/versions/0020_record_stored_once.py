"""A return's record is kept once: `reveni_returns` names its version's row in
`return_versions` (`version_id`) instead of holding a second copy of the record.

Each new version was written twice, ~1.3 KB each time (issue 22: ~5 KB a return in the
store). The stored version is the newest row of its return whose record is the stored
one; a store whose stored record is in no version's row (none the target wrote) gets
that row, seen when the return last changed, as migration 0012 made them. A temporary
index on `return_versions.return_id` finds them (migration 0018 dropped the lasting one).
Downgrade copies each stored version's record back.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_POINT = (
    "update reveni_returns set version_id = (select max(v.id) from return_versions v"
    " where v.return_id = reveni_returns.return_id and v.record = reveni_returns.record)"
    " where version_id is null"
)


def upgrade() -> None:
    with op.batch_alter_table("reveni_returns") as table:
        table.add_column(sa.Column("version_id", sa.Integer, nullable=True))
    op.create_index("ix_return_versions_return_id_0020", "return_versions", ["return_id"])
    op.execute(_POINT)
    op.execute(
        "insert into return_versions (return_id, seen_at, record)"
        " select return_id, last_changed, record from reveni_returns where version_id is null"
    )
    op.execute(_POINT)
    op.drop_index("ix_return_versions_return_id_0020", table_name="return_versions")
    with op.batch_alter_table("reveni_returns") as table:
        table.drop_column("record")
        table.alter_column("version_id", existing_type=sa.Integer, nullable=False)
        table.create_foreign_key("fk_reveni_returns_version", "return_versions", ["version_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("reveni_returns") as table:
        table.drop_constraint("fk_reveni_returns_version", type_="foreignkey")
        table.add_column(sa.Column("record", sa.Text, nullable=True))
    op.execute(
        "update reveni_returns set record = (select v.record from return_versions v where v.id = reveni_returns.version_id)"
    )
    with op.batch_alter_table("reveni_returns") as table:
        table.drop_column("version_id")
        table.alter_column("record", existing_type=sa.Text, nullable=False)
