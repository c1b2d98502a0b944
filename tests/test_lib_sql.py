"""The one home of SQL quoting (`pipeline.lib.sql`): what it writes reads back unchanged."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from pipeline.lib.sql import quote_ident, quote_relation, sql_literal

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_quoted_identifiers_with_quotes_and_dots_name_the_table_they_were_given() -> None:
    name = 'odd "name". with dots'
    with duckdb.connect() as con:
        con.execute(f"create schema {quote_ident('s.1')}")
        con.execute(f"create table {quote_relation('s.1', name)} ({quote_ident(name)} integer)")
        con.execute(f"insert into {quote_relation('s.1', name)} values (7)")
        assert con.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
        ).fetchall() == [("s.1", name, name)]
        assert con.execute(f"select * from {quote_relation('s.1', name)}").fetchone() == (7,)
    assert quote_relation("marts.customer_rfm") == '"marts"."customer_rfm"'


@pytest.mark.parametrize(
    "value",
    ["it's", "x'; DROP TABLE t; --", "", "€ 12,50", 365, 0.5, True, False, None],
)
def test_literals_read_back_as_the_value_they_were_made_from(value: object) -> None:
    with duckdb.connect() as con:
        assert con.execute(f"select {sql_literal(value)}").fetchone() == (value,)


def test_dates_and_paths_become_quoted_text() -> None:
    assert sql_literal(dt.date(2026, 10, 1)) == "'2026-10-01'"
    assert sql_literal(Path("/tmp/o'brien/x.parquet")) == "'/tmp/o''brien/x.parquet'"
    with pytest.raises(ValueError, match="non-finite"):
        sql_literal(float("inf"))
    with pytest.raises(TypeError, match="list"):
        sql_literal([1])


def test_no_module_escapes_quotes_by_hand() -> None:
    """Identifiers and literals are quoted by `pipeline.lib.sql` only (one home for the rule)."""
    hand_made = re.compile(r"""replace\(\s*(?:"'"\s*,\s*"''"|'"'\s*,\s*'""')\s*\)""")
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for folder in ("pipeline", "bench")
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        if path != REPO_ROOT / "pipeline" / "lib" / "sql.py"
        and hand_made.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
