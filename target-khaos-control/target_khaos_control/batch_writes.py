"""Many rows written in one statement: the target's batches, and the exceptions they raise.

Each INSERT or UPDATE is compiled once for the database (SQLAlchemy Core) and sent as a
plain executemany of tuples, converted as SQLAlchemy would convert them (a NUL kept as
U+FFFD, a moment as SQLite stores it), without its per-row bookkeeping, which cost more
than SQLite's own insert (issue 22; tests/test_store_writes.py holds the rows to
SQLAlchemy's own). Khaos's pushes, a chunk at a time, go through SQLAlchemy as the
dialect's INSERT ... ON CONFLICT (`upsert_many`, `insert_missing`): a statement a chunk, not
one an entry.
"""

from __future__ import annotations

from collections.abc import Callable, KeysView, Mapping, Sequence
from itertools import repeat
from operator import contains, is_, itemgetter
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


def upsert_many(conn: Connection, table: sa.Table, key: tuple[str, ...], rows: Sequence[Mapping[str, object]]) -> None:
    """Each row inserted, or its columns set where a row of its `key` is there already (one
    statement for all, SQLite's and Postgres's ON CONFLICT): as one after another would,
    a key given twice keeps its last row."""
    last = {tuple(row[name] for name in key): row for row in rows}
    if not last:
        return
    statement = _dialect_insert(conn, table)
    given = next(iter(last.values()))
    statement = statement.on_conflict_do_update(
        index_elements=list(key), set_={name: statement.excluded[name] for name in given if name not in key}
    )
    conn.execute(statement, list(last.values()))


def insert_missing(
    conn: Connection, table: sa.Table, key: tuple[str, ...], rows: Sequence[Mapping[str, object]]
) -> None:
    """Each row whose `key` is not there yet (one statement for all); the rest left as they are."""
    first = {tuple(row[name] for name in key): row for row in reversed(rows)}
    if first:
        conn.execute(
            _dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(key)), list(first.values())
        )


def _dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's own INSERT, which says what to do ON CONFLICT (the store's dialect alone
    imported: the target's start-up loads no other)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


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
        self.defaults: list[tuple[int, object]] = []  # parameters of columns not given: their defaults
        self.free_text: list[int] = []  # parameters that are FreeText: converted here, inline
        self.conversions: list[tuple[int, Callable[[Any], Any]]] = []  # the dialect's, for the rest
        keys = []
        for index, name in enumerate(self.names):
            column = table.c[names[name]]
            if column.key in columns:
                keys.append(column.key)
            else:
                default = column.default.arg if isinstance(column.default, sa.ColumnDefault) else None
                if callable(default):
                    raise TypeError(f"{table.name}.{column.name}: a default computed per row is not supported here")
                self.defaults.append((index, default))
            convert = column.type.dialect_impl(dialect).bind_processor(dialect)
            if isinstance(column.type, FreeText) and column.type.impl_instance.bind_processor(dialect) is None:
                self.free_text.append(index)
            elif convert is not None:
                self.conversions.append((index, convert))
        # The values given, in the statement's order without the defaults (put in whole columns below).
        self.values = itemgetter(*keys) if len(keys) > 1 else lambda row: tuple(row[key] for key in keys)

    def parameters(self, rows: Sequence[Mapping[str, object]]) -> list[tuple[object, ...]] | list[dict[str, object]]:
        """Each row's parameters, in the statement's order."""
        picked: list[tuple[object, ...]] = list(map(self.values, rows))
        written = picked
        if rows and (self.defaults or self.free_text or self.conversions):
            # Column by column (issue 22): a column is looked at in C, and rebuilt only if it changes.
            columns: list[Sequence[object]] = list(zip(*picked, strict=True))
            for index, default in self.defaults:  # in the statement's order: each lands at its place
                columns.insert(index, [default] * len(rows))
            for index in self.free_text:
                columns[index] = _without_nul(columns[index])
            for index, convert in self.conversions:
                columns[index] = _converted(columns[index], convert)
            written = list(zip(*columns, strict=True))
        if self.positional:
            return written
        return [dict(zip(self.names, row, strict=True)) for row in written]


def _without_nul(column: Sequence[Any]) -> Sequence[object]:
    """FreeText.process_bind_param over a column: a NUL in a text kept as U+FFFD."""
    try:
        if not any(map(contains, column, repeat("\x00"))):  # the usual column: nothing to change
            return column
    except TypeError:  # a value that is no text (None): looked at one by one below
        pass
    return [value.replace("\x00", "\ufffd") if isinstance(value, str) else value for value in column]


def _converted(column: Sequence[object], convert: Callable[[Any], Any]) -> Sequence[object]:
    """The dialect's conversion of each value of a column."""
    first = column[0]
    if all(map(is_, column, repeat(first))):  # a batch's moments are one object: converted once
        return [convert(first)] * len(column)
    converted: list[object] = []
    last: object = object()
    for value in column:
        if value is not last:
            last, done = value, convert(value)
        converted.append(done)
    return converted


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
