"""Delta cleaning: when files land, clean their rows and the rows that share a key with them.

A full cleaning parses, hashes and writes every raw row again (most of the cleaning step's time at
10M orders), though a landed month adds about 1% of the rows. Every rule of the cleaning is
row-local except four, and each of those looks only at rows sharing the entity's first key
column (the order id for orders and order lines):

* exact copies (same cleaned content, which includes the key) keep the most recent one;
* rows sharing a key keep the most recent version;
* order lines without a number are numbered within their order;
* order lines follow their order's deferral (deferred when every row of the order is).

So when the previous cleaning ran with the same parameters (date floor, currency, date formats,
raw columns, cleaning code; the as-of date the same or earlier) on the same files, and files
were only added since, the rows to clean again are the rows whose own fate may change (the new
files' rows; when the as-of date moved forward, the rows deferred until then and the birth dates
removed as future, the only checks that read the as-of date) plus every row sharing a key with
one of them (for orders and order lines: every row of an order that one of them names). Their
fates are decided among themselves exactly as a full cleaning would decide them among all rows;
every other row keeps its fate: its clean row, its quarantine entries, its deferral. Derived
customers, orphan lines and the load log are recomputed over the whole tables.
`tests/test_ingest_delta.py` compares every clean table with a full cleaning of the same files.

Anything else (a file changed, removed or read again, another parameter, an earlier as-of date,
a first cleaning, `full`) cleans everything; the log says which and why.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.ingest import extract
from pipeline.ingest.entities import AS_OF_COLUMNS, ENTITIES
from pipeline.ingest.rules import GENERATED_ID, KEYS
from pipeline.lib.fingerprint import code_digest
from pipeline.lib.sql import column_names, table_exists
from pipeline.lib.sql import quote_ident as _q  # short names: SQL strings are built of them
from pipeline.lib.sql import sql_literal as _lit

#: One row: the parameters of the last cleaning (JSON), written with the tables it cleaned.
STATE_TABLE = "clean.cleaning_state"
#: Entities whose clean gates validate a delta cleaning's rows (the suites with `delta:` in
#: expectations/clean_*.yml; tests/test_quality_delta.py keeps both lists equal).
VALIDATED = ("customers", "orders", "refunds")
#: Rows a delta rewrites whole whatever its scope, by the column that marks them: the derived
#: customers, derived again over the whole tables.
REWRITTEN_EVERY_DELTA = {"customers": "derived_from_orders"}
#: The modules whose code decides a raw row's fate.
_RULE_MODULES = (
    "clean.py",
    "delta.py",
    "derived.py",
    "duplicates.py",
    "entities.py",
    "rules.py",
    "sql_fragments.py",
    "phones.py",
    "countries.py",
)
#: Entities whose touched rows are found by order id: an order's lines follow its deferral.
_BY_ORDER = ("orders", "order_lines")


@functools.cache
def _rules_digest() -> str:
    """The cleaning code and the libraries that parse values (DuckDB, phones)."""
    return code_digest(
        (Path(__file__).parent / name for name in _RULE_MODULES), ("duckdb", "phonenumbers")
    )


def parameters(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    date_floor: dt.date,
    currency: str,
    formats: list[str],
) -> dict[str, object]:
    """What a raw row's fate depends on besides the rows themselves."""
    columns = {entity: column_names(con, "raw", entity) for entity in ENTITIES}
    return {
        "as-of date": as_of.isoformat(),
        "date floor": date_floor.isoformat(),
        "currency": currency,
        "date formats": formats,
        "raw columns": columns,
        "cleaning code": _rules_digest(),
    }


@dataclass(frozen=True)
class CleaningPlan:
    """Full or delta cleaning, and why."""

    delta: bool
    reason: str
    #: The files the delta cleans (not cleaned by the previous cleaning).
    new_files: tuple[str, ...] = ()
    #: The as-of date of the previous cleaning, when the delta moves it forward.
    previous_as_of: str | None = None

    @property
    def nothing_new(self) -> bool:
        """A delta with nothing to clean: the clean tables stand as they are."""
        return self.delta and not self.new_files and self.previous_as_of is None


def plan(con: duckdb.DuckDBPyConnection, params: dict[str, object], full: bool) -> CleaningPlan:
    """Delta when files were only added since the last cleaning, whose parameters were the same
    but for an earlier as-of date."""
    if full:
        return CleaningPlan(False, "full cleaning requested")
    cleaned = table_exists(con, "clean", "load_log")
    if not (cleaned and table_exists(con, *STATE_TABLE.split("."))):
        return CleaningPlan(False, "no earlier cleaning in this warehouse")
    (previous,) = con.execute(f"SELECT parameters FROM {STATE_TABLE}").fetchone()
    previous = json.loads(previous)
    moved = None
    for name, value in params.items():
        before = previous.get(name)
        if before == value:
            continue
        if name == "as-of date" and isinstance(before, str) and before < str(value):
            # Rows deferred by the last cleaning may now be due: they join the delta.
            moved = before
            continue
        shown = f": {before} -> {value}" if name in ("as-of date", "date floor", "currency") else ""
        return CleaningPlan(False, f"{name} changed since the last cleaning{shown}")
    changed = con.execute(
        f"""SELECT l.source_file FROM clean.load_log l
            LEFT JOIN {extract.REGISTRY_TABLE} r ON r.source_file = l.source_file
             AND r.entity = l.entity AND r.checksum IS NOT DISTINCT FROM l.checksum
             AND r.loaded_at IS NOT DISTINCT FROM l.loaded_at
            WHERE r.source_file IS NULL ORDER BY 1"""
    ).fetchall()
    if changed:
        files = ", ".join(f for (f,) in changed[:3]) + (" ..." if len(changed) > 3 else "")
        return CleaningPlan(
            False, f"{len(changed)} file(s) changed, removed or read again since: {files}"
        )
    new = tuple(
        f
        for (f,) in con.execute(
            f"""SELECT source_file FROM {extract.REGISTRY_TABLE}
                WHERE source_file NOT IN (SELECT source_file FROM clean.load_log) ORDER BY 1"""
        ).fetchall()
    )
    said = []
    if new:
        said.append(f"{len(new)} new file(s) ({', '.join(new)})")
    if moved:
        said.append(
            f"as-of date moved forward ({moved} -> {params['as-of date']}): the rows the last "
            "cleaning deferred"
        )
    if not said:
        return CleaningPlan(True, "nothing new since the last cleaning: the clean tables stand")
    return CleaningPlan(True, " and ".join(said) + "; the rest as cleaned", new, moved)


def _key_sql(column: str) -> str:
    """The key as cleaning reads it (`t_<column>` of `parsed_columns_sql`)."""
    return f"nullif(trim({_q(column)}), '')"


def _seed_sql(entity: str, plan: CleaningPlan, key: str) -> str:
    """SELECT of the rows whose own fate may change: the new files' rows and, when the as-of
    date moved forward, the rows the last cleaning deferred (neither accepted nor rejected)
    and the customers whose birth date it removed as being after its as-of date."""
    files = ", ".join(_lit(f) for f in plan.new_files) or "NULL"
    conditions = [f"r._source_file IN ({files})"]
    if plan.previous_as_of and entity in AS_OF_COLUMNS:
        lineage = "x._source_file = r._source_file AND x._source_row = r._source_row"
        conditions.append(
            f"""(r._source_file IN (SELECT source_file FROM clean.load_log)
                 AND NOT EXISTS (SELECT 1 FROM clean.{entity} x WHERE {lineage})
                 AND NOT EXISTS (
                     SELECT 1 FROM (SELECT source_file AS _source_file,
                                           source_row AS _source_row
                                    FROM clean.quarantine
                                    WHERE entity = {_lit(entity)} AND action = 'rejected') x
                     WHERE {lineage}))"""
        )
        if entity == "customers":
            conditions.append(
                """EXISTS (SELECT 1 FROM clean.quarantine q WHERE q.entity = 'customers'
                    AND q.reason_code = 'future_date' AND q.source_file = r._source_file
                    AND q.source_row = r._source_row)"""
            )
    return (
        f"SELECT r._source_file, r._source_row, {_key_sql(key)} AS k FROM raw.{entity} r "
        f"WHERE {' OR '.join(conditions)}"
    )


def scope(con: duckdb.DuckDBPyConnection, entity: str, plan: CleaningPlan) -> int:
    """Write `_s_<entity>`: the raw rows the delta cleans. Returns their number.

    The rows whose own fate may change (`_seed_sql`), and every row carrying a key that one of
    them carries (orders and order lines: an order id that an order or a line among them
    names). Rows with a generated id (no id in the export) share a key only by content: when
    such a row has no id, or an id that looks generated, every row without an id is cleaned
    again too.
    """
    entities = _BY_ORDER if entity in _BY_ORDER else (entity,)
    key = "order_id" if entity in _BY_ORDER else KEYS[entity][0]
    con.execute(f"CREATE OR REPLACE TEMP TABLE _seed AS {_seed_sql(entity, plan, key)}")
    others = "".join(
        f" UNION SELECT k FROM ({_seed_sql(e, plan, key)})" for e in entities if e != entity
    )
    no_id = "false"
    if entity in GENERATED_ID:
        _, prefix = GENERATED_ID[entity]
        generated = con.execute(
            f"SELECT count(*) FROM _seed WHERE k IS NULL OR starts_with(k, {_lit(prefix)})"
        ).fetchone()[0]
        no_id = f"{_key_sql(key)} IS NULL" if generated else "false"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _s_{entity} AS
            SELECT _source_file, _source_row FROM _seed
            UNION
            SELECT _source_file, _source_row FROM raw.{entity}
            WHERE {no_id} OR {_key_sql(key)} IN (
                SELECT k FROM (SELECT k FROM _seed{others}) WHERE k IS NOT NULL)"""
    )
    con.execute("DROP TABLE _seed")
    return con.execute(f"SELECT count(*) FROM _s_{entity}").fetchone()[0]


def _clean_columns(con: duckdb.DuckDBPyConnection, entity: str) -> str:
    return ", ".join(_q(c) for c in column_names(con, "clean", entity))


def outside_sql(con: duckdb.DuckDBPyConnection, entity: str) -> str:
    """SELECT of the rows of `clean.<entity>` outside the scope, which keep their fate
    (customers: derived ones excepted, derived again over the whole tables)."""
    rewritten = REWRITTEN_EVERY_DELTA.get(entity)
    derived = f" AND NOT {rewritten}" if rewritten else ""
    return f"""SELECT {_clean_columns(con, entity)} FROM clean.{entity} c
        WHERE NOT EXISTS (SELECT 1 FROM _s_{entity} s WHERE s._source_file = c._source_file
                          AND s._source_row = c._source_row){derived}"""


def next_view(con: duckdb.DuckDBPyConnection, entity: str, new_rows: str) -> None:
    """The view `_next_<entity>`: the clean table as the delta will leave it (the rows outside
    the scope, then the scope's accepted rows `new_rows`)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _next_{entity} AS {outside_sql(con, entity)}
            UNION ALL SELECT {_clean_columns(con, entity)} FROM {new_rows}"""
    )


def deferred_before(con: duckdb.DuckDBPyConnection, entity: str) -> None:
    """Add to `_deferred_before` the rows of the scope that the last cleaning deferred, per file
    it cleaned.

    A row was deferred when it is neither in the clean table nor rejected in the quarantine
    (rows read = accepted + deferred + rejected); the load log's deferred counts move by the
    scope's old and new deferrals.
    """
    con.execute(
        f"""INSERT INTO _deferred_before
            SELECT s._source_file, count(*) - count(c._source_row) - count(q.source_row)
            FROM _s_{entity} s
            LEFT JOIN clean.{entity} c USING (_source_file, _source_row)
            LEFT JOIN (SELECT source_file, source_row FROM clean.quarantine
                       WHERE entity = {_lit(entity)} AND action = 'rejected') q
              ON q.source_file = s._source_file AND q.source_row = s._source_row
            WHERE s._source_file IN (SELECT source_file FROM clean.load_log)
            GROUP BY 1"""
    )


def apply(con: duckdb.DuckDBPyConnection, entity: str, new_rows: str) -> None:
    """Replace the scope's rows of `clean.<entity>` and their quarantine entries (in the
    caller's transaction)."""
    lineage = "t._source_file = s._source_file AND t._source_row = s._source_row"
    con.execute(f"DELETE FROM clean.{entity} t USING _s_{entity} s WHERE {lineage}")
    if entity in REWRITTEN_EVERY_DELTA:
        con.execute(f"DELETE FROM clean.{entity} WHERE {REWRITTEN_EVERY_DELTA[entity]}")
    con.execute(f"INSERT INTO clean.{entity} SELECT {_clean_columns(con, entity)} FROM {new_rows}")
    con.execute(
        f"""DELETE FROM clean.quarantine t USING _s_{entity} s
            WHERE t.entity = {_lit(entity)} AND t.source_file = s._source_file
              AND t.source_row = s._source_row"""
    )


@dataclass(frozen=True)
class LastCleaning:
    """The cleaning the clean tables come from, as `write_state` recorded it."""

    mode: str
    cleaning_id: str
    #: A delta: the cleaning it started from.
    previous_id: str | None


def last_cleaning(con: duckdb.DuckDBPyConnection) -> LastCleaning | None:
    """The last recorded cleaning (None: no state, or one written before cleaning ids)."""
    if "cleaning_id" not in column_names(con, *STATE_TABLE.split(".")):
        return None
    row = con.execute(f"SELECT mode, cleaning_id, previous_id FROM {STATE_TABLE}").fetchone()
    return LastCleaning(*row) if row else None


def write_state(
    con: duckdb.DuckDBPyConnection, params: dict[str, object], table: str, *, delta: bool
) -> None:
    """Record this cleaning in `table` (the state table or its next one): its parameters, a new
    cleaning id, and the id of the cleaning a delta started from (the clean gates compare them
    with the cleaning they validated last, docs/quality.md "Delta validation")."""
    last = last_cleaning(con) if delta else None
    con.execute(
        f"CREATE OR REPLACE TABLE {table} (parameters VARCHAR, mode VARCHAR, "
        "cleaning_id VARCHAR, previous_id VARCHAR)"
    )
    con.execute(
        f"INSERT INTO {table} VALUES (?, ?, ?, ?)",
        [
            json.dumps(params, sort_keys=True),
            "delta" if delta else "full",
            uuid.uuid4().hex,
            last.cleaning_id if last else None,
        ],
    )


def delta_table(entity: str) -> str:
    """`clean.<entity>__delta`: what the clean gate of `entity` validates after a delta."""
    return f"clean.{entity}__delta"


def write_delta_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Write, for each entity of `VALIDATED` (in the delta's transaction, after `apply`), the
    rows of `clean.<entity>` the delta wrote, the rows every delta rewrites whole (derived
    customers), and every row sharing their key, so that the gate's uniqueness check sees an
    old row repeating a new key. A copy, not a view: the gate's expectations each read their
    batch, and a filter over the whole table in each of them cost more than the whole table
    (53 s against 4.7 s for the orders gate at 10M orders)."""
    for entity in VALIDATED:
        key = _q(KEYS[entity][0])
        written = (
            f"SELECT t.* FROM clean.{entity} t JOIN _s_{entity} s USING (_source_file, _source_row)"
        )
        if entity in REWRITTEN_EVERY_DELTA:
            written += (
                f" UNION ALL SELECT * FROM clean.{entity} WHERE {REWRITTEN_EVERY_DELTA[entity]}"
            )
        con.execute(
            f"""CREATE OR REPLACE TABLE {delta_table(entity)} AS
                WITH written AS ({written})
                SELECT * FROM clean.{entity} WHERE {key} IN (SELECT {key} FROM written)
                UNION ALL SELECT * FROM written WHERE {key} IS NULL"""
        )


def drop_delta_tables(con: duckdb.DuckDBPyConnection) -> None:
    """A full cleaning validates whole tables: the last delta's copies go."""
    for entity in VALIDATED:
        con.execute(f"DROP TABLE IF EXISTS {delta_table(entity)}")
