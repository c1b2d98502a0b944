"""Validate DuckDB tables with GX 1.x's SQL engine: a persisted-connection shim for DuckDB.

Why GX's plain SQL datasource fails on DuckDB (GX issues #10738, #11579). In GX 1.24,
`SqlAlchemyExecutionEngine.execute_query` runs each metric query inside
`with self.get_connection() as connection:` and returns the cursor result, which the caller
(`resolve_metric_bundle`) only fetches *after* that block closed the SQLAlchemy connection. Closing
it rolls back the transaction SQLAlchemy auto-began, and duckdb-engine's `do_begin` opens a real
DuckDB transaction whose "cursor" is the DuckDB connection itself. The rollback therefore runs on
the connection holding the pending result, DuckDB discards that result, `fetchall()` returns `[]`
and GX fails with `MetricResolutionError: list index out of range`. No `create_engine` option
helps (`StaticPool`, `pool_reset_on_return=None`: the rollback comes from the connection, not
the pool; duckdb-engine rejects `isolation_level="AUTOCOMMIT"`).

GX already keeps one connection open for the dialects listed in its private
`_PERSISTED_CONNECTION_DIALECTS` (sqlite, SQL Server, BigQuery, Databricks): `get_connection`
then yields the same, never closed, connection, so results survive until they are fetched. This
module registers DuckDB the same way without patching GX: `DuckDBExecutionEngine` overrides that
method (and `close`, to close the kept connection), and `DuckDBDatasource` is a fluent SQL
datasource of type `duckdb` that uses it (importing this module adds
`context.data_sources.add_duckdb`). Every metric query of one validation then runs on one DuckDB
connection, inside one read transaction: one consistent snapshot. `validate_table_sql` and
`validate_query_sql` wrap it for the quality gates' needs.

Measured against the pandas path in `bench/quality_sql_shim.py`; see docs/quality.md,
"SQL shim vs pandas (measured)". The production gates (`pipeline.quality.runner`) do not use it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import great_expectations as gx
import sqlalchemy
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
)
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine

__all__ = [
    "DuckDBDatasource",
    "DuckDBExecutionEngine",
    "validate_query_sql",
    "validate_table_sql",
]

DATASOURCE = "duckdb_warehouse"
BATCH_DEFINITION = "whole"


class DuckDBExecutionEngine(SqlAlchemyExecutionEngine):
    """GX's SQLAlchemy engine, keeping one DuckDB connection open like GX does for sqlite.

    `get_connection` lazily opens one connection, keeps it in GX's own `_connection` slot and
    never closes it per query; `close` closes it (GX's `close` only disposes the pool, which
    leaves a checked-out connection, and with it the DuckDB file, open).
    """

    @contextmanager
    def get_connection(self) -> Generator[sqlalchemy.Connection, None, None]:
        """Yield the engine's single persisted connection (opened on first use)."""
        if self._connection is None:
            self._connection = self.engine.connect()
        yield self._connection

    def close(self) -> None:
        """Close the persisted connection (ending its read transaction), then dispose the pool."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        super().close()


class DuckDBDatasource(SQLDatasource):
    """A GX fluent SQL datasource (`type: duckdb`) whose metric queries share one connection.

    `connection_string` is a duckdb-engine URL, e.g. `duckdb:////abs/path/warehouse.duckdb`;
    `kwargs` go to `sqlalchemy.create_engine` (e.g. `{"connect_args": {"read_only": True}}`).
    """

    type: Literal["duckdb"] = "duckdb"  # type: ignore[assignment]  # narrower than SQLDatasource

    @property
    def execution_engine_type(self) -> type[SqlAlchemyExecutionEngine]:
        """The persisted-connection engine instead of GX's per-query connections."""
        return DuckDBExecutionEngine


def _ephemeral_context() -> Any:
    """An in-memory GX context: no files written, no analytics, no progress bars."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _quote_table(table: str) -> str:
    """`schema.table` as a quoted DuckDB identifier (each dotted part double-quoted)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in table.split("."))


def validate_query_sql(
    db_path: str | Path,
    query: str,
    expectations: Iterable[gx.expectations.Expectation],
    *,
    parameters: Mapping[str, Any] | None = None,
    result_format: str | Mapping[str, Any] = "SUMMARY",
    name: str = "batch",
    read_only: bool = True,
    context: Any = None,
) -> ExpectationSuiteValidationResult:
    """Validate the rows of `query` (DuckDB SQL, run in DuckDB) with GX's SQL engine.

    `parameters` fill `{$PARAMETER: name}` in the expectations (GX expectation parameters); the
    query itself takes no parameters. `result_format` is GX's (e.g. the quality runner's
    SUMMARY dict). The DuckDB file is opened `read_only` by default (the same configuration as
    the gates' `warehouse.connect(read_only=True)`, so both can be open in one process). A fresh
    in-memory GX context is used unless `context` is given. The connection is closed on return.
    """
    ctx = context if context is not None else _ephemeral_context()
    url = f"duckdb:///{Path(db_path).resolve()}"
    source = ctx.data_sources.add_or_update_duckdb(
        DATASOURCE, connection_string=url, kwargs={"connect_args": {"read_only": read_only}}
    )
    try:
        batch = source.add_query_asset(name, query=query).add_batch_definition_whole_table(
            BATCH_DEFINITION
        )
        suite = ctx.suites.add_or_update(
            gx.ExpectationSuite(name=name, expectations=[e.copy() for e in expectations])
        )
        definition = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        return definition.run(
            expectation_parameters=dict(parameters or {}),
            result_format=dict(result_format)
            if isinstance(result_format, Mapping)
            else result_format,
        )
    finally:
        # Release the DuckDB file: GX keeps no public handle on the execution engine (whose
        # persisted connection holds the read transaction) nor on the datasource's own engine.
        if source._execution_engine is not None:
            source._execution_engine.close()
        if source._engine is not None:
            source._engine.dispose()
        ctx.data_sources.delete(DATASOURCE)


def validate_table_sql(
    db_path: str | Path,
    table: str,
    expectations: Iterable[gx.expectations.Expectation],
    **options: Any,
) -> ExpectationSuiteValidationResult:
    """Validate every row of `table` (`name` or `schema.name`) of a DuckDB file in SQL.

    A thin wrapper of `validate_query_sql` (same keyword options) on `SELECT * FROM table`.
    """
    return validate_query_sql(
        db_path, f"SELECT * FROM {_quote_table(table)}", expectations, **options
    )
