"""Benchmark: cost of the volume measure (landing gates) and of the history journal.

Builds a synthetic warehouse in a temporary folder: `raw.orders` with N text-dated rows (ISO and
a day-first file, as the file registry records them) and a `history` schema with C customers
times R refreshes, then times `measure_volume` (counts by parsed date against a baseline) and the
journal steps of a refresh (`begin` = copy of the history schema, `rollback`, `commit`).

    .venv/bin/python bench/volume_and_history.py --orders 10000000 --customers 1000000 --refreshes 8
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import duckdb

from pipeline.quality.checks import ensure_load_history, measure_volume, record_load
from pipeline.serving import history

#: The pipeline's default (docs/benchmarks.md): DuckDB's own 80% of RAM starves a shared machine.
CONFIG = {"memory_limit": "4GB"}


def build(path: Path, orders: int, customers: int, refreshes: int) -> None:
    """The synthetic warehouse: raw orders (text dates) and the history tables."""
    with duckdb.connect(str(path), config=CONFIG) as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.file_registry as select * from (values "
            "('orders', 'orders_iso.csv', 'iso'), ('orders', 'orders_fr.csv', '%d/%m/%Y')) "
            "t(entity, source_file, date_format)"
        )
        # Two thirds ISO, one third day-first, dates over ten years.
        con.execute(
            f"""create table raw.orders as
            select 'O' || i as order_id, 'C' || (i % {customers}) as customer_id,
                   case when i % 3 = 0
                        then strftime(date '2016-10-01' + cast(i % 3650 as integer), '%d/%m/%Y')
                        else strftime(date '2016-10-01' + cast(i % 3650 as integer), '%Y-%m-%d')
                   end as order_date,
                   '12.50' as amount,
                   case when i % 3 = 0 then 'orders_fr.csv' else 'orders_iso.csv' end
                       as _source_file,
                   i as _source_row
            from range({orders}) t(i)"""
        )
        con.execute("create schema history")
        con.execute(
            f"""create table history.segment_history as
            select date '2024-10-01' + interval (r * 3) month as as_of,
                   'C' || c as customer_id, 'Champions' as segment, '555' as rfm_code,
                   5 as r_score, 5 as f_score, 5 as m_score, 10 as recency_days,
                   3 as frequency, cast(120.5 as decimal(18, 2)) as monetary
            from range({refreshes}) a(r), range({customers}) b(c)"""
        )
        con.execute(
            "create table history.kpi_history as select as_of, 'All' as segment, "
            "count(*) as customers from history.segment_history group by as_of"
        )
        con.execute(
            "create table history.customer_segment_changes as select customer_id, as_of "
            "as from_as_of, as_of as to_as_of from history.segment_history where "
            "hash(customer_id) % 5 = 0"
        )


def timed(label: str, fn, *args):
    started = time.perf_counter()
    value = fn(*args)
    print(f"  {label:<58}{time.perf_counter() - started:>8.2f} s")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--refreshes", type=int, default=8)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench_volume_") as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        timed(
            f"build ({args.orders:,} orders, {args.customers:,} x {args.refreshes})",
            build,
            path,
            args.orders,
            args.customers,
            args.refreshes,
        )
        with duckdb.connect(str(path), config=CONFIG) as con:
            ensure_load_history(con)
            first = timed(
                "measure_volume, first load",
                measure_volume,
                con,
                "run-1",
                "orders",
                dt.date(2026, 7, 1),
            )
            record_load(con, first, True)
            second = timed(
                "measure_volume against a baseline",
                measure_volume,
                con,
                "run-2",
                "orders",
                dt.date(2026, 10, 1),
            )
            print(
                f"  rows {second.row_count:,}, history rows {second.history_rows:,}, "
                f"history loss {second.history_loss}, volume drop {second.volume_drop}"
            )
            (rows,) = con.execute("select count(*) from history.segment_history").fetchone()
            print(f"  history.segment_history: {rows:,} rows")
            timed(
                "journal begin (copy of the history schema)",
                history.begin,
                con,
                "run-2",
                dt.date(2026, 10, 1),
                "run-1",
            )
            timed("journal rollback (restore the copy)", history.rollback, con)
            history.begin(con, "run-3", dt.date(2026, 10, 1), "run-1")
            timed("journal commit (drop the copy)", history.commit, con, "run-3")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
