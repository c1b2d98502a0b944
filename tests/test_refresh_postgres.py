"""`segments refresh` with `SEGMENTS_PG_DSN` set: PostgreSQL holds what the serving file holds.

A real refresh of the demo publishes to a throwaway PostgreSQL server; every table of the serving
file is then compared with its PostgreSQL copy cell by cell, as Python values (NULL stays NULL and
never becomes '', decimals stay exact, dates stay dates, accented labels survive). A refresh then
blocked by the clean gate (a new export with a third of its rows unreadable) must leave the
PostgreSQL schema, and every published file, exactly as they were.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg
import pytest
from psycopg import sql
from refresh_workspace import (
    last_lines,
    refresh,
    refresh_blocked,
    workspace,
    write_unreadable_amounts,
)

from pipeline.serving.postgres import pg_type

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCHEMA = "segments"


def _sort_key(row: tuple) -> tuple:
    return tuple((value is None, type(value).__name__, str(value)) for value in row)


def _duckdb_tables(serving: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table of the serving file: its columns and rows, typed as PostgreSQL receives them
    (the columns PostgreSQL gets as text are read as DuckDB's text form)."""
    tables = {}
    with duckdb.connect(str(serving), read_only=True) as con:
        names = [t for (t,) in con.execute("select table_name from duckdb_tables()").fetchall()]
        for table in names:
            columns = con.execute(
                "select column_name, data_type from duckdb_columns() "
                "where table_name = ? order by column_index",
                [table],
            ).fetchall()
            select = ", ".join(
                f'cast("{name}" as varchar)' if pg_type(kind)[1] else f'"{name}"'
                for name, kind in columns
            )
            rows = con.execute(f'select {select} from "{table}"').fetchall()
            tables[table] = ([name for name, _ in columns], sorted(rows, key=_sort_key))
    return tables


def _postgres_rows(cur: psycopg.Cursor, table: str, columns: list[str]) -> list[tuple]:
    query = sql.SQL("SELECT {} FROM {}.{}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.Identifier(SCHEMA),
        sql.Identifier(table),
    )
    return sorted((tuple(row) for row in cur.execute(query).fetchall()), key=_sort_key)


def _schema_digest(dsn: str) -> dict[str, str]:
    """A checksum of every table of the live schema (rows in a stable order)."""
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        tables = [
            t
            for (t,) in cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                [SCHEMA],
            ).fetchall()
        ]
        digests = {}
        for table in tables:
            rows = cur.execute(
                sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table))
            ).fetchall()
            digests[table] = hashlib.sha256(repr(sorted(rows, key=_sort_key)).encode()).hexdigest()
    return digests


def test_a_refresh_publishes_to_postgres_what_the_serving_file_holds_then_a_block_keeps_it(
    refreshed, tmp_path, pg_dsn, monkeypatch
):
    monkeypatch.setenv("SEGMENTS_PG_DSN", pg_dsn)
    ws = workspace(refreshed, tmp_path)
    code, output = refresh(ws, "--force")
    assert code == 0, output

    serving = ws["state"] / "serving" / "segments.duckdb"
    expected = _duckdb_tables(serving)
    kinds: Counter[str] = Counter()
    with psycopg.connect(pg_dsn) as conn, conn.cursor() as cur:
        live = {
            t
            for (t,) in cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                [SCHEMA],
            ).fetchall()
        }
        assert live == set(expected)
        for table, (columns, rows) in expected.items():
            actual = _postgres_rows(cur, table, columns)
            assert len(actual) == len(rows), table
            for duck_row, pg_row in zip(rows, actual, strict=True):
                for column, want, got in zip(columns, duck_row, pg_row, strict=True):
                    assert got == want and type(got) is type(want), (table, column, want, got)
                    if want is None:
                        kinds["null"] += 1
                    elif isinstance(want, Decimal):
                        kinds["decimal"] += 1
                    elif isinstance(want, dt.date):
                        kinds["date"] += 1
                    elif isinstance(want, str) and not want.isascii():
                        kinds["accented text"] += 1
    # The comparison covered every kind of value the issue names (it cannot pass on empty data).
    assert all(kinds[kind] > 100 for kind in ("null", "decimal", "date", "accented text")), kinds

    # A refresh blocked by the clean gate leaves PostgreSQL (and everything else) as it was.
    before_pg = _schema_digest(pg_dsn)
    write_unreadable_amounts(ws["landing"])
    step, cause = last_lines(refresh_blocked(ws))
    assert step == "gate clean_orders_gate on clean/orders"
    assert "orders_marketplace.csv" in cause
    assert _schema_digest(pg_dsn) == before_pg
    with duckdb.connect(str(ws["warehouse"]), read_only=True) as con:
        (rejected,) = con.execute(
            "select count(*) from clean.quarantine where source_file like '%orders_marketplace.csv'"
        ).fetchone()
    assert rejected == 10
