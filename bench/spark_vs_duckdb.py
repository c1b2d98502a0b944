"""Time `dbt build` of the segment models on DuckDB and on a local Spark session.

For each scale: generate demo exports (pipeline.demo.generator, Parquet files), run the Python half
of a refresh (extract, clean, identity resolution) into a DuckDB warehouse, then time
- DuckDB: `dbt build` in a copy of that warehouse;
- Spark: the Parquet export of the clean/identity tables, then `dbt build` on a fresh local
  Spark session (its JVM start included: that is what every run pays).
Both builds run every seed, model, unit test and data test. Prints a Markdown table.

    .venv/bin/python bench/spark_vs_duckdb.py                    # demo scale only
    .venv/bin/python bench/spark_vs_duckdb.py --scales demo,1m   # also 1,000,000 orders

Figures measured on the development machine are in docs/spark.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
from dbt_runs import build_clean_warehouse, run_dbt_build  # bench/dbt_runs.py (this folder)

from pipeline.demo.generator import generate_demo

AS_OF = dt.date(2026, 10, 1)
#: name -> (customer records, orders). Demo = the test suite's demo scale.
SCALES = {
    "demo": (1_500, 7_000),
    "100k": (20_000, 100_000),
    "1m": (200_000, 1_000_000),
}


def bench_scale(name: str, work: Path, driver_memory: str) -> list[dict[str, object]]:
    """Prepare one scale under `work` and time both engines; one result row per engine."""
    customers, orders = SCALES[name]
    folder = work / name
    started = time.perf_counter()
    generate_demo(
        folder / "demo",
        customers=customers,
        orders=orders,
        seed=7,
        as_of=AS_OF,
        file_format="parquet",
    )
    generated = time.perf_counter() - started
    started = time.perf_counter()
    clean = folder / "source_warehouse.duckdb"
    build_clean_warehouse(folder / "demo" / "landing", clean, AS_OF)
    prepared = time.perf_counter() - started
    print(f"[{name}] demo exports {generated:.1f} s, extract+clean+identity {prepared:.1f} s")

    duck = folder / "duckdb_warehouse.duckdb"
    shutil.copy(clean, duck)
    dbt_vars = {"as_of": AS_OF.isoformat()}
    rows = []
    for engine in ("duckdb", "spark"):
        result = run_dbt_build(
            engine,
            duck if engine == "duckdb" else clean,
            folder / "parquet",
            dbt_vars,
            folder / f"target_{engine}",
            spark_dir=folder / "spark",
            driver_memory=driver_memory,
        )
        rows.append(
            {
                "scale": name,
                "orders": orders,
                "engine": engine,
                "export_s": result.export_seconds,
                "build_s": result.seconds,
                "nodes": sum(result.statuses.values()),
            }
        )
        print(
            f"[{name}] {engine}: export {result.export_seconds:.1f} s, "
            f"dbt build {result.seconds:.1f} s, {result.statuses}"
        )
    with duckdb.connect(str(duck), read_only=True) as con:
        scored = con.execute("select count(*) from marts.customer_rfm").fetchone()[0]
    for row in rows:
        row["scored_customers"] = scored
    return rows


def main() -> None:
    """Parse arguments, run the scales, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="demo", help=f"comma list of {sorted(SCALES)}")
    parser.add_argument("--work-dir", default="", help="keep the files here (default: temp dir)")
    parser.add_argument("--driver-memory", default="1g", help="spark.driver.memory")
    args = parser.parse_args()
    scales = [s.strip() for s in args.scales.split(",") if s.strip()]
    unknown = set(scales) - set(SCALES)
    if unknown:
        parser.error(f"unknown scales {sorted(unknown)}; choose from {sorted(SCALES)}")
    logging.basicConfig(level=logging.ERROR)

    temp = None if args.work_dir else tempfile.TemporaryDirectory(prefix="spark_bench_")
    work = Path(args.work_dir or temp.name).resolve()
    try:
        rows = [row for scale in scales for row in bench_scale(scale, work, args.driver_memory)]
    finally:
        if temp:
            temp.cleanup()
    print()
    print(
        "| scale | orders | scored customers | engine | parquet export (s) | dbt build (s) |"
        " nodes |"
    )
    print("|---|---:|---:|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['scale']} | {row['orders']:,} | {row['scored_customers']:,} | "
            f"{row['engine']} | {row['export_s']:.1f} | {row['build_s']:.1f} | {row['nodes']} |"
        )


if __name__ == "__main__":
    main()
