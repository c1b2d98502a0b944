"""Time every SQL statement of extract + clean on a landing folder (where ingest spends its time).

    .venv/bin/python bench/profile_ingest.py <landing> <new warehouse file> [--top 15]

The warehouse file is created anew (an existing file is removed). DuckDB gets the pipeline's
memory limit (`SEGMENTS_DUCKDB_MEMORY_LIMIT`, default 4GB). Prints wall and CPU seconds per
phase, peak RSS, the load average, and the slowest statements of each phase. The connection is
wrapped so that every `execute` is timed; the pipeline code runs unchanged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import resource
import time
from pathlib import Path

import duckdb

from pipeline.ingest import clean_entities, extract_landing, load_mapping
from pipeline.lib.resources import RefreshSettings


class TimedConnection:
    """A DuckDB connection whose `execute` calls are timed (statement text, parameters, s)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self.spent: list[tuple[float, str, str]] = []

    def __getattr__(self, name: str):
        return getattr(self._con, name)

    def execute(self, sql: str, *args, **kwargs):
        started = time.perf_counter()
        result = self._con.execute(sql, *args, **kwargs)
        params = str(args[0])[:60] if args else ""
        self.spent.append((time.perf_counter() - started, " ".join(sql.split()), params))
        return result


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--as-of", default="2026-10-01")
    parser.add_argument("--date-floor", default=RefreshSettings().quality.date_floor)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    args.warehouse.unlink(missing_ok=True)
    limit = os.environ.get("SEGMENTS_DUCKDB_MEMORY_LIMIT", "4GB")
    con = TimedConnection(duckdb.connect(str(args.warehouse), config={"memory_limit": limit}))
    log = logging.getLogger("profile_ingest")
    phases = [
        ("extract", lambda: extract_landing(con, args.landing, load_mapping(None), log)),
        (
            "clean",
            lambda: clean_entities(
                con,
                dt.date.fromisoformat(args.as_of),
                "EUR",
                log,
                date_floor=dt.date.fromisoformat(args.date_floor),
            ),
        ),
    ]
    for name, run in phases:
        first, wall, cpu = len(con.spent), time.perf_counter(), _cpu()
        run()
        statements = con.spent[first:]
        print(
            f"{name}: {time.perf_counter() - wall:.1f} s wall, {_cpu() - cpu:.1f} s CPU, "
            f"{sum(s for s, _, _ in statements):.1f} s in {len(statements)} SQL statements, "
            f"load {os.getloadavg()[0]:.1f}"
        )
        for seconds, sql, params in sorted(statements, reverse=True)[: args.top]:
            print(f"  {seconds:7.2f}  {sql[:110]}  {params}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS {peak:.2f} GB (memory_limit {limit})")


if __name__ == "__main__":
    main()
