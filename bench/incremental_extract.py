"""Extraction when a month lands: a full load of the landing vs the same landing plus one new file.

    .venv/bin/python bench/incremental_extract.py --orders 1000000 --work /tmp/incr

Generates the demo exports (customers = orders / 10), loads every file but the newest orders
file into a new warehouse, adds that file, then loads again (only it is read), once more with
nothing new (nothing is read) and with `full=True` (everything is read). Prints the time of each
load, the files read and kept, and the rows in `raw.orders`. Never run in CI.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

import duckdb

from pipeline.demo.generator import generate_demo
from pipeline.ingest import extract_landing, load_mapping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, required=True, help="folder for exports and warehouse")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    log = logging.getLogger("bench.incremental_extract")
    demo = args.work / "demo"
    if not demo.exists():
        started = time.perf_counter()
        generate_demo(demo, customers=args.orders // 10, orders=args.orders, seed=3)
        print(f"demo exports generated in {time.perf_counter() - started:.1f} s")
    exports = demo / "landing"
    names = sorted(p.name for p in exports.iterdir())
    newest = sorted(n for n in names if n.startswith("orders"))[-1]
    landing = args.work / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    landing.mkdir()
    for name in names:
        if name != newest:
            (landing / name).symlink_to(exports / name)
    warehouse = args.work / "warehouse.duckdb"
    warehouse.unlink(missing_ok=True)
    con = duckdb.connect(str(warehouse))

    def load(label: str, full: bool = False) -> None:
        started = time.perf_counter()
        report = extract_landing(con, landing, load_mapping(None), log, full=full)
        seconds = time.perf_counter() - started
        (orders,) = con.execute("select count(*) from raw.orders").fetchone()
        print(
            f"{label:<44}{seconds:>8.2f} s   read {len(report.read):>2} file(s), "
            f"kept {len(report.reused):>2}; raw.orders {orders:,} rows"
        )

    load(f"every file but {newest}")
    (landing / newest).symlink_to(exports / newest)
    load(f"+ {newest} ({(exports / newest).stat().st_size / 1e6:.0f} MB)")
    load("nothing new")
    load("full=True (segments refresh --full)", full=True)
    con.close()


if __name__ == "__main__":
    main()
