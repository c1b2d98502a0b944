"""Quoting for SQL the pipeline writes itself (DuckDB, and PostgreSQL through DuckDB's COPY).

The one place that turns a name into an identifier and a Python value into a literal: every
module that builds SQL text imports these instead of escaping quotes by hand. Values a query can
bind (`?`, `$name`) are bound; these are for what cannot be: identifiers, DDL, COMMENT ON, COPY
targets, ATTACH paths and the SQL that GX receives as plain text. `transaction` is the one
all-or-nothing block around several statements; `table_exists` and `column_names` the one way to
ask the catalog.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
from collections.abc import Iterator
from typing import Any

import duckdb


def quote_ident(name: str) -> str:
    """`name` as one double-quoted identifier (embedded `"` doubled): `a"b` -> `"a""b"`."""
    return '"' + name.replace('"', '""') + '"'


def quote_relation(*parts: str) -> str:
    """A qualified name, each part quoted: `quote_relation("marts", "x")` -> `"marts"."x"`.

    One argument holding dots (`"marts.x"`) is split on them: the form settings and suites use.
    """
    if len(parts) == 1:
        parts = tuple(parts[0].split("."))
    return ".".join(quote_ident(part) for part in parts)


def sql_literal(value: Any) -> str:
    """`value` as a literal: numbers as numbers, text, dates and paths quoted (`'` doubled).

    None is NULL, booleans TRUE/FALSE; NaN and infinities have no literal and raise ValueError.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot inline a non-finite number: {value!r}")
        return repr(value)
    if isinstance(value, dt.date | dt.datetime):
        value = value.isoformat()
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot inline a {type(value).__name__} SQL parameter")


def table_exists(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, *, views: bool = True
) -> bool:
    """True when `schema.table` exists in the current database (a view too, unless `views` is
    False: a view has no rows of its own worth counting)."""
    kinds = "('BASE TABLE', 'VIEW')" if views else "('BASE TABLE')"
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        f"AND table_schema = ? AND table_name = ? AND table_type IN {kinds}",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def column_names(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """The columns of `schema.table`, in table order (empty when it does not exist)."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_catalog = "
        "current_database() AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return [name for (name,) in rows]


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The block's statements commit together, or roll back together if it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
