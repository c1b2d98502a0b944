"""Helpers for tests that write a synthetic warehouse by hand (this module holds no tests)."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

import duckdb
from dbt.cli.main import dbtRunner, dbtRunnerResult

from pipeline.ingest.clean import OUTPUT
from pipeline.lib.paths import DBT_PROJECT_DIR

#: Optional inputs the dbt sources read even when no export landed (cleaning creates them empty).
OPTIONAL_SOURCES = ("campaign_contacts", "marketing_spend")


def create_optional_sources(con: duckdb.DuckDBPyConnection) -> None:
    """Empty clean tables of the optional entities, with the columns cleaning gives them."""
    for entity in OPTIONAL_SOURCES:
        columns = ", ".join(f"{name} {sql_type}" for name, sql_type in OUTPUT[entity])
        con.execute(f"create table clean.{entity} ({columns})")


def create_unread_sources(con: duckdb.DuckDBPyConnection) -> None:
    """The dbt sources a hand-built warehouse must have but the models it tests do not read:
    stub clean customers and quarantine, the optional entities, identity merges and successors."""
    con.execute("create table clean.customers (customer_id varchar)")
    con.execute("create table clean.quarantine (entity varchar)")
    create_optional_sources(con)
    con.execute("create table identity.identity_merges (source_customer_id varchar)")
    con.execute(
        "create table identity.master_id_successors (retired_id varchar,"
        " surviving_id varchar, as_of date)"
    )


def columns_except(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, excluded: Collection[str] = ()
) -> list[str]:
    """The columns of `schema.table` in order, without `excluded` (columns that may differ)."""
    return [
        c
        for (c,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
        if c not in excluded
    ]


def invoke_dbt(
    command: str, warehouse: Path, work: Path, *options: str, **dbt_vars: object
) -> dbtRunnerResult:
    """Run one dbt command of the project on the hand-built `warehouse`, in process, with dbt's
    artifacts and logs under `work` and `dbt_vars` as `--vars` (the settings a refresh passes
    in SEGMENTS_DBT_VARS; keep that variable out of the environment)."""
    args = [
        command,
        *options,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--vars",
        json.dumps({"warehouse_path": str(warehouse), **dbt_vars}),
        "--quiet",
    ]
    return dbtRunner().invoke(args)
