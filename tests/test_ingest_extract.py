"""Extraction: discovery, format detection, mapping, idempotence, structural errors."""

from __future__ import annotations

import gzip
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from test_ingest_support import DATA, LOG, assert_invariant, run, write

from pipeline.ingest import MissingColumnError, MissingEntityError, extract_landing, load_mapping
from pipeline.ingest.detect import detect_delimiter, detect_encoding

ORDERS = "order_id,customer_id,order_date,amount\nA1,C1,2024-01-05,10.00\nA2,C2,2024-02-06,20.50\n"


def test_discovery_longest_prefix_subfolder_and_unknown(tmp_path: Path) -> None:
    write(tmp_path / "orders_2024.csv", ORDERS)
    write(tmp_path / "order_lines_x.csv", "order_id,quantity,unit_price\nA1,2,5.00\n")
    write(tmp_path / "refunds" / "jan.csv", "customer_id,refunded_at,amount\nC1,2024-01-09,4\n")
    write(tmp_path / "notes.txt", "hello")
    write(tmp_path / "invoices.csv", "a\n1\n")
    con = duckdb.connect()
    report = extract_landing(con, tmp_path, load_mapping(None), LOG)
    assert {(f.entity, f.source_file) for f in report.files} == {
        ("orders", "orders_2024.csv"),
        ("order_lines", "order_lines_x.csv"),
        ("refunds", "refunds/jan.csv"),
    }
    assert report.ignored == ["invoices.csv", "notes.txt"]
    assert con.execute("SELECT _source_file, _source_row FROM raw.refunds").fetchall() == [
        ("refunds/jan.csv", 1)
    ]


def test_cp1252_file_with_mapping_pattern_expr_and_const(tmp_path: Path) -> None:
    shutil.copy(DATA / "commandes_fr_cp1252.csv", tmp_path)
    con, extracted, _ = run(tmp_path, DATA / "mapping_commandes.yaml")
    (file,) = extracted.files
    assert (
        file.entity,
        file.encoding,
        file.delimiter,
        file.decimal_separator,
        file.date_format,
        file.rows_read,
    ) == ("orders", "cp1252", ";", ",", "%d/%m/%Y", 2)
    rows = con.execute(
        "SELECT order_id, customer_id, order_date, amount, currency, channel "
        "FROM clean.orders ORDER BY order_id"
    ).fetchall()
    assert [(r[0], r[1], str(r[2]), r[3], r[4], r[5]) for r in rows] == [
        ("F-001", "C1", "2024-03-05", Decimal("19.98"), "EUR", "Boutique été"),
        ("F-002", "C2", "2024-03-17", Decimal("1250.00"), "EUR", "Web €"),
    ]
    assert_invariant(con)


def test_utf8_bom_header_is_clean(tmp_path: Path) -> None:
    write(tmp_path / "orders.csv", ORDERS)
    shutil.copy(DATA / "customers_bom.csv", tmp_path / "customers.csv")
    con, extracted, _ = run(tmp_path)
    enc = {f.entity: f.encoding for f in extracted.files}
    assert enc["customers"] == "utf-8-sig"
    assert con.execute(
        "SELECT customer_id, email, first_name, last_name, country FROM clean.customers "
        "WHERE NOT derived_from_orders"
    ).fetchall() == [("C1", "zoe@example.com", "Zoé", "Léa", "FR")]


def test_detectors_directly(tmp_path: Path) -> None:
    assert detect_delimiter('a\tb\tc\n1\t"x,y"\t3\n').value == "\t"
    assert detect_delimiter('a;b\n"1,5";2\n').value == ";"
    assert detect_delimiter("a,b\n1;5,2\n").value == ","
    latin = write(tmp_path / "l.csv", "a\n\x81é\n", encoding="latin-1")
    assert detect_encoding(latin)[0].value == "latin-1"
    utf = write(tmp_path / "u.csv", "a\nété\n")
    assert detect_encoding(utf)[0].value == "utf-8"


def test_tab_delimited_gzip_and_month_first(tmp_path: Path) -> None:
    text = (
        "order_id\tcustomer_id\torder_date\tamount\n"
        "A1\tC1\t01/31/2024\t3.5\nA2\tC1\t02/01/2024\t4\n"
    )
    with gzip.open(tmp_path / "orders.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write(text)
    con, extracted, _ = run(tmp_path)
    (file,) = extracted.files
    assert (file.delimiter, file.date_format, file.decimal_separator) == ("\t", "%m/%d/%Y", ".")
    assert [
        str(d)
        for (d,) in con.execute("SELECT order_date FROM clean.orders ORDER BY order_id").fetchall()
    ] == ["2024-01-31", "2024-02-01"]


def test_ambiguous_dates_assume_day_first_and_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "orders.csv", "order_id;customer_id;order_date;amount\nA1;C1;01/02/2024;3\n")
    with caplog.at_level("INFO", logger=LOG.name):
        con, extracted, _ = run(tmp_path)
    assert extracted.files[0].date_format == "%d/%m/%Y"
    assert "AMBIGUOUS" in caplog.text
    assert str(con.execute("SELECT order_date FROM clean.orders").fetchone()[0]) == "2024-02-01"


def test_parquet_file(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT 'A1' AS order_id, 'C1' AS customer_id, DATE '2024-03-01' AS order_date, "
        f"12.5::DECIMAL(10,2) AS amount) TO '{tmp_path / 'orders.parquet'}' (FORMAT parquet)"
    )
    con, extracted, _ = run(tmp_path, con=con)
    assert (extracted.files[0].encoding, extracted.files[0].rows_read) == ("parquet", 1)
    assert con.execute("SELECT order_id, amount FROM clean.orders").fetchall() == [
        ("A1", Decimal("12.50"))
    ]


def test_large_parquet_rows_keep_their_file_row_numbers(tmp_path: Path) -> None:
    """Parquet is read in place (no staging copy): row numbers, detection and dedupe still hold.

    Three row groups of text columns (as the demo exports them), decimal commas, one invalid
    amount, one exact copy and one order id delivered twice with different content.
    """
    gen = duckdb.connect()
    gen.execute(
        f"""COPY (
            SELECT CASE WHEN i = 250001 THEN 'O10' WHEN i = 250002 THEN 'O20' ELSE 'O' || i END
                       AS order_id,
                   'C' || (CASE WHEN i = 250002 THEN 20 ELSE i END % 1000) AS customer_id,
                   '2024-03-01' AS order_date,
                   CASE WHEN i = 123457 THEN 'abc' WHEN i = 250002 THEN '20,50'
                        ELSE CAST(i AS VARCHAR) || ',50' END AS amount
            FROM range(1, 300001) t(i) ORDER BY i
        ) TO '{tmp_path / "orders.parquet"}' (FORMAT parquet, ROW_GROUP_SIZE 100000)"""
    )
    con, extracted, cleaned = run(tmp_path)
    report = extracted.files[0]
    assert (report.rows_read, report.decimal_separator) == (300_000, ",")
    assert con.execute(
        "SELECT min(_source_row), max(_source_row), count(DISTINCT _source_row) FROM raw.orders"
    ).fetchone() == (1, 300_000, 300_000)
    assert con.execute("SELECT amount FROM raw.orders WHERE _source_row = 123457").fetchone() == (
        "abc",
    )
    assert con.execute(
        "SELECT source_row, reason_code, message FROM clean.quarantine ORDER BY source_row"
    ).fetchall() == [
        (
            10,
            "duplicate_order_id",
            "orders.parquet row 10: column order_id: 'O10' also in orders.parquet row 250001 "
            "with different content; that more recent version is kept",
        ),
        (
            20,
            "duplicate_row",
            "orders.parquet row 20: exact copy of orders.parquet row 250002, which is kept",
        ),
        (
            123457,
            "invalid_amount",
            "orders.parquet row 123457: column amount: 'abc' is not a valid amount "
            "(decimal separator ,)",
        ),
    ]
    assert cleaned.entities["orders"].accepted == 299_997
    assert con.execute(
        "SELECT amount, _source_row FROM clean.orders WHERE order_id = 'O10'"
    ).fetchone() == (Decimal("250001.50"), 250001)
    assert_invariant(con)


def test_reload_same_file_is_idempotent(tmp_path: Path) -> None:
    write(tmp_path / "orders.csv", ORDERS)
    con, _, first = run(tmp_path)
    con, _, second = run(tmp_path, con=con)
    assert con.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM clean.orders").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM clean.load_log").fetchone()[0] == 1
    assert first.entities["orders"] == second.entities["orders"]
    # A changed file with the same name replaces its previous rows.
    write(tmp_path / "orders.csv", ORDERS + "A3,C3,2024-03-01,1\n")
    con, _, third = run(tmp_path, con=con)
    assert con.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == 3
    assert third.entities["orders"].accepted == 3


def test_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    write(tmp_path / "orders.csv", ORDERS)
    write(tmp_path / "refunds_2024.csv", "customer_id,amount\nC1,3\n")
    con = duckdb.connect()
    with pytest.raises(MissingColumnError) as err:
        extract_landing(con, tmp_path, load_mapping(None), LOG)
    assert "refunds_2024.csv" in str(err.value)
    assert "'refunded_at'" in str(err.value)
    # Nothing was written: the check runs before any load.
    assert (
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw'"
        ).fetchone()[0]
        == 0
    )


def test_mapping_to_absent_source_column_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "orders.csv", ORDERS)
    mapping = write(
        tmp_path / "m.yaml", "entities:\n  orders:\n    columns:\n      amount: Montant\n"
    )
    with pytest.raises(MissingColumnError, match=r"orders\.csv.*'amount'.*'Montant'"):
        extract_landing(duckdb.connect(), tmp_path, load_mapping(mapping), LOG)


def test_empty_files_are_recorded_not_errors(tmp_path: Path) -> None:
    write(tmp_path / "orders.csv", ORDERS)
    write(tmp_path / "refunds.csv", "")
    write(tmp_path / "customers.csv", "customer_id,email\n")
    con, extracted, cleaned = run(tmp_path)
    rows = {f.source_file: (f.rows_read, f.empty) for f in extracted.files}
    assert rows == {"orders.csv": (2, False), "refunds.csv": (0, True), "customers.csv": (0, True)}
    assert con.execute(
        "SELECT source_file, rows_read, rows_accepted, rows_rejected FROM clean.load_log "
        "ORDER BY source_file"
    ).fetchall() == [("customers.csv", 0, 0, 0), ("orders.csv", 2, 2, 0), ("refunds.csv", 0, 0, 0)]
    assert cleaned.derived_customers == 2


def test_no_orders_file_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / "customers.csv", "customer_id\nC1\n")
    with pytest.raises(MissingEntityError, match="no orders file"):
        extract_landing(duckdb.connect(), tmp_path, load_mapping(None), LOG)


def test_extra_source_columns_are_kept_in_raw(tmp_path: Path) -> None:
    write(
        tmp_path / "orders.csv",
        "Order ID,Customer_ID,order_date,amount,Store Name\nA1,C1,2024-01-01,1,Paris 1er\n",
    )
    con, _, _ = run(tmp_path)
    assert con.execute("SELECT order_id, customer_id, store_name FROM raw.orders").fetchall() == [
        ("A1", "C1", "Paris 1er")
    ]


def test_many_badly_shaped_rows_keep_every_row_number(tmp_path: Path) -> None:
    """Above 4,096 set-apart rows the row numbers come from an ASOF join: still exact."""
    rows = []
    for i in range(1, 12_001):
        # Every third row has an unquoted decimal comma (one field too many).
        amount = "12,50" if i % 3 == 0 else "12.50"
        rows.append(f"A{i},C1,2024-01-05,{amount}")
    write(tmp_path / "orders.csv", "order_id,customer_id,order_date,amount\n" + "\n".join(rows))
    con, extracted, _ = run(tmp_path)
    assert extracted.files[0].rows_read == 12_000
    assert extracted.files[0].shape_rejected == 4_000
    wrong = con.execute(
        "SELECT count(*) FROM clean.orders WHERE order_id <> 'A' || _source_row"
    ).fetchone()[0]
    assert wrong == 0
    assert con.execute(
        "SELECT count(*), min(source_row % 3), max(source_row % 3) FROM clean.quarantine "
        "WHERE reason_code = 'extra_fields'"
    ).fetchone() == (4_000, 0, 0)
    assert_invariant(con)
