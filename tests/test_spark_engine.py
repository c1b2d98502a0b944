"""The refresh job with `--engine spark`: same Dagster job, dbt on Spark, results back in DuckDB."""

from __future__ import annotations

import duckdb
import pytest
from conftest import DEMO_AS_OF, run_cli
from test_refresh_e2e import _table_digest

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.spark]

COMPARED = ["marts.customer_rfm", "marts.segment_kpis", "marts.cohort_retention"]


def test_spark_engine_refresh_publishes_the_same_marts_as_duckdb(refreshed, tmp_path):
    pytest.importorskip("pyspark")
    warehouse = tmp_path / "warehouse.duckdb"
    code, output = run_cli(
        "refresh",
        "--landing", str(refreshed["landing"]),
        "--as-of", DEMO_AS_OF.isoformat(),
        "--warehouse", str(warehouse),
        "--state-dir", str(tmp_path / "state"),
        "--engine", "spark",
        "--spark-dir", str(tmp_path / "spark"),
    )  # fmt: skip
    assert code == 0, output
    assert (tmp_path / "spark" / "warehouse" / "marts.db" / "customer_rfm").is_dir()
    with duckdb.connect(str(warehouse), read_only=True) as spark_built:
        spark = {t: _table_digest(spark_built, t) for t in COMPARED}
        rows = spark_built.execute("select count(*) from marts.customer_rfm").fetchone()[0]
    with duckdb.connect(str(refreshed["warehouse"]), read_only=True) as duckdb_built:
        local = {t: _table_digest(duckdb_built, t) for t in COMPARED}
    assert rows > 1000
    assert spark == local
