"""Many rows written in one statement: the target's batches, and the exceptions they raise.

Each INSERT or UPDATE is compiled once for the database (SQLAlchemy Core) and sent as a
plain executemany of tuples, converted as SQLAlchemy would convert them (a NUL kept as
U+FFFD, a moment as SQLite stores it), without its per-row bookkeeping, which cost more
than SQLite's own insert (issue 22; tests/test_store_writes.py holds the rows to
SQLAlchemy's own).
"""

from __future__ import annotations

from collections.abc import Callable, KeysView, Mapping, Sequence
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.store import FreeText, document_bodies, documents, next_ids
from target_khaos_control.store_locks import lock_feed


def insert_many(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, object]]) -> None:
    """One INSERT for many rows (executemany), per set of columns given; a column not
    given gets its default."""
    for columns, batch in _by_columns(rows).items():
        statement = _written(conn.dialect, table, columns, None, ())
        conn.exec_driver_sql(statement.sql, statement.parameters(batch))


# What of a document goes to its body's row, written once (a pull then rewrites only the small rows).
_BODY_COLUMNS = frozenset(document_bodies.c.keys()) - {"document_id"}


def insert_documents(conn: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    """Documents, each row with its `body` and `lines`: those into `document_bodies`, in the
    same transaction (never a document without its body), under the feed's lock as the target writes."""
    lock_feed(conn)
    ids = next_ids(conn, documents, len(rows))
    insert_many(
        conn,
        documents,
        [
            {"id": id_, **{k: v for k, v in row.items() if k not in _BODY_COLUMNS}}
            for id_, row in zip(ids, rows, strict=True)
        ],
    )
    insert_many(
        conn,
        document_bodies,
        [
            {"document_id": id_, **{k: v for k, v in row.items() if k in _BODY_COLUMNS}}
            for id_, row in zip(ids, rows, strict=True)
        ],
    )


def update_many(
    conn: Connection, table: sa.Table, key: str, rows: Sequence[Mapping[str, object]], *, added: tuple[str, ...] = ()
) -> None:
    """One UPDATE for many rows that set the same columns (executemany); a column named in
    `added` is added to (what it holds plus the row's value), not set."""
    for columns, batch in _by_columns(rows).items():
        statement = _written(conn.dialect, table, columns, key, added)
        conn.exec_driver_sql(statement.sql, statement.parameters(batch))


def _by_columns(rows: Sequence[Mapping[str, object]]) -> dict[tuple[str, ...], list[Mapping[str, object]]]:
    grouped: dict[tuple[str, ...], list[Mapping[str, object]]] = {}
    # A batch's rows mostly give the columns of the row before: their keys compared as a set
    # (in C, no tuple made per row), sorted and looked up only when they differ.
    last: KeysView[str] | None = None
    group: list[Mapping[str, object]] = []
    for row in rows:
        keys = row.keys()
        if keys != last:
            columns = tuple(sorted(keys))
            group = grouped.setdefault(columns, [])
            last = keys
        group.append(row)
    return grouped


class _Written:
    """An INSERT or UPDATE compiled once for the dialect, and how rows become its parameters."""

    def __init__(
        self, dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...], key: str | None, added: tuple[str, ...]
    ) -> None:
        unknown = [column for column in columns if column not in table.c]
        if unknown:
            raise KeyError(f"{table.name} has no column {', '.join(unknown)}")
        if key is None:
            compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
            names = {column: column for column in compiled.binds}
        else:
            values: dict[str, sa.ColumnElement[Any]] = {}
            for name in columns:
                if name != key:
                    given: sa.BindParameter[Any] = sa.bindparam(f"b_{name}")
                    values[name] = table.c[name] + given if name in added else given
            update = table.update().where(table.c[key] == sa.bindparam(f"b_{key}")).values(**values)
            compiled = update.compile(dialect=dialect)
            names = {f"b_{column}": column for column in columns}
        order = compiled.positiontup if dialect.positional else list(compiled.binds)
        assert order is not None
        self.sql, self.positional, self.names = compiled.string, dialect.positional, list(order)
        self.defaults: dict[str, object] = {}  # columns not given: their defaults
        self.free_text: list[int] = []  # parameters that are FreeText: converted here, inline
        self.conversions: list[tuple[int, Callable[[Any], Any]]] = []  # the dialect's, for the rest
        keys = []
        for index, name in enumerate(self.names):
            column = table.c[names[name]]
            keys.append(column.key)
            if column.key not in columns:
                default = column.default.arg if isinstance(column.default, sa.ColumnDefault) else None
                if callable(default):
                    raise TypeError(f"{table.name}.{column.name}: a default computed per row is not supported here")
                self.defaults[column.key] = default
            convert = column.type.dialect_impl(dialect).bind_processor(dialect)
            if isinstance(column.type, FreeText) and column.type.impl_instance.bind_processor(dialect) is None:
                self.free_text.append(index)
            elif convert is not None:
                self.conversions.append((index, convert))
        self.values = itemgetter(*keys) if len(keys) > 1 else lambda row: (row[keys[0]],)

    def parameters(self, rows: Sequence[Mapping[str, object]]) -> list[tuple[object, ...]] | list[dict[str, object]]:
        """Each row's parameters, in the statement's order."""
        defaults, free_text, values = self.defaults, self.free_text, self.values
        written = [list(values({**defaults, **row} if defaults else row)) for row in rows]
        for index in free_text:  # FreeText.process_bind_param, without a call per value
            for row in written:
                value = row[index]
                if isinstance(value, str) and "\x00" in value:
                    row[index] = value.replace("\x00", "\ufffd")
        for index, convert in self.conversions:
            last: Any = object()
            for row in written:
                value = row[index]
                if value is not last:  # a batch's moments are one object: converted once
                    last, converted = value, convert(value)
                row[index] = converted
        if self.positional:
            return [tuple(row) for row in written]
        return [dict(zip(self.names, row, strict=True)) for row in written]


_WRITTEN: dict[tuple[str, str, str, tuple[str, ...], str | None, tuple[str, ...]], _Written] = {}


def _written(
    dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...], key: str | None, added: tuple[str, ...]
) -> _Written:
    # Every argument the statement is made from, the dialect as its name and paramstyle.
    added = tuple(column for column in added if column in columns)  # only those this set of rows gives
    cache_key = (dialect.name, dialect.paramstyle, table.name, columns, key, added)
    if cache_key not in _WRITTEN:
        _WRITTEN[cache_key] = _Written(dialect, table, columns, key, added)
    return _WRITTEN[cache_key]
