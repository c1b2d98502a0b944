"""segment_transitions and customer_segment_changes are incremental per pair of refreshes.

A monthly refresh computes the one pair it adds; every other pair is kept. Each scenario below
changes the history the way real operations do, runs the two models incrementally, then checks
that they equal a `--full-refresh` of the same history row for row: a new month, a past as-of
refresh landing between two others, an identity merge recorded into a pair already computed, a
re-run of the latest date, a refresh removed from the history, and a table built before the
pair tables were incremental.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import duckdb
import pytest

from tests.warehouse_helpers import invoke_dbt

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAIR_TABLES = ("customer_segment_changes", "segment_transitions")
SEGMENTS = ("Champions", "Loyal", "At Risk", "Hibernating", "New")
CUSTOMERS = [f"C{n:010d}" for n in range(1, 81)]
D1, D2, D3, D4 = (dt.date(2026, m, 1) for m in (1, 2, 4, 5))
BETWEEN = dt.date(2026, 3, 1)  # a past as-of refresh between D2 and D3


def _history_rows(as_of: dt.date, seed: int, absent: set[str] = frozenset()) -> list[tuple]:
    """One refresh of segment_history: about 90% of the customers, segments drawn at random."""
    rng = random.Random(seed)
    rows = []
    for customer_id in CUSTOMERS:
        if customer_id in absent or rng.random() < 0.1:
            continue
        segment = rng.choice(SEGMENTS)
        monetary = round(rng.uniform(5, 500), 2)
        rows.append(
            (f"{as_of}|{customer_id}", as_of, customer_id, segment, "333", 3, 3, 3, 30, 2, monetary)
        )
    return rows


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema history")
        con.execute("create schema identity")
        con.execute(
            "create table history.segment_history (history_key varchar, as_of date,"
            " customer_id varchar, segment varchar, rfm_code varchar, r_score integer,"
            " f_score integer, m_score integer, recency_days integer, frequency integer,"
            " monetary decimal(18, 2))"
        )
        con.execute(
            "create table identity.master_id_successors (retired_id varchar,"
            " surviving_id varchar, as_of date)"
        )
    return path


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """dbt's folder for these runs; the settings reach dbt as --vars only, as by hand."""
    monkeypatch.delenv("SEGMENTS_DBT_VARS", raising=False)
    monkeypatch.delenv("SEGMENTS_WAREHOUSE", raising=False)
    return tmp_path / "dbt"


def _execute(path: Path, sql: str, params: list | None = None) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(sql, params or [])


def _add_refresh(path: Path, as_of: dt.date, seed: int, absent: set[str] = frozenset()) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("delete from history.segment_history where as_of = ?", [as_of])
        con.executemany(
            "insert into history.segment_history values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _history_rows(as_of, seed, absent),
        )


def _build(path: Path, work: Path, as_of: dt.date, *options: str) -> None:
    """dbt run of the two pair tables (and the successors view they read) at `as_of`."""
    select = ("--select", "stg_master_id_successors", *PAIR_TABLES)
    result = invoke_dbt("run", path, work, *select, *options, as_of=as_of.isoformat())
    assert result.success, f"dbt run failed: {result.exception or result.result}"


def _tables(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path)) as con:
        return {
            table: sorted(con.execute(f"select * from history.{table}").fetchall(), key=repr)
            for table in PAIR_TABLES
        }


def _pairs(path: Path) -> list[tuple[dt.date, dt.date]]:
    with duckdb.connect(str(path)) as con:
        return con.execute(
            "select distinct from_as_of, to_as_of from history.segment_transitions order by 1"
        ).fetchall()


def _assert_incremental_equals_full(path: Path, work: Path, as_of: dt.date) -> None:
    """Run incrementally, then a full refresh of the same history: the tables must be equal."""
    _build(path, work, as_of)
    incremental = _tables(path)
    _build(path, work, as_of, "--full-refresh")
    full = _tables(path)
    for table in PAIR_TABLES:
        assert incremental[table] == full[table], table
        assert full[table], table


def test_the_pair_tables_are_incremental_and_equal_a_full_rebuild(
    warehouse: Path, work: Path
) -> None:
    # Customer 5 merges into customer 4 at D2: from D2 on, the history knows only customer 4.
    _add_refresh(warehouse, D1, seed=1)
    _execute(
        warehouse,
        "insert into identity.master_id_successors values (?, ?, ?)",
        [CUSTOMERS[4], CUSTOMERS[3], D2],
    )
    _add_refresh(warehouse, D2, seed=2, absent={CUSTOMERS[4]})
    _add_refresh(warehouse, D3, seed=3, absent={CUSTOMERS[4]})
    _assert_incremental_equals_full(warehouse, work, D3)
    assert _pairs(warehouse) == [(D1, D2), (D2, D3)]

    # A new month: only (D3, D4) is computed. A value planted in the (D1, D2) rows survives the
    # incremental run, which shows the old pair was kept, not computed again.
    _add_refresh(warehouse, D4, seed=4, absent={CUSTOMERS[4]})
    planted = "from_as_of = ? and to_as_of = ?"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table history.planted as select * from history.segment_transitions")
        con.execute(
            f"update history.segment_transitions set revenue = -1 where {planted}", [D1, D2]
        )
    _build(warehouse, work, D4)
    with duckdb.connect(str(warehouse)) as con:
        kept = con.execute(
            "select count(*), count(*) filter (where revenue = -1) "
            "from history.segment_transitions where to_as_of = ?",
            [D2],
        ).fetchone()
        assert kept[0] == kept[1] > 0
        con.execute(
            f"update history.segment_transitions t set revenue = p.revenue from history.planted p "
            f"where t.{planted.replace(' and ', ' and t.')} and p.from_as_of = t.from_as_of "
            "and p.to_as_of = t.to_as_of and p.from_segment = t.from_segment "
            "and p.to_segment = t.to_segment",
            [D1, D2],
        )
        con.execute("drop table history.planted")
    assert _pairs(warehouse) == [(D1, D2), (D2, D3), (D3, D4)]
    computed = _tables(warehouse)
    _build(warehouse, work, D4, "--full-refresh")
    assert _tables(warehouse) == computed

    # A past as-of refresh lands between D2 and D3: (D2, D3) is no longer a pair.
    _add_refresh(warehouse, BETWEEN, seed=5, absent={CUSTOMERS[4]})
    _assert_incremental_equals_full(warehouse, work, BETWEEN)
    assert _pairs(warehouse) == [(D1, D2), (D2, BETWEEN), (BETWEEN, D3), (D3, D4)]

    # A refresh at D3 that failed after identity recorded a merge dated D3 (customer 7 into 6)
    # leaves pairs computed without it; the next month's run must follow the merge.
    _execute(
        warehouse,
        "insert into identity.master_id_successors values (?, ?, ?)",
        [CUSTOMERS[7], CUSTOMERS[6], D3],
    )
    _execute(
        warehouse,
        "delete from history.segment_history where as_of >= ? and customer_id = ?",
        [D3, CUSTOMERS[7]],
    )
    before = _tables(warehouse)
    _assert_incremental_equals_full(warehouse, work, D4)
    assert _tables(warehouse) != before  # the merge changed pairs (BETWEEN, D3) and (D3, D4)

    # The latest date runs again with other segments: its pair is replaced.
    _add_refresh(warehouse, D4, seed=44, absent={CUSTOMERS[4], CUSTOMERS[7]})
    _assert_incremental_equals_full(warehouse, work, D4)

    # A refresh leaves the history (deleted by hand): its two pairs become one.
    _execute(warehouse, "delete from history.segment_history where as_of = ?", [BETWEEN])
    _assert_incremental_equals_full(warehouse, work, D4)
    assert _pairs(warehouse) == [(D1, D2), (D2, D3), (D3, D4)]


def test_pair_tables_built_before_they_were_incremental_are_rebuilt_once(
    warehouse: Path, work: Path
) -> None:
    for k, as_of in enumerate((D1, D2, D3), start=1):
        _add_refresh(warehouse, as_of, seed=k)
    _build(warehouse, work, D3)
    expected = _tables(warehouse)
    # The tables as the previous version wrote them: no merges_followed, a stale extra pair.
    with duckdb.connect(str(warehouse)) as con:
        for table in PAIR_TABLES:
            con.execute(f"alter table history.{table} drop column merges_followed")
            con.execute(
                f"insert into history.{table} by name select * replace "
                "(date '2025-12-01' as from_as_of, date '2026-01-01' as to_as_of) "
                f"from history.{table} where to_as_of = ?",
                [D2],
            )
    _build(warehouse, work, D3)
    assert _tables(warehouse) == expected


def _failing_tests(path: Path, work: Path, as_of: dt.date | None) -> set[str]:
    """Names of the failing dbt tests of segment_history (as_of None: no run as-of date)."""
    dbt_vars = {"as_of": as_of.isoformat()} if as_of else {}
    result = invoke_dbt("test", path, work, "--select", "segment_history", **dbt_vars)
    assert result.result is not None, result.exception
    return {r.node.name for r in result.result.results if r.status == "fail"}


def test_the_history_tests_of_a_refresh_check_the_slice_it_wrote(
    warehouse: Path, work: Path
) -> None:
    """`where: as_of = __run_as_of__` (macros/history.sql, get_where_subquery): a refresh tests
    its own slice, not every slice again; dbt by hand without an as-of tests them all."""
    _add_refresh(warehouse, D1, seed=1)
    _add_refresh(warehouse, D2, seed=2)
    # A duplicated row in D1's slice.
    _execute(
        warehouse,
        "insert into history.segment_history select * from history.segment_history "
        "where as_of = ? limit 1",
        [D1],
    )
    duplicate = {"unique_segment_history_history_key"}
    assert _failing_tests(warehouse, work, D1) == duplicate
    assert _failing_tests(warehouse, work, D2) == set()
    assert _failing_tests(warehouse, work, None) == duplicate
