"""A pull is logged as the stretch of the feed it served, with how far every document
has been served; the log is bounded; on Postgres a pull marks its documents in place.

Each pull used to keep every reference it served (about 43 KB a pull, without end). One
pull is one contiguous stretch of the feed, so its first and last position say the same;
pulls logged before keep their references only where they were a re-request.
`served_through` lets a first contact walk the feed from the end of what was served
rather than from its start. On Postgres, pages left 40% free let the update that marks a
pull served stay on its page without touching an index (a heap-only update).
`catalogue_version` counts the stock pushes, so the target reads the catalogue again
only when Khaos changed it, not once per batch.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PULLS_KEPT = 100_000  # as store.PULLS_KEPT, fixed here as it was when this ran


def upgrade() -> None:
    with op.batch_alter_table("pulls") as table:
        table.add_column(sa.Column("first_position", sa.BigInteger, nullable=True))
        table.add_column(sa.Column("last_position", sa.BigInteger, nullable=True))
        table.add_column(sa.Column("served_through", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "catalogue_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    conn = op.get_bind()
    conn.execute(sa.text("insert into catalogue_version (id, version) values (1, 0)"))
    if conn.dialect.name == "postgresql":
        op.execute("ALTER TABLE documents SET (fillfactor = 60)")
    last = conn.execute(sa.text("select max(id) from pulls")).scalar_one_or_none()
    if last is None:
        return
    conn.execute(sa.text("delete from pulls where id <= :oldest"), {"oldest": last - PULLS_KEPT})
    position = sa.text("select feed_position from documents where associated_ref = :ref")
    pulled = conn.execute(
        sa.text("select id, refs from pulls where specific_ids = :no and refs != '[]'"), {"no": False}
    )
    for pull_id, refs in pulled.all():
        served = json.loads(refs)
        conn.execute(
            sa.text("update pulls set first_position = :first, last_position = :last, refs = '[]' where id = :id"),
            {
                "first": conn.execute(position, {"ref": served[0]}).scalar_one_or_none(),
                "last": conn.execute(position, {"ref": served[-1]}).scalar_one_or_none(),
                "id": pull_id,
            },
        )
    # How far everything was served, worked out once by walking the feed from its start.
    unserved = conn.execute(
        sa.text("select min(feed_position) from documents where state = 'published'")
    ).scalar_one_or_none()
    end = conn.execute(sa.text("select max(feed_position) from documents")).scalar_one_or_none()
    through = unserved - 1 if unserved is not None else (end or 0)
    conn.execute(sa.text("update pulls set served_through = :through where id = :id"), {"through": through, "id": last})
