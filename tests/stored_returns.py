"""Returns put in a store as the target keeps them: each record in its version's row in
`return_versions`, the return's row in `reveni_returns` naming it (migration 0020)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.engine import Connection
from target_khaos_control.store import next_ids, return_versions, reveni_returns


def insert_returns(conn: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    """`reveni_returns` rows, each with its `record`: the record into its version's row."""
    ids = next_ids(conn, return_versions, len(rows))
    conn.execute(
        return_versions.insert(),
        [
            {"id": id_, "return_id": row["return_id"], "seen_at": row["last_changed"], "record": row["record"]}
            for id_, row in zip(ids, rows, strict=True)
        ],
    )
    conn.execute(
        reveni_returns.insert(),
        [
            {k: v for k, v in row.items() if k != "record"} | {"version_id": id_}
            for id_, row in zip(ids, rows, strict=True)
        ],
    )
