"""The one home of SQL quoting (`pipeline.lib.sql`): what it writes reads back unchanged."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from pipeline.lib.fingerprint import code_digest
from pipeline.lib.sql import column_names, quote_ident, quote_relation, sql_literal, table_exists

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


def test_the_catalog_answers_for_the_current_database_only(tmp_path: Path) -> None:
    with duckdb.connect() as con:
        con.execute(
            "create schema s; create table s.t (b int, a varchar); create view s.v as select 1 x"
        )
        con.execute(f"attach {sql_literal(tmp_path / 'other.duckdb')} as other")
        con.execute("create schema other.s; create table other.s.elsewhere (z int)")
        assert table_exists(con, "s", "t") and table_exists(con, "s", "v")
        assert not table_exists(con, "s", "v", views=False)
        assert not table_exists(con, "s", "elsewhere") and not table_exists(con, "s", "missing")
        assert column_names(con, "s", "t") == ["b", "a"]
        assert column_names(con, "s", "elsewhere") == []


def test_a_code_digest_changes_with_any_file_and_with_package_versions(tmp_path: Path) -> None:
    one, two = tmp_path / "one.py", tmp_path / "two.py"
    one.write_text("x = 1\n")
    two.write_text("y = 2\n")
    base = code_digest([one, two])
    assert code_digest([one, two]) == base
    assert code_digest([one, two], ["duckdb"]) != base
    two.write_text("y = 3\n")
    assert code_digest([one, two]) != base


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
