"""Builders of clean.customers tables for identity tests (this module holds no tests)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from pipeline.ingest.entities import ENTITIES

#: clean.customers as cleaning writes it (entities.py); the key is declared a primary key here
#: so that a test giving two rows one id fails at once.
COLUMNS = dict(ENTITIES["customers"].clean_columns())
DEFAULT_TS = dt.datetime(2025, 1, 1)


def customer(customer_id: str, **fields) -> dict:
    """A clean.customers row: unspecified fields are NULL, timestamps default to 2025-01-01."""
    row = dict.fromkeys(COLUMNS)
    row.update(customer_id=customer_id, created_at=DEFAULT_TS, derived_from_orders=False)
    row.update(fields)
    if row["updated_at"] is None:
        row["updated_at"] = row["created_at"]
    return row


def write_customers(path: Path, rows: list[dict]) -> None:
    """(Re)create clean.customers in the DuckDB file `path` with exactly `rows`."""
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS clean")
        ddl = ", ".join(f"{name} {dtype}" for name, dtype in COLUMNS.items())
        ddl += f", PRIMARY KEY ({', '.join(ENTITIES['customers'].key)})"
        con.execute("DROP TABLE IF EXISTS clean.customers")
        con.execute(f"CREATE TABLE clean.customers ({ddl})")
        if rows:
            placeholders = ", ".join("?" for _ in COLUMNS)
            con.executemany(
                f"INSERT INTO clean.customers VALUES ({placeholders})",
                [[row[c] for c in COLUMNS] for row in rows],
            )
    finally:
        con.close()


def resolve_rows(db: Path, rows: list[dict], overrides=None, as_of: dt.date | None = None):
    """Write `rows` as clean.customers in `db` and resolve them once.

    Returns (ResolutionReport, source customer id -> master id). as_of defaults to 2026-10-01.
    """
    from pipeline.identity.resolve import resolve_identities

    write_customers(db, rows)
    con = duckdb.connect(str(db))
    try:
        report = resolve_identities(con, as_of or dt.date(2026, 10, 1), overrides)
        mapping = dict(
            con.execute(
                "SELECT source_customer_id, customer_id FROM identity.customer_identity_map"
            ).fetchall()
        )
    finally:
        con.close()
    return report, mapping
