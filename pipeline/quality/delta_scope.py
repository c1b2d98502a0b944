"""Delta validation: after a delta cleaning, the clean gates validate the rows it wrote.

A delta cleaning (`pipeline/ingest/delta.py`) rewrites the rows of the new files and every row
sharing a key with them; every other clean row is the row the previous cleaning wrote. When the
clean gate passed on that previous cleaning with the same parameters, validating those rows
again can only pass again, so a suite that declares `delta:` (the clean table it reads)
validates:

* the rows the cleaning wrote, and the rows every delta rewrites whole (derived customers);
* every row sharing the entity's key with them, so that uniqueness is checked against the whole
  table: a new key that repeats an old one is in the batch with it.

The cleaning writes that batch in its own transaction (`clean.<entity>__delta`,
`pipeline.ingest.delta.write_delta_tables`), and the suite reads it instead of the table.

The whole tables are validated instead when anything else holds: a full cleaning, no record of
this gate passing on the cleaning the delta started from (a first run, a failed or skipped gate),
other gate parameters, or an earlier as-of date. The as-of date may move forward: the clean
suites bound dates by it from above only, so a row valid at an earlier as-of date stays valid.
Suites without `delta:` (the quarantine rates on `clean.load_log`, a few rows per file) always
read everything. `quality.gate_state` holds, per gate, what its last run validated and whether
it passed; the check's metadata says which scope ran and why.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from pipeline.ingest.delta import VALIDATED, delta_table, last_cleaning
from pipeline.lib.fingerprint import json_digest
from pipeline.lib.sql import table_exists
from pipeline.quality.suites import SuiteSpec, delta_pattern

GATE_STATE_TABLE = "quality.gate_state"
#: Parameters that change with every run and do not change what a clean row must satisfy (the
#: as-of date is compared apart: it may only move forward).
_PER_RUN = ("run_id", "as_of", "as_of_end")


@dataclass(frozen=True)
class Scope:
    """What a gate validates this run: the delta or the whole tables, and why."""

    delta: bool
    reason: str
    #: The cleaning the clean tables come from (None before any recorded cleaning).
    cleaning_id: str | None = None

    def describe(self) -> str:
        """One line for the logs and the check's metadata."""
        what = "the rows the delta cleaning wrote, and the rows sharing their keys"
        return f"{what if self.delta else 'whole tables'}: {self.reason}"


def _digest(parameters: Mapping[str, Any]) -> str:
    return json_digest({k: v for k, v in parameters.items() if k not in _PER_RUN})


def decide(con: duckdb.DuckDBPyConnection, gate: str, parameters: Mapping[str, Any]) -> Scope:
    """The scope of `gate` on the clean tables as they stand (`con` may be read-only)."""
    last = last_cleaning(con)
    if last is None:
        return Scope(False, "no recorded cleaning")
    mode, cleaning_id, previous_id = last.mode, last.cleaning_id, last.previous_id
    if not table_exists(con, *GATE_STATE_TABLE.split(".")):
        return Scope(False, "no earlier validation of this gate", cleaning_id)
    row = con.execute(
        f"SELECT cleaning_id, parameters, as_of, passed FROM {GATE_STATE_TABLE} WHERE gate = ?",
        [gate],
    ).fetchone()
    if row is None:
        return Scope(False, "no earlier validation of this gate", cleaning_id)
    validated, digest, as_of, passed = row
    if not passed:
        return Scope(False, "the last validation of this gate failed", cleaning_id)
    if digest != _digest(parameters):
        return Scope(False, "the gate parameters changed since its last validation", cleaning_id)
    if dt.date.fromisoformat(str(parameters["as_of"])) < as_of:
        return Scope(False, f"the as-of date moved back from {as_of}", cleaning_id)
    if mode != "delta":
        return Scope(False, "full cleaning", cleaning_id)
    if not all(table_exists(con, *delta_table(e).split(".")) for e in VALIDATED):
        return Scope(False, "no delta rows recorded", cleaning_id)
    if validated == cleaning_id:
        return Scope(True, "nothing cleaned since the last validation", cleaning_id)
    if validated == previous_id:
        return Scope(True, "delta cleaning of tables that passed this gate", cleaning_id)
    return Scope(False, "the cleaning the delta started from was not validated", cleaning_id)


def record(
    con: duckdb.DuckDBPyConnection,
    gate: str,
    parameters: Mapping[str, Any],
    scope: Scope,
    passed: bool,
) -> None:
    """Keep what this run of `gate` validated and whether it passed (`con` writable)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS quality")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {GATE_STATE_TABLE} (
            gate VARCHAR PRIMARY KEY, cleaning_id VARCHAR, parameters VARCHAR, as_of DATE,
            passed BOOLEAN NOT NULL, scope VARCHAR, recorded_at TIMESTAMP NOT NULL)"""
    )
    con.execute(
        f"INSERT OR REPLACE INTO {GATE_STATE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            gate,
            scope.cleaning_id,
            _digest(parameters),
            dt.date.fromisoformat(str(parameters["as_of"])),
            passed,
            scope.describe(),
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
        ],
    )


def delta_suite(suite: SuiteSpec) -> SuiteSpec:
    """`suite` reading the delta copy of its `delta` table (see the module docstring)."""
    if suite.delta is None:
        return suite
    entity = suite.delta.split(".")[-1]
    query = delta_pattern(suite.delta).sub(
        f"FROM {delta_table(entity)} AS {entity}", suite.query, count=1
    )
    return dataclasses.replace(suite, query=query)
