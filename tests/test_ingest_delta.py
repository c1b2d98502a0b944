"""Delta cleaning (pipeline/ingest/delta.py): new files are cleaned with the rows sharing a key with
them, and every clean table then equals a full cleaning of the same files.

The new files hold the cases where a new row changes an old row's fate: an exact copy in a file
named after the old one (the new copy is kept) and before it (the old one stays), a new version
of an order, a live version of an order whose only row was deferred (its lines follow), a line
without a number added to an old order, a refund without id copied, a newer version of a
customer record, and the record of a customer that orders had created (derived).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
from test_ingest_incremental import _tables
from test_ingest_support import AS_OF, DATE_FLOOR, LOG, assert_invariant, write

from pipeline.ingest import clean_entities, extract_landing, load_mapping
from pipeline.ingest.clean import CleanReport

CUSTOMERS = "customer_id,email,created_at,updated_at\n"
ORDERS = "order_id,customer_id,order_date,amount\n"
LINES = "order_id,line_number,product_id,quantity,unit_price\n"
REFUNDS = "refund_id,customer_id,order_id,refunded_at,amount\n"

BASE = {
    "customers.csv": CUSTOMERS
    + "C1,old@example.com,2024-01-01,2024-01-01\n"
    + "C2,c2@example.com,2024-01-01,2024-01-01\n"
    + "C3,c3@example.com,2024-01-01,2024-01-01\n",
    "orders_2024.csv": ORDERS
    + "O1,C1,2024-03-01,10.00\n"
    + "O2,C2,2024-04-01,20.00\n"
    # After the as-of date (2024-12-31): deferred, and its lines with it.
    + "O3,C3,2025-02-01,30.00\n"
    # C9 has no customer record: the cleaning derives one.
    + "O4,C9,2024-05-01,40.00\n"
    + "O5,C1,2024-06-01,5.00\n",
    "order_lines_2024.csv": LINES
    + "O1,,P1,1,4.00\n"
    + "O1,,P2,1,6.00\n"
    + "O2,1,P1,2,10.00\n"
    + "O3,1,P3,1,30.00\n"
    + "O4,1,P4,1,40.00\n",
    "refunds.csv": REFUNDS + ",C1,O1,2024-03-05,2.00\n",
}

DELTA = {
    # A newer version of C1, and the record of C9.
    "customers_2.csv": CUSTOMERS
    + "C1,new@example.com,2024-01-01,2024-06-01\n"
    + "C9,c9@example.com,2024-05-01,2024-05-01\n",
    # Named after orders_2024.csv: the more recent file.
    "orders_2024_b.csv": ORDERS
    + "O1,C1,2024-03-01,10.00\n"
    + "O2,C2,2024-04-01,25.00\n"
    + "O3,C3,2024-12-01,30.00\n"
    + "O6,C2,2024-07-01,60.00\n",
    # Named before it: the copy of O5 here is the older one.
    "orders_2020.csv": ORDERS + "O5,C1,2024-06-01,5.00\n",
    "order_lines_2024_b.csv": LINES + "O1,,P3,1,1.00\n" + "O6,1,P6,1,60.00\n",
    "refunds_2.csv": REFUNDS + ",C1,O1,2024-03-05,2.00\n",
}


def _write(landing: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        write(landing / name, text)


def _clean(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    as_of: dt.date = AS_OF,
    full: bool = False,
) -> CleanReport:
    extract_landing(con, landing, load_mapping(None), LOG)
    return clean_entities(con, as_of, "EUR", LOG, date_floor=DATE_FLOOR, full=full)


@pytest.fixture
def landed(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """A warehouse cleaned on the base files, then the delta files landed."""
    landing = tmp_path / "landing"
    _write(landing, BASE)
    con = duckdb.connect(str(tmp_path / "delta.duckdb"))
    assert not _clean(con, landing).delta
    _write(landing, DELTA)
    return con, landing


def _full(tmp_path: Path, landing: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(tmp_path / "full.duckdb")) as con:
        _clean(con, landing)
        return _tables(con)


def test_new_files_clean_only_their_keys_and_every_table_equals_a_full_cleaning(
    landed, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    con, landing = landed
    with caplog.at_level("INFO", logger=LOG.name):
        report = _clean(con, landing)
    assert report.delta
    assert "cleaning a delta: 5 new file(s)" in caplog.text
    # The rows of O1, O2, O3, O5 and O6 (not O4's): 5 old orders and 4 new, 4 old lines and 2
    # new.
    assert "orders: 9 raw row(s) to clean" in caplog.text
    assert "order_lines: 6 raw row(s) to clean" in caplog.text
    assert _tables(con) == _full(tmp_path, landing)
    assert_invariant(con)

    one = lambda sql: con.execute(sql).fetchall()  # noqa: E731
    assert one("SELECT order_id, amount, _source_file FROM clean.orders ORDER BY 1") == [
        ("O1", 10, "orders_2024_b.csv"),
        ("O2", 25, "orders_2024_b.csv"),
        ("O3", 30, "orders_2024_b.csv"),
        ("O4", 40, "orders_2024.csv"),
        ("O5", 5, "orders_2024.csv"),
        ("O6", 60, "orders_2024_b.csv"),
    ]
    assert one(
        "SELECT source_file, source_row, reason_code FROM clean.quarantine "
        "WHERE entity = 'orders' ORDER BY 1, 2"
    ) == [
        ("orders_2020.csv", 1, "duplicate_row"),
        ("orders_2024.csv", 1, "duplicate_row"),
        ("orders_2024.csv", 2, "duplicate_order_id"),
    ]
    # O3's only row was deferred: its line too; with a live version, the line is accepted.
    assert one(
        "SELECT order_id, line_number, product_id FROM clean.order_lines "
        "WHERE order_id IN ('O1', 'O3') ORDER BY 1, 2"
    ) == [("O1", 1, "P1"), ("O1", 2, "P2"), ("O1", 3, "P3"), ("O3", 1, "P3")]
    assert one(
        "SELECT customer_id, email, derived_from_orders FROM clean.customers ORDER BY 1"
    ) == [
        ("C1", "new@example.com", False),
        ("C2", "c2@example.com", False),
        ("C3", "c3@example.com", False),
        ("C9", "c9@example.com", False),
    ]
    assert one("SELECT _source_file FROM clean.refunds") == [("refunds_2.csv",)]
    assert one(
        "SELECT source_file, rows_read, rows_accepted, rows_deferred, rows_rejected "
        "FROM clean.load_log WHERE entity = 'orders' ORDER BY 1"
    ) == [
        ("orders_2020.csv", 1, 0, 0, 1),
        ("orders_2024.csv", 5, 2, 1, 2),
        ("orders_2024_b.csv", 4, 4, 0, 0),
    ]


def test_nothing_new_keeps_the_clean_tables_without_cleaning(
    landed, caplog: pytest.LogCaptureFixture
) -> None:
    con, landing = landed
    _clean(con, landing)
    before = _tables(con)
    with caplog.at_level("INFO", logger=LOG.name):
        report = _clean(con, landing)
    assert report.delta and report.entities["orders"].accepted == 6
    assert "nothing new since the last cleaning" in caplog.text
    assert "raw row(s) to clean" not in caplog.text
    assert _tables(con) == before


def test_an_as_of_date_moved_forward_cleans_the_rows_deferred_until_then(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A monthly refresh moves the as-of date: the rows the last cleaning deferred are cleaned
    again with their keys' rows, and a birth date it removed as future too."""
    landing = tmp_path / "landing"
    _write(landing, BASE)
    write(
        landing / "customers_late.csv",
        CUSTOMERS.replace("updated_at", "updated_at,birth_date")
        + "C4,c4@example.com,2024-01-01,2024-01-01,2025-01-15\n"
        # Created after the as-of date: deferred, then due.
        + "C5,c5@example.com,2025-01-20,2025-01-20,1990-01-01\n",
    )
    con = duckdb.connect(str(tmp_path / "delta.duckdb"))
    _clean(con, landing)
    assert con.execute(
        "SELECT reason_code FROM clean.quarantine WHERE column_name = 'birth_date'"
    ).fetchall() == [("future_date",)]
    later = dt.date(2025, 3, 1)
    with caplog.at_level("INFO", logger=LOG.name):
        report = _clean(con, landing, as_of=later)
    assert report.delta
    assert "as-of date moved forward (2024-12-31 -> 2025-03-01)" in caplog.text
    # O3 (dated 2025-02-01) and its line; C4 (its birth date) and C5.
    assert "orders: 1 raw row(s) to clean" in caplog.text
    assert "order_lines: 1 raw row(s) to clean" in caplog.text
    assert "customers: 2 raw row(s) to clean" in caplog.text
    assert con.execute(
        "SELECT customer_id, birth_date FROM clean.customers WHERE customer_id IN ('C4', 'C5') "
        "ORDER BY 1"
    ).fetchall() == [("C4", dt.date(2025, 1, 15)), ("C5", dt.date(1990, 1, 1))]
    assert (
        con.execute("SELECT count(*) FROM clean.order_lines WHERE order_id = 'O3'").fetchone()[0]
        == 1
    )
    with duckdb.connect(str(tmp_path / "full.duckdb")) as fresh:
        _clean(fresh, landing, as_of=later)
        assert _tables(con) == _tables(fresh)
    assert_invariant(con)
    # With new files too, against a full cleaning at that date.
    _write(landing, DELTA)
    assert _clean(con, landing, as_of=dt.date(2025, 4, 1)).delta
    with duckdb.connect(str(tmp_path / "full_later.duckdb")) as fresh:
        _clean(fresh, landing, as_of=dt.date(2025, 4, 1))
        assert _tables(con) == _tables(fresh)


@pytest.mark.parametrize("change", ["as_of", "full", "changed file", "removed file"])
def test_anything_but_new_files_cleans_everything_and_says_why(
    landed, tmp_path: Path, caplog: pytest.LogCaptureFixture, change: str
) -> None:
    con, landing = landed
    _clean(con, landing)
    as_of, full = AS_OF, False
    if change == "as_of":
        as_of = dt.date(2024, 11, 30)
        reason = "as-of date changed since the last cleaning: 2024-12-31 -> 2024-11-30"
    elif change == "full":
        full, reason = True, "full cleaning requested"
    elif change == "changed file":
        write(landing / "orders_2020.csv", ORDERS + "O5,C1,2024-06-01,7.00\n")
        reason = "1 file(s) changed, removed or read again since: orders_2020.csv"
    else:
        (landing / "orders_2020.csv").unlink()
        reason = "1 file(s) changed, removed or read again since: orders_2020.csv"
    with caplog.at_level("INFO", logger=LOG.name):
        report = _clean(con, landing, as_of=as_of, full=full)
    assert not report.delta
    assert f"cleaning everything: {reason}" in caplog.text
    reference = tmp_path / "reference"
    shutil.copytree(landing, reference)
    with duckdb.connect(str(tmp_path / "reference.duckdb")) as fresh:
        _clean(fresh, reference, as_of=as_of)
        expected = _tables(fresh)
    assert _tables(con) == expected
