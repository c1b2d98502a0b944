"""Benchmark: what the kept history costs a monthly refresh, as refreshes accumulate.

Every refresh is kept (segment history, migrations), so after two years of monthly refreshes
the history holds 24 slices of every customer. This times the three steps of a refresh that
read it, on a copy of a refreshed warehouse whose history is grown to `--refreshes` monthly
slices (copies of the latest refresh, one month apart, with one customer in ten moved to another
segment, so every pair of refreshes has migrations):

1. the history journal (`pipeline.serving.history.begin`, then `commit`);
2. the history models, as the refresh's history step builds them (`dbt build --select
   path:models/history`, unit tests excluded), the pair tables being up to date with the
   previous refresh (built untimed first), so the timed build is the monthly one;
3. the publication (`publish_refresh`, dbt descriptions from the project's manifest).

    SEGMENTS_PII_KEY=... .venv/bin/python bench/history_growth.py \\
        --warehouse /tmp/bench_refresh/orders_10000000/warehouse.duckdb --refreshes 24

`--warehouse` is a warehouse a refresh built (`bench/run_benchmark.py` leaves one per scale),
named warehouse.duckdb: its dbt views name that catalog. It is copied, never written. Run it on
another checkout to compare versions (`PYTHONPATH=<checkout>`): the dbt project used is the one
beside the imported `pipeline` package.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

import pipeline
from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.serving import history
from pipeline.serving.docs import dbt_descriptions
from pipeline.serving.options import ServingOptions
from pipeline.serving.publish import publish_refresh

PROJECT_DIR = Path(pipeline.__file__).resolve().parents[1] / "dbt_project"


def grow_history(path: Path, refreshes: int) -> tuple[dt.date, int]:
    """Give the history `refreshes` monthly slices ending at the latest one; returns (latest
    as-of date, customers per slice)."""
    with duckdb.connect(str(path)) as con:
        latest, customers = con.execute(
            "SELECT max(as_of), count(*) FILTER (WHERE as_of = (SELECT max(as_of) "
            "FROM history.segment_history)) FROM history.segment_history"
        ).fetchone()
        segments = [
            row[0]
            for row in con.execute(
                "SELECT DISTINCT segment FROM history.segment_history WHERE segment IS NOT NULL "
                "ORDER BY 1"
            ).fetchall()
        ]
        con.execute("DELETE FROM history.segment_history WHERE as_of <> ?", [latest])
        con.execute("DELETE FROM history.kpi_history WHERE as_of <> ?", [latest])
        for months in range(1, refreshes):
            as_of = f"(DATE '{latest}' - INTERVAL {months} MONTH)::DATE"
            # One customer in ten is in another segment at this refresh.
            moved = (
                f"CASE WHEN hash(customer_id, {months}) % 10 = 0 THEN "
                f"($segments)[1 + (hash(customer_id, {months}, 1) % {len(segments)})::BIGINT] "
                "ELSE segment END"
            )
            con.execute(
                f"INSERT INTO history.segment_history BY NAME SELECT * REPLACE ("
                f"{as_of} AS as_of, CAST({as_of} AS VARCHAR) || '|' || customer_id "
                f"AS history_key, {moved} AS segment) "
                "FROM history.segment_history WHERE as_of = $latest",
                {"segments": segments, "latest": latest},
            )
            con.execute(
                f"INSERT INTO history.kpi_history BY NAME SELECT * REPLACE ({as_of} AS as_of, "
                f"CAST({as_of} AS VARCHAR) || '|' || segment AS history_key) "
                "FROM history.kpi_history WHERE as_of = ?",
                [latest],
            )
        con.execute("CHECKPOINT")
    return latest, customers


def dbt_history(path: Path, as_of: dt.date, target: Path, select: list[str]) -> dict[str, float]:
    """`dbt build` of `select` at `as_of`; returns the wall time and each model's time."""
    env = os.environ | {
        "SEGMENTS_WAREHOUSE": str(path),
        "SEGMENTS_DBT_VARS": json.dumps(RefreshSettings().dbt_vars() | {"as_of": str(as_of)}),
    }
    dbt = Path(sys.executable).with_name("dbt")
    started = time.perf_counter()
    subprocess.run(
        [str(dbt), "build", "--select", *select, "--exclude-resource-type", "unit_test",
         "--target-path", str(target), "--log-path", str(target), "--quiet"],
        cwd=PROJECT_DIR, env=env, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    results = json.loads((target / "run_results.json").read_text())["results"]
    times = {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results}
    return {"wall": wall} | {k: v for k, v in times.items() if not k[-1].isdigit()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--refreshes", type=int, default=24)
    parser.add_argument("--work", type=Path, default=Path("/tmp/history_growth"))
    args = parser.parse_args(argv)

    shutil.rmtree(args.work, ignore_errors=True)
    (args.work / "state").mkdir(parents=True)
    path = args.work / "warehouse.duckdb"
    shutil.copyfile(args.warehouse, path)
    started = time.perf_counter()
    as_of, customers = grow_history(path, args.refreshes)
    # The pair tables as the previous month's refresh left them (untimed).
    dbt_history(path, as_of, args.work / "dbt_prepare", ["segment_transitions",
                "customer_segment_changes"])  # fmt: skip
    prepared = time.perf_counter() - started
    print(
        f"history: {args.refreshes} refreshes of {customers:,} customers up to {as_of}, "
        f"prepared in {prepared:.1f} s; load {os.getloadavg()[0]:.1f}"
    )

    with duckdb.connect(str(path)) as con:
        mark = time.perf_counter()
        history.begin(con, "bench-run", as_of, published_run_id=None)
        journal = time.perf_counter() - mark
        history.commit(con, "bench-run")
        rows = dict(
            con.execute(
                "SELECT table_name, estimated_size FROM duckdb_tables() "
                "WHERE schema_name = 'history' ORDER BY 1"
            ).fetchall()
        )
    dbt = dbt_history(path, as_of, args.work / "dbt_history", ["path:models/history"])
    manifest = args.work / "dbt_history" / "manifest.json"
    mark = time.perf_counter()
    result = publish_refresh(
        warehouse_path=path,
        state_dir=args.work / "state",
        as_of=as_of,
        run_id="bench-history-growth",
        options=ServingOptions(),
        descriptions=dbt_descriptions(manifest),
        duckdb_config=Warehouse(path=str(path)).duckdb_config(),
    )
    publication = time.perf_counter() - mark

    print(f"history rows: {json.dumps(rows)}")
    print("| step | seconds |\n|---|---:|")
    print(f"| history journal (begin) | {journal:.2f} |")
    print(f"| dbt history step, wall (start-up and tests included) | {dbt['wall']:.2f} |")
    for model in ("segment_history", "kpi_history", "segment_transitions",
                  "customer_segment_changes"):  # fmt: skip
        print(f"| - model {model} | {dbt.get(model, float('nan')):.2f} |")
    print(f"| publication ({sum(result.row_counts.values()):,} rows) | {publication:.2f} |")
    print(f"| **total** | **{journal + dbt['wall'] + publication:.2f}** |")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
