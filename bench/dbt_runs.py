"""Run the segment dbt models outside Dagster, on DuckDB or Spark: for benchmarks and tests.

The product runs dbt through dagster-dbt only (pipeline/segments/assets.py, `--engine spark`
included); this second way to run it exists for the Spark-vs-DuckDB benchmark
(bench/spark_vs_duckdb.py) and the engine parity test (tests/test_spark_parity.py), which build
both engines side by side from one warehouse without a Dagster run. It reuses the engine pieces
of `pipeline.segments.spark` (Parquet export, Spark environment).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipeline.segments.project import DBT_PROJECT_DIR, dbt_executable
from pipeline.segments.spark import export_clean_parquet, spark_environment

log = logging.getLogger(__name__)

ENGINES = ("duckdb", "spark")


class DbtBuildError(RuntimeError):
    """`dbt build` failed; the message ends with the tail of dbt's output."""


@dataclass
class DbtBuildResult:
    """What one `run_dbt_build` did: engine, timings, where dbt wrote its artifacts."""

    engine: str
    target_dir: Path
    seconds: float
    export_seconds: float = 0.0
    spark_dir: Path | None = None
    exported: dict[str, Path] = field(default_factory=dict)
    #: Counts per dbt status (success, pass, error, fail, skipped...) from run_results.json.
    statuses: dict[str, int] = field(default_factory=dict)


def build_clean_warehouse(
    landing_dir: Path,
    warehouse_path: Path,
    as_of: dt.date,
    currency: str = "EUR",
    date_floor: dt.date | None = None,
) -> None:
    """Fill a DuckDB warehouse with raw, clean and identity tables from a landing directory.

    The Python half of a refresh (extract, clean, identity resolution without steward
    overrides), the same library calls the Dagster assets make; the tests and the Spark benchmark
    use it to get the sources both engines read.
    """
    from pipeline.identity.resolve import resolve_identities
    from pipeline.ingest.clean import clean_entities
    from pipeline.ingest.extract import extract_landing
    from pipeline.ingest.mapping import load_mapping
    from pipeline.lib.resources import RefreshSettings

    # Unset: the settings' plausibility floor (its default lives there only).
    floor = date_floor or RefreshSettings(as_of=as_of.isoformat()).date_floor_date()
    Path(warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse_path)) as con:
        extract_landing(con, Path(landing_dir), load_mapping(None), log)
        clean_entities(con, as_of, currency, log, date_floor=floor)
        resolve_identities(con, as_of)


def _statuses(target_dir: Path) -> dict[str, int]:
    """Count dbt node statuses in run_results.json (empty when dbt wrote none)."""
    path = target_dir / "run_results.json"
    if not path.exists():
        return {}
    counts: dict[str, int] = {}
    for result in json.loads(path.read_text())["results"]:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts


def run_dbt_build(
    engine: str = "duckdb",
    warehouse_path: Path | None = None,
    parquet_dir: Path | None = None,
    vars: Mapping[str, Any] | None = None,  # noqa: A002 - dbt's own name for them
    target_dir: Path | None = None,
    *,
    spark_dir: Path | None = None,
    command: str = "build",
    select: str | None = None,
    full_refresh: bool = False,
    driver_memory: str = "1g",
) -> DbtBuildResult:
    """Run `dbt build` (or `command`) of the segment models on `engine` ('duckdb' or 'spark').

    - duckdb: dbt writes the models into the warehouse file (`warehouse_path`), as Dagster does.
    - spark: the clean/identity tables are exported from the warehouse to `parquet_dir` first
      (read-only), then dbt builds on a local Spark session whose warehouse and metastore live in
      `spark_dir` (default: `<warehouse dir>/spark`; keep it between runs: the history tables
      are incremental). The DuckDB warehouse is not written.

    `vars` are the scoring vars (`RefreshSettings.dbt_vars()`); `target_dir` receives dbt's
    artifacts and logs (one per concurrent run, so runs never share `dbt_project/target`).
    Raises DbtBuildError when dbt fails.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if warehouse_path is None:
        raise ValueError("warehouse_path is required")
    warehouse_path = Path(warehouse_path).resolve()
    target_dir = Path(target_dir or DBT_PROJECT_DIR / "target" / engine).resolve()
    target_dir.mkdir(parents=True, exist_ok=True)
    dbt_vars: dict[str, Any] = dict(vars or {})
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    result = DbtBuildResult(engine=engine, target_dir=target_dir, seconds=0.0)

    if engine == "duckdb":
        dbt_vars["warehouse_path"] = str(warehouse_path)
    else:
        parquet_dir = Path(parquet_dir or warehouse_path.parent / "spark_parquet").resolve()
        started = time.perf_counter()
        result.exported = export_clean_parquet(warehouse_path, parquet_dir)
        result.export_seconds = time.perf_counter() - started
        result.spark_dir = Path(spark_dir or warehouse_path.parent / "spark").resolve()
        result.spark_dir.mkdir(parents=True, exist_ok=True)
        env.update(spark_environment(result.spark_dir, driver_memory))
        dbt_vars["spark_parquet_root"] = str(parquet_dir)
        dbt_vars["spark_parquet_tables"] = sorted(result.exported)

    args = [
        dbt_executable(),
        command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target",
        engine,
        "--target-path",
        str(target_dir),
        "--log-path",
        str(target_dir / "logs"),
        "--vars",
        json.dumps(dbt_vars),
    ]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    started = time.perf_counter()
    # The Spark driver JVM lives in this subprocess: it ends with dbt, memory and locks included.
    proc = subprocess.run(
        args, cwd=target_dir, env=env, capture_output=True, text=True, check=False
    )
    result.seconds = time.perf_counter() - started
    (target_dir / "dbt_output.log").write_text(proc.stdout + proc.stderr)
    result.statuses = _statuses(target_dir)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise DbtBuildError(f"dbt {command} on {engine} failed (exit {proc.returncode}):\n{tail}")
    return result


def spark_table_dir(spark_dir: Path, schema: str, table: str) -> Path:
    """Folder of a dbt-built Spark table (managed table in the session's warehouse dir)."""
    return Path(spark_dir).resolve() / "warehouse" / f"{schema}.db" / table


def read_spark_table(spark_dir: Path, schema: str, table: str) -> pd.DataFrame:
    """A dbt-built Spark table as a DataFrame, read from its Parquet files with DuckDB.

    No Spark session is needed. Partition columns (history tables: as_of) come back from the
    folder names, with their type restored from Spark's own partition value format.
    """
    folder = spark_table_dir(spark_dir, schema, table)
    files = sorted(str(p) for p in folder.rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Parquet files for {schema}.{table} under {folder}")
    with duckdb.connect() as con:
        return con.execute("select * from read_parquet(?, hive_partitioning = true)", [files]).df()
