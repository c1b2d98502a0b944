"""Publication and history are one unit: a refresh's history is kept only if it is published.

The history models (dbt folder `history`: segment and KPI history, transitions, segment changes)
write the warehouse's `history` schema in a step before the publication. So that a refresh that
then fails to publish leaves no trace there (its as-of would otherwise appear in the next
refresh's `segment_history` and transitions), the history step runs inside a journal:

1. `begin`: before dbt touches the history, the tables of the `history` schema are saved into
   the schema `history_rollback`, with a `_journal` row naming the run and the as-of date. A
   table whose writes are known (`DATED_WRITES`: the history models only ever replace rows
   dated on or after the run's as-of date) is saved as those rows only; any other table, and
   every table when dbt runs on Spark (whose tables are copied back whole), is copied whole.
   Copying whole tables grew with every refresh kept: 11.6 s at 24 monthly refreshes of 0.85M
   customers, where the dated rows are one refresh's;
2. after the publication step, successful or not, `settle` decides by what is served: if the
   serving file holds the journaled run, its history is kept (`commit`: the copy is dropped);
   otherwise it is undone (`rollback`: the copied tables are put back, tables the run created
   are dropped). Deciding by the serving file also covers a publication that failed after
   switching the file (e.g. at the PostgreSQL swap): what BI reads keeps its history;
3. a run killed in between leaves the journal behind: the next `begin` settles it first.

Only runs that publish use the journal: `segments backfill` writes history on purpose without
publishing it (the next publication shows it). Each step below is one DuckDB transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from pipeline.lib.sql import column_names, quote_ident, sql_literal, transaction

HISTORY_SCHEMA = "history"
JOURNAL_SCHEMA = "history_rollback"
JOURNAL_TABLE = f"{JOURNAL_SCHEMA}._journal"
#: History tables a refresh at as-of date D changes only in rows whose column is >= D:
#: segment_history and kpi_history replace their D slice (delete+insert on as_of), and the pair
#: tables delete and recompute the pairs ending on or after D (macros/history.sql,
#: delete_stale_refresh_pairs; the other pairs it recomputes are derived from rows before D,
#: which no rollback changes). Keep in step with the models.
DATED_WRITES = {
    "segment_history": "as_of",
    "kpi_history": "as_of",
    "segment_transitions": "to_as_of",
    "customer_segment_changes": "to_as_of",
}


def _tables(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    return [
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? ORDER BY table_name",
            [schema],
        ).fetchall()
    ]


def pending(con: duckdb.DuckDBPyConnection) -> tuple[str, dt.date] | None:
    """(run id, as-of date) of the history written but not yet published, if any."""
    if "_journal" not in _tables(con, JOURNAL_SCHEMA):
        return None
    row = con.execute(f"SELECT run_id, as_of FROM {JOURNAL_TABLE}").fetchone()
    return (row[0], row[1]) if row else None


def rollback(con: duckdb.DuckDBPyConnection) -> tuple[str, dt.date] | None:
    """Put the history tables back as they were before the journaled run; returns that run.

    Tables of the journal are restored, history tables it does not know (created by the run)
    are dropped. Returns None when there is no journal (nothing to undo).
    """
    journal = pending(con)
    if journal is None:
        return None
    (saved,) = con.execute(f"SELECT tables FROM {JOURNAL_TABLE}").fetchone()
    dated = _dated_tables(con)
    with transaction(con):
        for table in _tables(con, HISTORY_SCHEMA):
            if table not in saved:
                con.execute(f"DROP TABLE {HISTORY_SCHEMA}.{quote_ident(table)}")
        for table in saved:
            target = f"{HISTORY_SCHEMA}.{quote_ident(table)}"
            copy = f"{JOURNAL_SCHEMA}.{quote_ident(table)}"
            if table in dated:
                con.execute(
                    f"DELETE FROM {target} WHERE {quote_ident(dated[table])} >= ?", [journal[1]]
                )
                con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {copy}")
            else:
                con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {copy}")
        con.execute(f"DROP SCHEMA {JOURNAL_SCHEMA} CASCADE")
    return journal


def _dated_tables(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Tables the open journal saved as their dated rows only (table -> date column).

    A journal written before dated saves existed has no such column: every table was whole.
    """
    if "dated" not in column_names(con, JOURNAL_SCHEMA, "_journal"):
        return {}
    (dated,) = con.execute(f"SELECT dated FROM {JOURNAL_TABLE}").fetchone()
    return json.loads(dated)


def settle(con: duckdb.DuckDBPyConnection, published_run_id: str | None) -> str | None:
    """Commit the journaled run if it is the published one, else roll it back.

    Returns "committed", "rolled back" or None (no journal).
    """
    journal = pending(con)
    if journal is None:
        return None
    if journal[0] == published_run_id:
        commit(con, journal[0])
        return "committed"
    rollback(con)
    return "rolled back"


def begin(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    as_of: dt.date,
    published_run_id: str | None,
    dated_saves: bool = True,
) -> tuple[str, dt.date, str] | None:
    """Journal the history tables before `run_id` writes them.

    A journal of another run was left by a run killed between its history and its publication:
    it is settled first, and returned as (run id, as-of, "committed" | "rolled back"). A
    journal of this run (a retried step) is kept as is: it holds the state before the run.
    `dated_saves=False` copies every table whole (a run whose tables are rewritten whole: dbt
    on Spark).
    """
    journal = pending(con)
    if journal is not None and journal[0] == run_id:
        return None
    outcome = settle(con, published_run_id)
    recovered = (journal[0], journal[1], outcome) if journal and outcome else None
    with transaction(con):
        tables = _tables(con, HISTORY_SCHEMA)
        dated = {}
        con.execute(f"CREATE SCHEMA {JOURNAL_SCHEMA}")
        for table in tables:
            column = DATED_WRITES.get(table) if dated_saves else None
            select = f"SELECT * FROM {HISTORY_SCHEMA}.{quote_ident(table)}"
            if column and column in column_names(con, HISTORY_SCHEMA, table):
                dated[table] = column
                select += f" WHERE {quote_ident(column)} >= {sql_literal(as_of.isoformat())}"
            con.execute(f"CREATE TABLE {JOURNAL_SCHEMA}.{quote_ident(table)} AS {select}")
        con.execute(
            f"CREATE TABLE {JOURNAL_TABLE} AS SELECT ?::VARCHAR AS run_id, ?::DATE AS as_of, "
            "?::VARCHAR[] AS tables, ?::VARCHAR AS dated, now() AS started_at",
            [run_id, as_of, tables, json.dumps(dated)],
        )
    return recovered


def commit(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Keep `run_id`'s history (it is published): drop its journal. False if none was open."""
    journal = pending(con)
    if journal is None or journal[0] != run_id:
        return False
    con.execute(f"DROP SCHEMA {JOURNAL_SCHEMA} CASCADE")
    return True


# --- Dagster glue: the history step and the publication step ------------------------------------


def published_run_id(state_dir: Path) -> str | None:
    """Run id of the refresh the serving file holds (None before the first publication)."""
    from pipeline.lib.paths import serving_path

    path = serving_path(state_dir)
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("SELECT run_id FROM refresh_info LIMIT 1").fetchone()
    return row[0] if row else None


def run_publishes(context: Any) -> bool:
    """True when this run also runs the publication step (the refresh job, or a selection with
    it); backfills and partial runs write history without publishing it, by design."""
    from pipeline.serving.wiring import PUBLISHED_REFRESH_KEY

    in_job = PUBLISHED_REFRESH_KEY in context.job_def.asset_layer.selected_asset_keys
    # No selection (None, or an empty set for a whole asset job) means every asset of the job.
    selection = context.run.asset_selection
    return in_job and (not selection or PUBLISHED_REFRESH_KEY in selection)


@contextlib.contextmanager
def journaled_history(context: Any, warehouse: Any, settings: Any) -> Iterator[None]:
    """Run the history step inside the journal when the run publishes (see the module doc).

    When the step itself fails, the history is rolled back at once.
    """
    if not run_publishes(context):
        yield
        return
    state = settings.state_path()
    with warehouse.connect() as con:
        recovered = begin(
            con,
            context.run.run_id,
            settings.as_of_date(),
            published_run_id(state),
            # dbt on Spark writes its own tables; they are copied back into DuckDB whole.
            dated_saves=settings.refresh.engine == "duckdb",
        )
    if recovered:
        context.log.warning(
            f"history of run {recovered[0]} (as of {recovered[1]}) was left unsettled by an "
            f"interrupted refresh: {recovered[2]}"
        )
    try:
        yield
    except BaseException:
        with warehouse.connect() as con:
            rollback(con)
        context.log.error("the history step failed: history tables restored")
        raise


def settle_publication(context: Any, warehouse: Any, state_dir: Path) -> str | None:
    """After the publication step: keep this run's history if it is served, else undo it."""
    with warehouse.connect() as con:
        journal = pending(con)
        outcome = settle(con, published_run_id(state_dir))
    if outcome:
        message = f"history of as-of {journal[1]} (run {journal[0][:8]}) {outcome}"
        if outcome == "committed":
            context.log.info(message)
        else:
            context.log.error(message + ": it was not published")
    return outcome
