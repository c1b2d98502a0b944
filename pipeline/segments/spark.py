"""The Spark engine of the dbt models (`refresh.engine: spark`), for when data outgrows one machine.

Ingestion, cleaning and identity resolution stay in Python/DuckDB. For Spark, their output tables
(`clean.*`, `identity.*`) are exported as Parquet (`export_clean_parquet`), registered as the dbt
sources by the `create_spark_sources` on-run-start hook (dbt_project/macros/portability.sql), and
the very same models build there through dagster-dbt (pipeline/segments/assets.py). The Spark
tables are Parquet folders, so `load_spark_tables` copies them back into the DuckDB warehouse
(the quality gates, the publication and the report read the same tables whatever the engine).

Spark settings reach the `spark` output of dbt_project/profiles.yml as environment variables
(`SEGMENTS_SPARK_*`, `spark_environment`); every run gets an explicit Spark folder so the
warehouse dir, the Derby metastore and derby.log never land in the working directory.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import duckdb

from pipeline.lib.sql import quote_ident, quote_relation, sql_literal

log = logging.getLogger(__name__)

#: The warehouse tables the dbt sources read (dbt_project/models/staging/_sources.yml).
SOURCE_TABLES = (
    "clean.orders",
    "clean.customers",
    "clean.refunds",
    "clean.order_lines",
    "clean.nps_responses",
    "clean.support_tickets",
    "clean.campaign_contacts",
    "clean.marketing_spend",
    "clean.quarantine",
    "identity.customer_identity_map",
    "identity.customers",
    "identity.identity_merges",
    "identity.master_id_successors",
)

#: Schemas of the dbt models (generate_schema_name keeps the folder names).
MODEL_SCHEMAS = ("staging", "intermediate", "marts", "history")


def export_clean_parquet(
    warehouse_path: Path, out_dir: Path, tables: Iterable[str] = SOURCE_TABLES
) -> dict[str, Path]:
    """Write the source tables of the DuckDB warehouse as Parquet: `<out_dir>/<schema>/<table>/`.

    Returns {"schema.table": folder}. Tables absent from the warehouse are skipped (and so not
    registered on Spark). Each table is one folder (Spark table locations are folders) replaced
    as a whole, so re-exporting never mixes old and new files. Opens the warehouse read-only:
    Dagster must still run this in the `duckdb_warehouse` pool, since DuckDB refuses a reader
    while another process writes.
    """
    out_dir = Path(out_dir).resolve()
    exported: dict[str, Path] = {}
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        present = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        for qualified in tables:
            if qualified not in present:
                log.info("export_clean_parquet: %s not in the warehouse, skipped", qualified)
                continue
            schema, name = qualified.split(".")
            folder = out_dir / schema / name
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            # One file per table: enough for Spark to split by row group; names without a
            # leading "_" or "." (Spark skips those as metadata).
            target = sql_literal(folder / "part-0.parquet")
            con.execute(
                f"copy (select * from {quote_relation(schema, name)}) to {target} "
                "(format parquet, compression zstd, row_group_size 500000)"
            )
            exported[qualified] = folder
    return exported


def spark_environment(spark_dir: Path, driver_memory: str = "1g") -> dict[str, str]:
    """Environment variables the `spark` profile output reads (see dbt_project/profiles.yml)."""
    spark_dir = Path(spark_dir).resolve()
    return {
        "SEGMENTS_SPARK_DIR": str(spark_dir),
        "SEGMENTS_SPARK_DRIVER_MEMORY": driver_memory,
        # Local sessions only: never let the driver bind to a resolvable-but-wrong hostname.
        "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
    }


def load_spark_tables(
    spark_dir: Path, warehouse_path: Path, schemas: Iterable[str] = ("marts", "history")
) -> dict[str, int]:
    """Copy the Spark-built tables of `schemas` into the DuckDB warehouse (replacing them).

    So everything downstream of the dbt models (quality gates, serving, report) keeps reading the
    DuckDB warehouse whatever engine built the marts. A DuckDB writer: run it in the
    `duckdb_warehouse` pool. Returns {"schema.table": rows}.
    """
    loaded: dict[str, int] = {}
    root = Path(spark_dir).resolve() / "warehouse"
    with duckdb.connect(str(warehouse_path)) as con:
        for schema in schemas:
            schema_dir = root / f"{schema}.db"
            if not schema_dir.is_dir():
                continue
            con.execute(f"create schema if not exists {quote_ident(schema)}")
            for table_dir in sorted(p for p in schema_dir.iterdir() if p.is_dir()):
                files = sorted(str(p) for p in table_dir.rglob("*.parquet"))
                if not files:
                    continue
                name = table_dir.name
                con.execute(
                    f"create or replace table {quote_relation(schema, name)} as "
                    "select * from read_parquet(?, hive_partitioning = true)",
                    [files],
                )
                loaded[f"{schema}.{name}"] = con.execute(
                    f"select count(*) from {quote_relation(schema, name)}"
                ).fetchone()[0]
    return loaded
