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
connection, inside one read transaction: one consistent snapshot. `duckdb_datasource` adds such
a datasource to a GX context and releases the file afterwards; `validate_table_sql` and
`validate_query_sql` wrap it for one-off validations.

Measured against the pandas path in `bench/quality_sql_shim.py`; see docs/quality.md,
"SQL shim vs pandas (measured)". The production gates (`pipeline.quality.runner`) use it by
default (engine `sql`). A file-mode GX context that saved a `type: duckdb` datasource can only be
loaded after this module was imported (the runner imports it).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping
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

from pipeline.lib.sql import quote_relation

__all__ = [
    "DuckDBDatasource",
    "duckdb_datasource",
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


def release(source: Any) -> None:
    """Close a DuckDB datasource's persisted connection and engine, releasing the file.

    GX keeps no public handle on the execution engine (whose persisted connection holds the read
    transaction) nor on the datasource's own engine, hence the private attributes.
    """
    if source._execution_engine is not None:
        source._execution_engine.close()
        source._execution_engine = None
    if source._engine is not None:
        source._engine.dispose()


@contextmanager
def duckdb_datasource(
    context: Any,
    db_path: str | Path,
    *,
    name: str = DATASOURCE,
    read_only: bool = True,
    config: Mapping[str, Any] | None = None,
) -> Iterator[DuckDBDatasource]:
    """Add (or update) the `type: duckdb` datasource `name` on `db_path`; release it on exit.

    `config` is DuckDB's connection configuration (e.g. `threads`, `memory_limit`). An existing
    datasource `name` is reused, its assets kept (updated only when the file or configuration
    changed). It stays registered in `context`; only its connection is closed on exit, so another
    connection to the file with a different configuration may be opened afterwards.
    """
    connect_args: dict[str, Any] = {"read_only": read_only}
    if config:
        connect_args["config"] = dict(config)
    url = f"duckdb:///{Path(db_path).resolve()}"
    kwargs = {"connect_args": connect_args}
    try:
        source = context.data_sources.get(name)
    except (KeyError, ValueError):
        source = None
    if not isinstance(source, DuckDBDatasource):
        source = context.data_sources.add_or_update_duckdb(
            name, connection_string=url, kwargs=kwargs
        )
    elif str(source.connection_string) != url or source.kwargs != kwargs:
        # Keep the assets: saved validation definitions refer to them by name.
        source = context.data_sources.add_or_update_duckdb(
            name, connection_string=url, kwargs=kwargs, assets=source.assets
        )
    try:
        yield source
    finally:
        release(source)


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
    SUMMARY dict). The DuckDB file is opened `read_only` by default. No other connection to the
    file may be open in this process meanwhile, not even a read-only `duckdb.connect`: DuckDB
    refuses duckdb-engine's connection ("different configuration"). A fresh in-memory GX context
    is used unless `context` is given. The connection is closed on return.
    """
    ctx = context if context is not None else _ephemeral_context()
    try:
        with duckdb_datasource(ctx, db_path, read_only=read_only) as source:
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
        db_path, f"SELECT * FROM {quote_relation(table)}", expectations, **options
    )
