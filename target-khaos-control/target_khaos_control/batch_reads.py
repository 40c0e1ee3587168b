"""The rows of many returns read in one statement per 500 ids: the target's batches.

A query is compiled once per database driver for 500 ids and run as the driver's own
statement: SQLAlchemy's expanding `IN (...)` cost five times the query itself on 500 ids
(issue 22; tests/test_store_reads.py holds the rows to SQLAlchemy's own). A shorter list
is padded with its last id, which matches nothing more. No result conversion is applied,
so only columns the driver already returns as Python holds them (text, integers) are read
this way; any other is refused when the query is compiled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.store import FreeText, chunks

IDS = 500  # ids a statement takes: one chunk (`store.chunks`)


class ReadIn:
    """SELECT `query` WHERE `column` IN (ids): constants in `query` must be literal
    (`literal_execute=True`), the ids its only parameters."""

    def __init__(self, query: sa.Select[Any], column: sa.ColumnElement[Any]) -> None:
        """Read what `query` selects of the rows whose `column` is one of the ids given."""
        self.query, self.column = query, column
        # Keyed by the dialect's class (psycopg and psycopg2 render differently) and
        # paramstyle: with the query and the number of ids fixed, that is all the SQL depends on.
        self._compiled: dict[tuple[type[sa.Dialect], str], _Compiled] = {}

    def rows(self, conn: Connection, ids: Sequence[str]) -> list[Any]:
        """The rows (each with its columns by name) of these ids."""
        dialect = conn.dialect
        key = (type(dialect), dialect.paramstyle)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _Compiled(dialect, self.query, self.column)
        rows: list[Any] = []
        for chunk in chunks(ids, IDS):
            rows += conn.exec_driver_sql(compiled.sql, compiled.parameters(chunk)).all()
        return rows


class _Compiled:
    """The statement for one dialect, and how ids become its parameters."""

    def __init__(self, dialect: sa.Dialect, query: sa.Select[Any], column: sa.ColumnElement[Any]) -> None:
        for selected in query.selected_columns:
            if selected.type.dialect_impl(dialect).result_processor(dialect, None) is not None:
                raise TypeError(f"{selected.name}: its values need converting; read it with SQLAlchemy")
        ids: sa.BindParameter[list[str]] = sa.bindparam("ids", [""] * IDS, expanding=True)
        compiled = query.where(column.in_(ids)).compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        self.names = list(compiled.params)
        if self.names != [f"ids_{n}" for n in range(1, IDS + 1)]:
            raise ValueError(f"only the ids may be parameters; found {', '.join(self.names)}")
        self.sql, self.positional = compiled.string, dialect.positional
        self.convert: Callable[[Any], Any] | None = column.type.dialect_impl(dialect).bind_processor(dialect)
        # FreeText's own conversion (a NUL as U+FFFD), inline: a call per id cost more than the query
        self.free_text = isinstance(column.type, FreeText) and column.type.impl_instance.bind_processor(dialect) is None

    def parameters(self, ids: Sequence[str]) -> tuple[object, ...] | dict[str, object]:
        """The ids as the statement's parameters, padded to its length with the last one."""
        padded = list(ids) + [ids[-1]] * (IDS - len(ids))
        if self.free_text:
            values = [v.replace("\x00", "\ufffd") if isinstance(v, str) and "\x00" in v else v for v in padded]
        else:
            values = [self.convert(value) for value in padded] if self.convert else padded
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))
