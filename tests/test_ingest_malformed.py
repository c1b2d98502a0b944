# ruff: noqa: E501  (a table of literal file contents reads best one case per line)
"""The malformed-input matrix: real extract + clean on small hand-made files, one case per row.

Every case states its class: `error` (the run stops before loading anything, with a message
naming the file, and the column when there is one), `quarantined` (the listed rows are in
`clean.quarantine` with their reason, and nothing else is), `accepted` (read correctly: the
listed values are in the clean table, nothing is shifted) or `deferred` (dated after the as-of
date: kept in raw, counted in the load log, neither accepted nor quarantined). For every case
that loads, each file keeps rows read = accepted + deferred + rejected, and every row read is
in raw. The table of cases is reproduced in the closing note of issue 14 (ingest half).
"""

from __future__ import annotations

import codecs
import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
from test_ingest_support import assert_invariant, run

from pipeline.ingest import IngestError, MappingError

HEAD = "order_id,customer_id,order_date,amount,status,channel\n"
OK = "A1,C1,2024-01-05,10.00,completed,web\n"
ORDERS_OK = HEAD + OK


@dataclass(frozen=True)
class Case:
    """One malformed input and the outcome it must have."""

    name: str
    files: dict[str, bytes | str]
    kind: str  # error | quarantined | accepted | deferred
    #: error: a regex the message must match (it must also name `error_file`).
    error: str = ""
    error_file: str = ""
    #: quarantined: every quarantine entry as (file, row, reason); nothing else may be there.
    quarantine: frozenset[tuple[str, int, str]] = frozenset()
    #: accepted/deferred/quarantined: SQL -> expected rows (values prove nothing shifted).
    values: tuple[tuple[str, list[tuple]], ...] = ()
    #: rows deferred in the whole load.
    deferred: int = 0
    mapping: str | None = None
    notes: str = field(default="", compare=False)


def _orders(*rows: str, head: str = HEAD) -> str:
    return head + "".join(r + "\n" for r in rows)


ORDER_VALUES = "SELECT order_id, customer_id, CAST(order_date AS VARCHAR), CAST(amount AS VARCHAR), status, channel FROM clean.orders ORDER BY order_id"

CASES: list[Case] = [
    # --- files that are not what their name says ------------------------------------------
    Case(
        "empty file (0 bytes)",
        {"orders.csv": ORDERS_OK, "refunds.csv": ""},
        "accepted",
        values=(("SELECT rows_read FROM clean.load_log WHERE entity = 'refunds'", [(0,)]),),
    ),
    Case(
        "header only",
        {"orders.csv": ORDERS_OK, "customers.csv": "customer_id,email\n"},
        "accepted",
        values=(("SELECT rows_read FROM clean.load_log WHERE entity = 'customers'", [(0,)]),),
    ),
    Case(
        "binary file named .csv",
        {"orders.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"},
        "error",
        error="binary content",
        error_file="orders.csv",
    ),
    Case(
        "ZIP workbook named .csv",
        {"orders.csv": b"PK\x03\x04\x14\x00\x06\x00" + b"x" * 40},
        "error",
        error="ZIP archive",
        error_file="orders.csv",
    ),
    Case(
        "plain text named .csv.gz",
        {"orders.csv.gz": ORDERS_OK},
        "error",
        error="cannot be read",
        error_file="orders.csv.gz",
    ),
    Case(
        "NUL byte deep inside a text file",
        {"orders.csv": ORDERS_OK + OK.replace("A1", "A2") * 4000 + "A9,C1,\x00,1,,\n"},
        "error",
        error="binary content",
        error_file="orders.csv",
    ),
    # --- encodings and byte-order marks ---------------------------------------------------
    Case(
        "UTF-8 with BOM",
        {"orders.csv": codecs.BOM_UTF8 + ORDERS_OK.encode()},
        "accepted",
        values=((ORDER_VALUES, [("A1", "C1", "2024-01-05", "10.00", "completed", "web")]),),
    ),
    Case(
        "UTF-16 LE with BOM",
        {
            "orders.csv": codecs.BOM_UTF16_LE
            + (HEAD + "A1,C1,2024-01-05,10.00,,café\n").encode("utf-16-le")
        },
        "accepted",
        values=((ORDER_VALUES, [("A1", "C1", "2024-01-05", "10.00", "completed", "café")]),),
    ),
    Case(
        "UTF-16 BE with BOM",
        {"orders.csv": codecs.BOM_UTF16_BE + ORDERS_OK.encode("utf-16-be")},
        "accepted",
        values=((ORDER_VALUES, [("A1", "C1", "2024-01-05", "10.00", "completed", "web")]),),
    ),
    Case(
        "UTF-16 LE without BOM",
        {"orders.csv": ORDERS_OK.encode("utf-16-le")},
        "accepted",
        values=((ORDER_VALUES, [("A1", "C1", "2024-01-05", "10.00", "completed", "web")]),),
    ),
    Case(
        "a BOM and header again in the middle (concatenated exports)",
        {
            "orders.csv": codecs.BOM_UTF8
            + (ORDERS_OK + "\ufeff" + HEAD + "A2,C1,2024-01-06,5,,\n").encode()
        },
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "repeated_header")}),
        values=(
            ("SELECT order_id, _source_row FROM clean.orders ORDER BY 1", [("A1", 1), ("A2", 3)]),
        ),
    ),
    Case(
        "Windows-1252 text",
        {"orders.csv": (HEAD + "A1,C1,2024-01-05,10.00,,Boutique été\n").encode("cp1252")},
        "accepted",
        values=(("SELECT channel FROM clean.orders", [("Boutique été",)]),),
    ),
    # --- line endings and blank lines -----------------------------------------------------
    Case(
        "CRLF line endings",
        {"orders.csv": ORDERS_OK.replace("\n", "\r\n")},
        "accepted",
        values=((ORDER_VALUES, [("A1", "C1", "2024-01-05", "10.00", "completed", "web")]),),
    ),
    Case(
        "lone CR line endings (classic Mac)",
        {"orders.csv": _orders(OK.strip(), "A2,C1,2024-01-06,5.00,,app").replace("\n", "\r")},
        "accepted",
        values=(
            (
                "SELECT order_id, channel, _source_row FROM clean.orders ORDER BY 1",
                [("A1", "web", 1), ("A2", "app", 2)],
            ),
        ),
    ),
    Case(
        "mixed CR, LF and CRLF in one file",
        {
            "orders.csv": HEAD.replace("\n", "\r\n")
            + OK
            + "A2,C1,2024-01-06,5.00,,app\r"
            + "A3,C1,2024-01-07,6.00,,web\r\n"
        },
        "accepted",
        values=(
            (
                "SELECT order_id, channel, _source_row FROM clean.orders ORDER BY 1",
                [("A1", "web", 1), ("A2", "app", 2), ("A3", "web", 3)],
            ),
        ),
    ),
    Case(
        "CR inside a quoted value of an LF file",
        {"orders.csv": _orders('A1,C1,2024-01-05,10.00,,"we\rb"', "A2,C1,2024-01-06,x,,")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "invalid_amount")}),
        values=(("SELECT channel FROM clean.orders", [("we\nb",)]),),
    ),
    Case(
        "quoted newlines inside a value",
        {
            "orders.csv": _orders(
                'A1,C1,2024-01-05,10.00,,"line 1\nline 2\n\nline 4"', "A2,C1,2024-01-06,-1,,"
            )
        },
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "negative_amount")}),
        values=(("SELECT channel FROM clean.orders", [("line 1\nline 2\n\nline 4",)]),),
    ),
    Case(
        "blank lines between rows (row numbers stay right)",
        {
            "orders.csv": _orders(
                OK.strip(), "", "", "A2,C1,2024-01-06,bad,,", "", "A3,C1,2024-01-07,1,,"
            )
        },
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "invalid_amount")}),
        values=(
            ("SELECT order_id, _source_row FROM clean.orders ORDER BY 1", [("A1", 1), ("A3", 3)]),
        ),
    ),
    Case(
        "a line of spaces",
        {"orders.csv": _orders(OK.strip(), "   ", "A2,C1,2024-01-06,1,,")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "missing_fields")}),
        values=(
            ("SELECT order_id, _source_row FROM clean.orders ORDER BY 1", [("A1", 1), ("A2", 3)]),
        ),
    ),
    Case(
        "no newline after the last row",
        {"orders.csv": ORDERS_OK + "A2,C1,2024-01-06,5.00,,app"},
        "accepted",
        values=(
            (
                "SELECT order_id, channel FROM clean.orders ORDER BY 1",
                [("A1", "web"), ("A2", "app")],
            ),
        ),
    ),
    # --- row shape -------------------------------------------------------------------------
    Case(
        "unquoted decimal comma in a comma file (one field too many)",
        {"orders.csv": _orders(OK.strip(), "A2,C1,2024-01-06,12,50,completed,web")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "extra_fields")}),
        values=(
            ("SELECT order_id FROM clean.orders", [("A1",)]),
            (
                "SELECT raw_row::JSON->>'raw_line' FROM clean.quarantine",
                [("A2,C1,2024-01-06,12,50,completed,web",)],
            ),
        ),
    ),
    Case(
        "two trailing extra fields",
        {"orders.csv": _orders(OK.strip(), "A2,C1,2024-01-06,5.00,completed,web,x,y")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "extra_fields")}),
    ),
    Case(
        "fewer fields, a required value missing",
        {"orders.csv": _orders("A2,C1", OK.strip())},
        "quarantined",
        quarantine=frozenset({("orders.csv", 1, "missing_fields")}),
        values=(("SELECT order_id, _source_row FROM clean.orders", [("A1", 2)]),),
    ),
    Case(
        "optional trailing fields omitted",
        {"orders.csv": _orders(OK.strip(), "A2,C1,2024-01-06,7.00")},
        "accepted",
        values=(
            (
                ORDER_VALUES,
                [
                    ("A1", "C1", "2024-01-05", "10.00", "completed", "web"),
                    ("A2", "C1", "2024-01-06", "7.00", "completed", None),
                ],
            ),
        ),
    ),
    Case(
        "broken quoting inside a row",
        {"orders.csv": _orders(OK.strip(), 'A2,"C1"x,2024-01-06,5.00,,', "A3,C1,2024-01-07,1,,")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "malformed_row")}),
        values=(
            ("SELECT order_id, _source_row FROM clean.orders ORDER BY 1", [("A1", 1), ("A3", 3)]),
        ),
    ),
    Case(
        "unterminated quote in the last row",
        {"orders.csv": _orders(OK.strip(), 'A2,C1,2024-01-06,5.00,,"web')},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "malformed_row")}),
    ),
    Case(
        "mixed delimiters (semicolon header, some comma rows)",
        {
            "orders.csv": "order_id;customer_id;order_date;amount\nA1;C1;2024-01-05;10\nA2,C1,2024-01-06,5\n"
        },
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "missing_fields")}),
    ),
    Case(
        "header line repeated inside the file",
        {"orders.csv": _orders(OK.strip(), HEAD.strip(), "A2,C1,2024-01-06,5.00,,")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "repeated_header")}),
    ),
    Case(
        "duplicate column names in the header",
        {
            "orders.csv": "order_id,customer_id,order_date,amount,note,note\nA1,C1,2024-01-05,1,a,b\n"
        },
        "accepted",
        values=(("SELECT note, note_2 FROM raw.orders", [("a", "b")]),),
    ),
    Case(
        "a trailing delimiter on the header and every row",
        {"orders.csv": "order_id,customer_id,order_date,amount,\nA1,C1,2024-01-05,1,\n"},
        "accepted",
        values=(("SELECT order_id, CAST(amount AS VARCHAR) FROM clean.orders", [("A1", "1.00")]),),
    ),
    Case(
        "a 10,000-character field",
        {"orders.csv": _orders("A1,C1,2024-01-05,10.00,," + "x" * 10_000)},
        "accepted",
        values=(("SELECT length(channel) FROM clean.orders", [(10_000,)]),),
    ),
    Case(
        "SQL in a header name",
        {
            "orders.csv": 'order_id,customer_id,order_date,amount,"x""; DROP TABLE raw.orders; --"\nA1,C1,2024-01-05,1,y\n'
        },
        "accepted",
        values=(("SELECT order_id, x_drop_table_raw_orders FROM raw.orders", [("A1", "y")]),),
    ),
    Case(
        "a required column absent from the header",
        {"orders.csv": "order_id,customer_id,amount\nA1,C1,1\n"},
        "error",
        error="required column 'order_date' is missing",
        error_file="orders.csv",
    ),
    # --- dates ------------------------------------------------------------------------------
    Case(
        "epoch seconds in a date column",
        {"orders.csv": _orders(OK.strip(), "A2,C1,1719878400,5,,")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "unparsable_date")}),
    ),
    Case(
        "0000-00-00",
        {"orders.csv": _orders(OK.strip(), "A2,C1,0000-00-00,5,,")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "unparsable_date")}),
    ),
    Case(
        "a date in 1850 (below the 1900 floor)",
        {"orders.csv": _orders(OK.strip(), "A2,C1,1850-06-15,5,,")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "implausible_date")}),
    ),
    Case(
        "year 0024 written in ISO",
        {"orders.csv": _orders(OK.strip(), "A2,C1,0024-03-05,5,,")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "implausible_date")}),
    ),
    Case(
        "dates of the 1990s and 1900 itself",
        {"orders.csv": _orders("A1,C1,1997-01-01,11.77,,", "A2,C1,1900-01-01,1,,")},
        "accepted",
        values=(
            (
                "SELECT CAST(order_date AS VARCHAR) FROM clean.orders ORDER BY 1",
                [("1900-01-01",), ("1997-01-01",)],
            ),
        ),
    ),
    Case(
        "a two-digit year among four-digit years",
        {"orders.csv": _orders("A1,C1,31/01/2024,1,,", "A2,C1,05/03/24,1,,")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "unparsable_date")}),
        values=(("SELECT CAST(order_date AS VARCHAR) FROM clean.orders", [("2024-01-31",)]),),
    ),
    Case(
        "a file of two-digit years (pivot: 69-99 -> 19xx, 00-68 -> 20xx)",
        {"orders.csv": _orders("A1,C1,31/01/24,1,,", "A2,C1,05/03/71,1,,")},
        "accepted",
        values=(
            (
                "SELECT CAST(order_date AS VARCHAR) FROM clean.orders ORDER BY 1",
                [("1971-03-05",), ("2024-01-31",)],
            ),
        ),
    ),
    Case(
        "1970-01-01 (the epoch, a plausible date)",
        {"orders.csv": _orders("A1,C1,1970-01-01,1,,")},
        "accepted",
        values=(("SELECT CAST(order_date AS VARCHAR) FROM clean.orders", [("1970-01-01",)]),),
    ),
    # --- as-of semantics --------------------------------------------------------------------
    Case(
        "orders dated after the as-of date",
        {"orders.csv": _orders(OK.strip(), "A2,C1,2025-03-01,5,,", "A3,C1,2031-01-01,x,,")},
        "deferred",
        deferred=2,
        values=(("SELECT order_id FROM clean.orders", [("A1",)]),),
    ),
    Case(
        "refunds, NPS answers and tickets after the as-of date",
        {
            "orders.csv": ORDERS_OK,
            "refunds.csv": "customer_id,refunded_at,amount\nC1,2024-02-01,1\nC1,2025-02-01,2\n",
            "nps_responses.csv": "customer_id,responded_at,score\nC1,2025-01-01,9\n",
            "support_tickets.csv": "ticket_id,customer_id,created_at\nT1,C1,2025-01-02\n",
        },
        "deferred",
        deferred=3,
        values=(("SELECT CAST(amount AS VARCHAR) FROM clean.refunds", [("1.00",)]),),
    ),
    Case(
        "the lines of an order dated after the as-of date",
        {
            "orders.csv": _orders(OK.strip(), "A2,C1,2025-03-01,5,,"),
            "order_lines.csv": "order_id,quantity,unit_price\nA1,1,10\nA2,1,5\n",
        },
        "deferred",
        deferred=2,
        values=(("SELECT order_id FROM clean.order_lines", [("A1",)]),),
    ),
    Case(
        "a customer created after the as-of date",
        {
            "orders.csv": ORDERS_OK,
            "customers.csv": "customer_id,created_at\nC1,2023-01-01 10:00:00\nC2,2025-05-01 10:00:00\n",
        },
        "deferred",
        deferred=1,
        values=(("SELECT customer_id FROM clean.customers", [("C1",)]),),
    ),
    Case(
        "a birth date after the as-of date (value removed)",
        {"orders.csv": ORDERS_OK, "customers.csv": "customer_id,birth_date\nC1,2030-01-01\n"},
        "quarantined",
        quarantine=frozenset({("customers.csv", 1, "future_date")}),
        values=(("SELECT customer_id, birth_date FROM clean.customers", [("C1", None)]),),
    ),
    # --- amounts and integers --------------------------------------------------------------
    Case(
        "9e15 (fits DECIMAL(18,2), would overflow the marts' sums)",
        {"orders.csv": _orders(OK.strip(), "A2,C1,2024-01-06,9e15,,")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "amount_out_of_range")}),
    ),
    Case(
        "an amount beyond DECIMAL(18,2)",
        {"orders.csv": _orders(OK.strip(), "A2,C1,2024-01-06,123456789012345678901,,")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "amount_out_of_range")}),
    ),
    Case(
        "scientific notation within range",
        {"orders.csv": _orders("A1,C1,2024-01-05,1.5E3,,", "A2,C1,2024-01-06,2.5e-1,,")},
        "accepted",
        values=(
            (
                "SELECT CAST(amount AS VARCHAR) FROM clean.orders ORDER BY 1",
                [("0.25",), ("1500.00",)],
            ),
        ),
    ),
    Case(
        "currency signs and codes before or after the number",
        {
            "orders.csv": _orders(
                "A1,C1,2024-01-05,€12.50,,",
                "A2,C1,2024-01-06,12.50 EUR,,",
                "A3,C1,2024-01-07,-$3,cancelled,",
                "A4,C1,2024-01-08,£ 7,,",
            )
        },
        "quarantined",
        quarantine=frozenset({("orders.csv", 3, "negative_amount")}),
        values=(
            (
                "SELECT order_id, CAST(amount AS VARCHAR) FROM clean.orders ORDER BY 1",
                [("A1", "12.50"), ("A2", "12.50"), ("A4", "7.00")],
            ),
        ),
    ),
    Case(
        "a currency sign inside the number",
        {"orders.csv": _orders(OK.strip(), "A2,C1,2024-01-06,12€50,,")},
        "quarantined",
        quarantine=frozenset({("orders.csv", 2, "invalid_amount")}),
    ),
    Case(
        "thousands separators in their exact pattern only",
        {
            "orders.csv": _orders(
                'A1,C1,2024-01-05,"1,234.50",,',
                "A2,C1,2024-01-06,1 234.50,,",
                'A3,C1,2024-01-07,"12,50",,',
                "A4,C1,2024-01-08,12 50,,",
                "A5,C1,2024-01-09,1'234.50,,",
            )
        },
        "quarantined",
        quarantine=frozenset(
            {("orders.csv", 3, "invalid_amount"), ("orders.csv", 4, "invalid_amount")}
        ),
        values=(
            (
                "SELECT order_id, CAST(amount AS VARCHAR) FROM clean.orders ORDER BY 1",
                [("A1", "1234.50"), ("A2", "1234.50"), ("A5", "1234.50")],
            ),
        ),
    ),
    Case(
        "accounting brackets and a trailing minus",
        {
            "orders.csv": _orders(
                OK.strip(), "A2,C1,2024-01-06,(12.50),,", "A3,C1,2024-01-07,12.50-,,"
            )
        },
        "quarantined",
        quarantine=frozenset(
            {("orders.csv", 2, "invalid_amount"), ("orders.csv", 3, "invalid_amount")}
        ),
    ),
    Case(
        "a leading decimal point",
        {"orders.csv": _orders("A1,C1,2024-01-05,.5,,")},
        "accepted",
        values=(("SELECT CAST(amount AS VARCHAR) FROM clean.orders", [("0.50",)]),),
    ),
    Case(
        "decimal-comma file with dot and space thousands",
        {
            "orders.csv": "order_id;customer_id;order_date;amount\nA1;C1;05/01/2024;1.234,50\nA2;C1;06/01/2024;1\u00a0234,5\nA3;C1;07/01/2024;€ 3,20\n"
        },
        "accepted",
        values=(
            (
                "SELECT order_id, CAST(amount AS VARCHAR) FROM clean.orders ORDER BY 1",
                [("A1", "1234.50"), ("A2", "1234.50"), ("A3", "3.20")],
            ),
        ),
    ),
    Case(
        "a quantity beyond 32-bit integers",
        {
            "orders.csv": ORDERS_OK,
            "order_lines.csv": "order_id,quantity,unit_price\nA1,99999999999,1\nA1,2,1\n",
        },
        "quarantined",
        quarantine=frozenset({("order_lines.csv", 1, "invalid_value")}),
        values=(("SELECT quantity FROM clean.order_lines", [(2,)]),),
    ),
    # --- mapping file -----------------------------------------------------------------------
    Case(
        "mapping pattern leaving the landing directory",
        {"orders.csv": ORDERS_OK},
        "error",
        mapping="entities:\n  orders:\n    pattern: '../../other/orders*.csv'\n",
        error="entities.orders.pattern.*leaves the landing directory",
        error_file="mapping.yaml",
    ),
    Case(
        "absolute mapping pattern",
        {"orders.csv": ORDERS_OK},
        "error",
        mapping="entities:\n  orders:\n    pattern: '/etc/orders*.csv'\n",
        error="entities.orders.pattern.*absolute",
        error_file="mapping.yaml",
    ),
    Case(
        "mapping expr reading a setting",
        {"orders.csv": ORDERS_OK},
        "error",
        mapping="entities:\n  orders:\n    columns:\n      channel: {expr: \"current_setting('threads')\"}\n",
        error="entities.orders.columns.channel.expr: function current_setting",
        error_file="mapping.yaml",
    ),
    Case(
        "mapping expr with a table function",
        {"orders.csv": ORDERS_OK},
        "error",
        mapping="entities:\n  orders:\n    columns:\n      channel: {expr: \"read_csv('/etc/passwd')\"}\n",
        error="entities.orders.columns.channel.expr: function read_csv",
        error_file="mapping.yaml",
    ),
    Case(
        "mapping expr with a sub-query",
        {"orders.csv": ORDERS_OK},
        "error",
        mapping='entities:\n  orders:\n    columns:\n      channel: {expr: "(SELECT 1)"}\n',
        error="entities.orders.columns.channel.expr",
        error_file="mapping.yaml",
    ),
    Case(
        "mapping expr with whitelisted functions",
        {"orders.csv": 'order_id,client,order_date,qty,price\nA1,c1,2024-01-05,2,"1,5"\n'},
        "accepted",
        mapping=(
            "entities:\n  orders:\n    decimal_separator: ','\n    columns:\n"
            '      customer_id: {expr: "upper(trim(client))"}\n'
            '      amount: {expr: "round(qty * price, 2)"}\n'
        ),
        values=(
            ("SELECT customer_id, CAST(amount AS VARCHAR) FROM clean.orders", [("C1", "3.00")]),
        ),
    ),
]


def _landing(tmp_path: Path, case: Case) -> tuple[Path, Path | None]:
    landing = tmp_path / "landing"
    landing.mkdir()
    for name, content in case.files.items():
        data = content.encode() if isinstance(content, str) else content
        if name.endswith(".gz") and case.name != "plain text named .csv.gz":
            data = gzip.compress(data)
        (landing / name).write_bytes(data)
    mapping = None
    if case.mapping is not None:
        mapping = tmp_path / "mapping.yaml"
        mapping.write_text(case.mapping)
    return landing, mapping


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_input_gets_its_class(tmp_path: Path, case: Case) -> None:
    landing, mapping = _landing(tmp_path, case)
    con = duckdb.connect()
    if case.kind == "error":
        with pytest.raises((IngestError, MappingError)) as err:
            run(landing, mapping, con=con)
        message = str(err.value)
        assert case.error_file in message, message
        assert len(message.splitlines()) == 1, message
        assert re.search(case.error, message), message
        return
    con, _, report = run(landing, mapping, con=con)
    assert_invariant(con)
    found = {
        (file, row, reason)
        for file, row, reason in con.execute(
            "SELECT source_file, source_row, reason_code FROM clean.quarantine"
        ).fetchall()
    }
    assert found == set(case.quarantine)
    deferred = con.execute("SELECT sum(rows_deferred) FROM clean.load_log").fetchone()[0]
    assert deferred == case.deferred
    assert sum(c.deferred for c in report.entities.values()) == case.deferred
    for sql, expected in case.values:
        assert con.execute(sql).fetchall() == expected, sql
    if case.kind == "accepted":
        assert not found


def test_the_matrix_has_at_least_35_cases_of_every_class() -> None:
    kinds = {c.kind for c in CASES}
    assert kinds == {"error", "quarantined", "accepted", "deferred"}
    assert len(CASES) >= 35
    assert len({c.name for c in CASES}) == len(CASES)
