"""The history journal on small DuckDB files: a refresh's history is kept only if it is served."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from pipeline.serving import history

OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)


@pytest.fixture
def con(tmp_path: Path):
    """A warehouse whose history holds the October refresh (two customers, one transition)."""
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema history")
        con.execute(
            "create table history.segment_history as select * from (values "
            "(date '2026-07-01', 'C1', 'Loyal'), (date '2026-07-01', 'C2', 'New'), "
            "(date '2026-10-01', 'C1', 'Champions'), (date '2026-10-01', 'C2', 'At Risk')) "
            "t(as_of, customer_id, segment)"
        )
        con.execute(
            "create table history.segment_transitions as select date '2026-07-01' as from_as_of, "
            "date '2026-10-01' as to_as_of, 'Loyal' as from_segment, 'Champions' as to_segment"
        )
        yield con


def _state(con) -> dict[str, list]:
    return {
        table: sorted(con.execute(f"select * from history.{table}").fetchall())
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'history' order by 1"
        ).fetchall()
    }


def _write_november(con) -> None:
    """What the history models do for a November refresh: append its slice, add the pair
    ending in November (the pair tables keep the others), create a table the first time."""
    con.execute(
        "insert into history.segment_history values "
        "(date '2026-11-01', 'C1', 'Champions'), (date '2026-11-01', 'C2', 'Lost')"
    )
    con.execute(
        "insert into history.segment_transitions values "
        "(date '2026-10-01', date '2026-11-01', 'At Risk', 'Lost')"
    )
    con.execute("create table history.kpi_history as select date '2026-11-01' as as_of")


def _journaled_rows(con) -> dict[str, int]:
    return {
        table: con.execute(f"select count(*) from {history.JOURNAL_SCHEMA}.{table}").fetchone()[0]
        for table in ("segment_history", "segment_transitions")
    }


def test_an_unpublished_refresh_leaves_no_history(con):
    before = _state(con)
    assert history.begin(con, "run-nov", NOV, published_run_id="run-oct") is None
    assert history.pending(con) == ("run-nov", NOV)
    _write_november(con)
    # The publication failed: the serving file still holds October.
    assert history.settle(con, published_run_id="run-oct") == "rolled back"
    assert _state(con) == before
    assert history.pending(con) is None
    schemas = {s for (s,) in con.execute("select schema_name from duckdb_schemas()").fetchall()}
    assert history.JOURNAL_SCHEMA not in schemas


def test_a_published_refresh_keeps_its_history(con):
    history.begin(con, "run-nov", NOV, published_run_id="run-oct")
    _write_november(con)
    after = _state(con)
    assert history.settle(con, published_run_id="run-nov") == "committed"
    assert _state(con) == after
    assert ("2026-11-01", "C2", "Lost") in [(str(a), c, s) for a, c, s in after["segment_history"]]
    assert history.settle(con, published_run_id="run-nov") is None


def test_a_run_killed_before_publishing_is_undone_by_the_next_run(con):
    before = _state(con)
    history.begin(con, "run-killed", NOV, published_run_id="run-oct")
    _write_november(con)
    # The process died here. The next refresh settles the journal before it writes history.
    recovered = history.begin(con, "run-next", dt.date(2026, 12, 1), published_run_id="run-oct")
    assert recovered == ("run-killed", NOV, "rolled back")
    assert _state(con) == before
    assert history.pending(con) == ("run-next", dt.date(2026, 12, 1))


def test_a_run_killed_after_switching_the_serving_file_keeps_its_history(con):
    history.begin(con, "run-nov", NOV, published_run_id="run-oct")
    _write_november(con)
    after = _state(con)
    # Died after the serving file switched to November, before settling: BI reads November.
    recovered = history.begin(con, "run-dec", dt.date(2026, 12, 1), published_run_id="run-nov")
    assert recovered == ("run-nov", NOV, "committed")
    assert _state(con) == after


def test_a_retried_history_step_keeps_the_state_before_the_run(con):
    before = _state(con)
    history.begin(con, "run-nov", NOV, published_run_id="run-oct")
    _write_november(con)
    assert history.begin(con, "run-nov", NOV, published_run_id="run-oct") is None
    assert history.rollback(con) == ("run-nov", NOV)
    assert _state(con) == before


def test_the_first_refresh_creates_history_tables_it_can_drop(tmp_path):
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        history.begin(con, "run-1", OCT, published_run_id=None)
        con.execute("create schema history")
        con.execute("create table history.segment_history as select date '2026-10-01' as as_of")
        assert history.settle(con, published_run_id=None) == "rolled back"
        assert _state(con) == {}


def test_the_journal_saves_the_dated_rows_a_refresh_can_change_and_restores_them(con):
    """segment_history and the pair tables change only in rows dated on or after the run's
    as-of date: the journal saves those rows, not the whole history, and a rollback puts them
    back, here after a re-run of the July refresh that replaced its slice and its pairs."""
    con.execute(
        "insert into history.segment_transitions values "
        "(date '2026-04-01', date '2026-07-01', 'New', 'Loyal')"
    )
    before = _state(con)
    july = dt.date(2026, 7, 1)
    history.begin(con, "run-july-again", july, published_run_id="run-oct")
    # The rows of July and after, and the pairs ending in July or after: all rows here.
    assert _journaled_rows(con) == {"segment_history": 4, "segment_transitions": 2}
    con.execute("delete from history.segment_history where as_of = date '2026-07-01'")
    con.execute("insert into history.segment_history values (date '2026-07-01', 'C1', 'Lost')")
    con.execute("delete from history.segment_transitions where to_as_of >= date '2026-07-01'")
    con.execute(
        "insert into history.segment_transitions values "
        "(date '2026-07-01', date '2026-10-01', 'Lost', 'Champions')"
    )
    assert _state(con) != before
    assert history.rollback(con) == ("run-july-again", july)
    assert _state(con) == before

    # A November run saves only November's rows: none yet.
    history.begin(con, "run-nov", NOV, published_run_id="run-oct")
    assert _journaled_rows(con) == {"segment_history": 0, "segment_transitions": 0}
    _write_november(con)
    assert history.rollback(con) == ("run-nov", NOV)
    assert _state(con) == before


def test_tables_rewritten_whole_are_journaled_whole(con):
    """dbt on Spark rewrites the history tables whole (copied back into DuckDB): the journal
    then copies them whole too, and a rollback restores every row."""
    before = _state(con)
    history.begin(con, "run-spark", NOV, published_run_id="run-oct", dated_saves=False)
    assert _journaled_rows(con) == {"segment_history": 4, "segment_transitions": 1}
    con.execute(
        "create or replace table history.segment_transitions as select date '2026-10-01' "
        "as from_as_of, date '2026-11-01' as to_as_of, 'At Risk' as from_segment, "
        "'Lost' as to_segment"
    )
    con.execute("delete from history.segment_history")
    assert history.settle(con, published_run_id="run-oct") == "rolled back"
    assert _state(con) == before


def test_a_journal_left_by_the_previous_version_restores_whole_tables(con):
    """A run killed before this version left a journal without dated saves (whole copies)."""
    before = _state(con)
    history.begin(con, "run-old", NOV, published_run_id="run-oct", dated_saves=False)
    con.execute(f"alter table {history.JOURNAL_TABLE} drop column dated")
    con.execute("delete from history.segment_history")
    recovered = history.begin(con, "run-next", dt.date(2026, 12, 1), published_run_id="run-oct")
    assert recovered == ("run-old", NOV, "rolled back")
    assert _state(con) == before
