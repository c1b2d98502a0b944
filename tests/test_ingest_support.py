"""Shared helpers of the ingest tests (this module holds no tests)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import duckdb

from pipeline.ingest import clean_entities, extract_landing, load_mapping
from pipeline.ingest.clean import CleanReport
from pipeline.ingest.extract import ExtractReport
from pipeline.lib.resources import RefreshSettings

DATA = Path(__file__).parent / "data" / "ingest"
AS_OF = dt.date(2024, 12, 31)
#: The settings' default plausibility floor (quality.date_floor).
DATE_FLOOR = RefreshSettings().date_floor_date()
LOG = logging.getLogger("tests.ingest")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write a fixture file (creating folders), returning its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def run(
    landing: Path, mapping_file: Path | None = None, con: duckdb.DuckDBPyConnection | None = None
) -> tuple[duckdb.DuckDBPyConnection, ExtractReport, CleanReport]:
    """Extract then clean `landing` into an in-memory warehouse."""
    con = con or duckdb.connect()
    extracted = extract_landing(con, landing, load_mapping(mapping_file), LOG)
    cleaned = clean_entities(con, AS_OF, "EUR", LOG, date_floor=DATE_FLOOR)
    return con, extracted, cleaned


def quarantine(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(entity, file, row, column, reason, action) of every quarantine entry, sorted."""
    return con.execute(
        "SELECT entity, source_file, source_row, column_name, reason_code, action "
        "FROM clean.quarantine ORDER BY entity, source_file, source_row, reason_code"
    ).fetchall()


def assert_invariant(con: duckdb.DuckDBPyConnection) -> None:
    """Per file: rows read = accepted + deferred + rejected, and the counts match the tables."""
    for entity, file, read, acc, deferred, rej in con.execute(
        "SELECT entity, source_file, rows_read, rows_accepted, rows_deferred, rows_rejected "
        "FROM clean.load_log"
    ).fetchall():
        assert read == acc + deferred + rej, file
        # Every row read is kept in raw (deferred and badly shaped rows too).
        raw = con.execute(
            f"SELECT count(*) FROM raw.{entity} WHERE _source_file = ?", [file]
        ).fetchone()[0]
        assert raw == read, file
        quarantined = con.execute(
            "SELECT count(*) FROM clean.quarantine WHERE source_file = ? AND action = 'rejected'",
            [file],
        ).fetchone()[0]
        assert quarantined == rej, file
