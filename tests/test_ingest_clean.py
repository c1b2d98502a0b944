"""Cleaning: every reason code with its column and row, normalisation, the per-file invariant."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from test_ingest_support import AS_OF, DATE_FLOOR, LOG, assert_invariant, quarantine, run, write

from pipeline.ingest import clean

ORDERS_BAD = (
    "order_id;customer_id;order_date;amount;status;discount_amount\n"
    "A1;C1;31/01/2024;12,50;completed;\n"  # 1 ok
    "A2;C1;31/02/2024;10,00;;\n"  # 2 unparsable_date
    "A3;C1;01/02/2024;abc;completed;\n"  # 3 invalid_amount
    "A4;C1;02/02/2024;-3,00;completed;\n"  # 4 negative_amount
    "A5;C1;02/02/2024;5,00;shipped;\n"  # 5 unknown_status
    ";C1;02/02/2024;5,00;completed;\n"  # 6 missing_required
    "A6;C1;02/02/2030;5,00;completed;\n"  # 7 dated after the as-of: deferred, not quarantined
    "A1;C1;31/01/2024;12,50;completed;\n"  # 8 duplicate_row (of row 1; row 8 kept)
    "A7;C9; Cancelled ;5,00;Cancelled;1,00\n"  # 9 unparsable_date (' Cancelled ' as date)
    "A8;C9;03/02/2024;1.234,50; RETURNED ;x\n"  # 10 ok, discount nulled (invalid_amount)
)


def test_every_order_reason_with_column_and_row(tmp_path: Path) -> None:
    write(tmp_path / "orders_2024.csv", ORDERS_BAD)
    con, _, report = run(tmp_path)
    assert quarantine(con) == [
        ("orders", "orders_2024.csv", 1, None, "duplicate_row", "rejected"),
        ("orders", "orders_2024.csv", 2, "order_date", "unparsable_date", "rejected"),
        ("orders", "orders_2024.csv", 3, "amount", "invalid_amount", "rejected"),
        ("orders", "orders_2024.csv", 4, "amount", "negative_amount", "rejected"),
        ("orders", "orders_2024.csv", 5, "status", "unknown_status", "rejected"),
        ("orders", "orders_2024.csv", 6, "order_id", "missing_required", "rejected"),
        ("orders", "orders_2024.csv", 9, "order_date", "unparsable_date", "rejected"),
        ("orders", "orders_2024.csv", 10, "discount_amount", "invalid_amount", "field_nulled"),
    ]
    message = con.execute("SELECT message FROM clean.quarantine WHERE source_row = 2").fetchone()[0]
    assert message == (
        "orders_2024.csv row 2: column order_date: '31/02/2024' is not a valid "
        "date (format %d/%m/%Y)"
    )
    raw_row = con.execute(
        "SELECT raw_row::JSON->>'amount' FROM clean.quarantine WHERE source_row = 3"
    ).fetchone()
    assert raw_row == ("abc",)
    orders = con.execute(
        "SELECT order_id, amount, status, currency, discount_amount, _source_row "
        "FROM clean.orders ORDER BY order_id"
    ).fetchall()
    assert orders == [
        ("A1", Decimal("12.50"), "completed", "EUR", None, 8),
        ("A8", Decimal("1234.50"), "returned", "EUR", None, 10),
    ]
    counts = report.entities["orders"]
    assert (
        counts.rows_read,
        counts.accepted,
        counts.deferred,
        counts.rejected,
        counts.fields_nulled,
    ) == (10, 2, 1, 7, 1)
    assert report.derived_customers == 2  # C1 and C9: there is no customers file
    assert_invariant(con)


def test_duplicate_order_id_keeps_most_recent_export(tmp_path: Path) -> None:
    head = "order_id,customer_id,order_date,amount\n"
    write(tmp_path / "orders_2024_01.csv", head + "A1,C1,2024-01-05,10.00\nA2,C1,2024-01-06,5\n")
    write(tmp_path / "orders_2024_02.csv", head + "A1,C1,2024-01-05,11.00\nA2,C1,2024-01-06,5\n")
    con, _, report = run(tmp_path)
    assert quarantine(con) == [
        ("orders", "orders_2024_01.csv", 1, "order_id", "duplicate_order_id", "rejected"),
        ("orders", "orders_2024_01.csv", 2, None, "duplicate_row", "rejected"),
    ]
    assert con.execute(
        "SELECT order_id, amount, _source_file FROM clean.orders ORDER BY order_id"
    ).fetchall() == [
        ("A1", Decimal("11.00"), "orders_2024_02.csv"),
        ("A2", Decimal("5.00"), "orders_2024_02.csv"),
    ]
    assert con.execute(
        "SELECT source_file, rows_read, rows_accepted, rows_rejected FROM clean.load_log ORDER BY 1"
    ).fetchall() == [("orders_2024_01.csv", 2, 0, 2), ("orders_2024_02.csv", 2, 2, 0)]
    assert report.quarantined == {"duplicate_order_id": 1, "duplicate_row": 1}
    assert_invariant(con)


def test_customers_normalisation_and_field_nulled(tmp_path: Path) -> None:
    write(tmp_path / "orders.csv", "order_id,customer_id,order_date,amount\nA1,C1,2024-01-05,1\n")
    write(
        tmp_path / "customers.csv",
        "customer_id,email,first_name,last_name,phone,country,birth_date,marketing_opt_in,"
        "created_at\n"
        " C1 , Zoe.L@Example.COM ,Zoe\u0301, de la Tour ,06 12 34 56 78,France,1990-05-04,oui,"
        "2023-01-02 10:00:00\n"
        "C2,not-an-email,Jean,Dupont,12,be,2099-01-01,maybe,\n"
        "C3,,Ana,,+32 470 12 34 56,Atlantis,,,\n"
        ",x@y.fr,Nobody,,,,,,\n",
    )
    con, _, report = run(tmp_path)
    assert quarantine(con) == [
        ("customers", "customers.csv", 2, "birth_date", "future_date", "field_nulled"),
        ("customers", "customers.csv", 2, "email", "invalid_email", "field_nulled"),
        ("customers", "customers.csv", 2, "phone", "invalid_phone", "field_nulled"),
        ("customers", "customers.csv", 2, "marketing_opt_in", "invalid_value", "field_nulled"),
        ("customers", "customers.csv", 3, "country", "invalid_value", "field_nulled"),
        ("customers", "customers.csv", 4, "customer_id", "missing_required", "rejected"),
    ]
    rows = con.execute(
        "SELECT customer_id, email, first_name, last_name, phone, country, birth_date, "
        "marketing_opt_in, created_at, updated_at, derived_from_orders "
        "FROM clean.customers ORDER BY customer_id"
    ).fetchall()
    c1, c2, c3 = rows
    assert c1[:8] == (
        "C1",
        "zoe.l@example.com",
        "Zo\u00e9",
        "de la Tour",
        "+33612345678",
        "FR",
        c1[6],
        True,
    )
    assert str(c1[6]) == "1990-05-04"
    assert str(c1[8]) == str(c1[9]) == "2023-01-02 10:00:00"  # updated_at defaults to created_at
    assert c2[1:8] == (None, "Jean", "Dupont", None, "BE", None, None)
    assert c3[4:6] == ("+32470123456", None)  # international number kept, bad country nulled
    assert c1[10] is c2[10] is c3[10] is False
    assert report.entities["customers"].accepted == 3
    assert_invariant(con)


def test_other_entities_reasons_and_derived_customers(tmp_path: Path) -> None:
    write(tmp_path / "orders.csv", "order_id,customer_id,order_date,amount\nA1,C1,2024-01-05,8\n")
    write(tmp_path / "customers.csv", "customer_id\nC1\n")
    write(
        tmp_path / "refunds.csv",
        "customer_id,order_id,refunded_at,amount\nC1,A1,2024-01-07,3\nC1,A1,2024-01-08,0\n"
        "C5,,2024-02-01,2\nC1,A1,2024-01-07,3\n",
    )
    write(
        tmp_path / "order_lines.csv",
        "order_id,product_id,quantity,unit_price\nA1,P1,2,3.00\nA1,P2,1.5,2.00\n"
        "A1,P3,1,-1\nA1,P4,1,2.00\nZ9,P1,1,1\n",
    )
    write(
        tmp_path / "nps_responses.csv",
        "customer_id,responded_at,score\nC1,2024-02-01,9\nC1,2024-02-02,11\nC7,2024-02-03,0\n",
    )
    write(
        tmp_path / "support_tickets.csv",
        "ticket_id,customer_id,created_at,topic\nT1,C1,2024-03-01,delivery\n"
        "T1,C1,2024-03-02,refund\nT2,C8,2024-03-03,\n",
    )
    con, _, report = run(tmp_path)
    assert quarantine(con) == [
        ("nps_responses", "nps_responses.csv", 2, "score", "invalid_value", "rejected"),
        ("order_lines", "order_lines.csv", 2, "quantity", "invalid_value", "rejected"),
        ("order_lines", "order_lines.csv", 3, "unit_price", "negative_amount", "rejected"),
        ("refunds", "refunds.csv", 1, None, "duplicate_row", "rejected"),
        ("refunds", "refunds.csv", 2, "amount", "invalid_value", "rejected"),
        ("support_tickets", "support_tickets.csv", 1, "ticket_id", "duplicate_key", "rejected"),
    ]
    refund_ids = [r for (r,) in con.execute("SELECT refund_id FROM clean.refunds").fetchall()]
    assert len(refund_ids) == 2 and all(r.startswith("RF-") and len(r) == 19 for r in refund_ids)
    assert con.execute(
        "SELECT order_id, line_number, product_id FROM clean.order_lines "
        "ORDER BY order_id, line_number"
    ).fetchall() == [("A1", 1, "P1"), ("A1", 2, "P4"), ("Z9", 1, "P1")]
    assert report.orphan_order_lines == 1
    assert report.derived_by_entity == {"nps_responses": 1, "refunds": 1, "support_tickets": 1}
    assert con.execute(
        "SELECT customer_id, CAST(created_at AS DATE)::VARCHAR FROM clean.customers "
        "WHERE derived_from_orders ORDER BY 1"
    ).fetchall() == [("C5", "2024-02-01"), ("C7", "2024-02-03"), ("C8", "2024-03-03")]
    assert con.execute(
        "SELECT topic FROM clean.support_tickets WHERE ticket_id = 'T1'"
    ).fetchall() == [("refund",)]
    assert_invariant(con)


def test_invalid_encoding_rows_are_quarantined(tmp_path: Path) -> None:
    body = "order_id,customer_id,order_date,amount,channel\n" + "".join(
        f"A{i},C1,2024-01-0{i},1,boutique été\n" for i in range(1, 6)
    )
    data = body.encode("utf-8").replace(
        b"A3,C1,2024-01-03,1,boutique \xc3\xa9t\xc3\xa9", b"A3,C1,2024-01-03,1,boutique \xe9t\xe9"
    )
    (tmp_path / "orders.csv").write_bytes(data)
    con, extracted, report = run(tmp_path)
    assert extracted.files[0].encoding == "utf-8"
    assert extracted.files[0].invalid_bytes == 2
    assert quarantine(con) == [
        ("orders", "orders.csv", 3, "channel", "invalid_encoding", "rejected")
    ]
    assert report.entities["orders"].accepted == 4
    assert_invariant(con)


def test_customers_absent_are_derived_from_orders(tmp_path: Path) -> None:
    write(
        tmp_path / "orders.csv",
        "order_id,customer_id,order_date,amount\nA1,C2,2024-03-05,1\nA2,C2,2024-01-05,2\n"
        "A3,C1,2024-02-01,3\n",
    )
    con, _, report = run(tmp_path)
    assert report.derived_customers == 2
    assert con.execute(
        "SELECT customer_id, created_at::VARCHAR, updated_at::VARCHAR, derived_from_orders, "
        "email FROM clean.customers ORDER BY 1"
    ).fetchall() == [
        ("C1", "2024-02-01 00:00:00", "2024-02-01 00:00:00", True, None),
        ("C2", "2024-01-05 00:00:00", "2024-01-05 00:00:00", True, None),
    ]
    # Every clean table exists even without a file for it.
    for table in ("refunds", "order_lines", "nps_responses", "support_tickets"):
        assert con.execute(f"SELECT count(*) FROM clean.{table}").fetchone()[0] == 0


def test_clean_is_deterministic(tmp_path: Path) -> None:
    write(tmp_path / "orders_2024.csv", ORDERS_BAD)
    con, _, _ = run(tmp_path)
    first = con.execute("SELECT * FROM clean.quarantine ORDER BY ALL").fetchall()
    orders = con.execute("SELECT * FROM clean.orders ORDER BY ALL").fetchall()

    from pipeline.ingest import clean_entities

    clean_entities(con, AS_OF, "EUR", LOG, date_floor=DATE_FLOOR)
    assert con.execute("SELECT * FROM clean.quarantine ORDER BY ALL").fetchall() == first
    assert con.execute("SELECT * FROM clean.orders ORDER BY ALL").fetchall() == orders


def test_line_numbers_skip_exact_copies_and_follow_explicit_ones(tmp_path: Path) -> None:
    """Lines without a number are numbered in file order among the distinct valid lines.

    An exact copy (quarantined as duplicate_row, the later copy is kept) takes no number; an
    explicitly numbered line of another file counts; an invalid line takes none.
    """
    write(tmp_path / "orders.csv", "order_id,customer_id,order_date,amount\nA1,C1,2024-01-05,9\n")
    write(
        tmp_path / "order_lines_1.csv",
        "order_id,line_number,product_id,quantity,unit_price\nA1,7,P0,1,1\n",
    )
    write(
        tmp_path / "order_lines_2.csv",
        "order_id,product_id,quantity,unit_price\n"
        "A1,P1,1,5\n"  # row 1: exact copy of row 2, which is kept
        "A1,P1,1,5\n"
        "A1,P2,x,5\n"  # row 3: invalid quantity
        "A1,P3,2,5\n",
    )
    con, _, _ = run(tmp_path)
    assert con.execute(
        "SELECT line_number, product_id, _source_file, _source_row FROM clean.order_lines "
        "ORDER BY line_number"
    ).fetchall() == [
        (2, "P1", "order_lines_2.csv", 2),
        (3, "P3", "order_lines_2.csv", 4),
        (7, "P0", "order_lines_1.csv", 1),
    ]
    assert [q for q in quarantine(con) if q[0] == "order_lines"] == [
        ("order_lines", "order_lines_2.csv", 1, None, "duplicate_row", "rejected"),
        ("order_lines", "order_lines_2.csv", 3, "quantity", "invalid_value", "rejected"),
    ]
    assert_invariant(con)


def test_entity_specific_checks_are_the_spec_rules_after_the_generic_ones() -> None:
    """Each EntitySpec's ValueRules become its last checks, in declared order, with their SQL."""
    from pipeline.ingest.entities import ENTITIES
    from pipeline.ingest.rules import entity_checks

    for name, spec in ENTITIES.items():
        checks = entity_checks(name, "'ISO'")
        tail = checks[len(checks) - len(spec.rules) :] if spec.rules else []
        assert [(c.column, c.reason, c.condition, c.nulls_field) for c in tail] == [
            (r.column, r.reason, r.rejects, r.drops_value) for r in spec.rules
        ], name
    refunds = entity_checks("refunds", "'ISO'")[-1]
    assert "'a refund amount must be greater than 0'" in refunds.message
    status = entity_checks("orders", "'ISO'")[-1]
    assert "' is not one of completed, cancelled, returned'" in status.message
    assert {r.reason for s in ENTITIES.values() for r in s.rules} <= {
        "unknown_status",
        "invalid_value",
        "invalid_email",
    }


def test_day_first_values_parse_as_strptime_does_without_reading_past_their_end() -> None:
    """The file's strptime format reads dates, timestamps, padded and broken values as before.

    Every `try_strptime` gets the value and the format with the sentinel appended: without it,
    DuckDB 1.5.5 read one byte past each '12/05/2024 10:30' tried with '... %H:%M:%S' and
    crashed the cleaning step about one run in three on the 1M-order demo.
    """
    import re

    import duckdb

    from pipeline.ingest.sql_fragments import STRPTIME_SENTINEL, timestamp_sql

    expected = {
        "12/05/2024": "2024-05-12 00:00:00",
        "12/05/2024\t": "2024-05-12 00:00:00",  # strptime accepts trailing whitespace
        "12/05/2024\r\n": "2024-05-12 00:00:00",
        "1/5/2024": "2024-05-01 00:00:00",
        "12/05/2024 10:30": "2024-05-12 10:30:00",
        "12/05/2024 1:05": "2024-05-12 01:05:00",
        "12/05/2024  10:30:15": "2024-05-12 10:30:15",
        "2024-05-12": "2024-05-12 00:00:00",  # ISO whatever the file's format
        "31/02/2024": None,
        "12/05": None,
        "12/05/24": None,  # no four-digit year: never year 0024
        "   ": None,
        "12/05/2024T10:30": None,
        f"12/05/2024{STRPTIME_SENTINEL}": None,
    }
    sql = timestamp_sql("v", ["%d/%m/%Y"])
    calls = re.findall(r"try_strptime\((.*?) \|\| '(.)', '([^']*)'\)", sql)
    assert len(calls) == 3 and all(
        end == STRPTIME_SENTINEL and fmt.endswith(end) for _, end, fmt in calls
    )
    con = duckdb.connect()
    con.execute("CREATE TABLE t (v VARCHAR, _date_format VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, '%d/%m/%Y')", [[v] for v in expected])
    parsed = dict(con.execute(f"SELECT v, CAST({sql} AS VARCHAR) FROM t").fetchall())
    assert parsed == expected


def test_a_cleaning_that_fails_leaves_the_previous_clean_tables_and_nothing_else(
    tmp_path: Path, monkeypatch
) -> None:
    """The run builds its tables beside the current ones and swaps them in at the very end: a
    failure before the swap leaves every previous table as it was and no half-built table."""
    head = "order_id,customer_id,order_date,amount\n"
    write(tmp_path / "orders_2024_01.csv", head + "A1,C1,2024-01-05,10.00\n")
    con, _, _ = run(tmp_path)
    write(tmp_path / "orders_2024_02.csv", head + "A2,C2,2024-02-05,20.00\n")

    def broken_load_log(con: duckdb.DuckDBPyConnection, *tables: object) -> None:
        raise RuntimeError("disk full while writing the load log")

    monkeypatch.setattr(clean, "_load_log", broken_load_log)
    with pytest.raises(RuntimeError, match="disk full"):
        run(tmp_path, con=con)
    # Every entity of the failed run was already written, next to the tables readers see.
    assert con.execute("SELECT order_id FROM clean.orders").fetchall() == [("A1",)]
    assert con.execute("SELECT count(*) FROM clean.customers").fetchone() == (1,)
    tables = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'clean' OR temporary"
        ).fetchall()
    }
    assert not {t for t in tables if t.endswith(clean.NEXT_SUFFIX) or t.startswith("_")}
    monkeypatch.undo()
    run(tmp_path, con=con)
    assert con.execute("SELECT order_id FROM clean.orders ORDER BY 1").fetchall() == [
        ("A1",),
        ("A2",),
    ]
    assert_invariant(con)
