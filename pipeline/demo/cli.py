"""Command line for the demo generator: `python -m pipeline.demo --out DIR [options]`."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

from pipeline.demo.generator import FILE_FORMATS, generate_demo


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.demo",
        description="Write deterministic demo landing files and their ground truth.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output directory (landing/ and ground_truth/ are created in it)",
    )
    parser.add_argument("--customers", type=int, default=5000, help="customer records")
    parser.add_argument("--orders", type=int, default=25000, help="orders")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=date(2026, 10, 1),
        help="as-of date YYYY-MM-DD (history ends here)",
    )
    parser.add_argument(
        "--format",
        choices=FILE_FORMATS,
        default="csv",
        dest="file_format",
        help="landing file format (the messy customers_store.csv stays CSV)",
    )
    parser.add_argument("--no-faults", action="store_true", help="write clean files only")
    parser.add_argument(
        "--parts",
        type=int,
        default=1,
        help="write the demo as this many independent parts, one at a time (bounded memory)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, generate the demo data and write a one-line-per-file summary to stdout."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summary = generate_demo(
        args.out,
        customers=args.customers,
        orders=args.orders,
        seed=args.seed,
        as_of=args.as_of,
        faults=not args.no_faults,
        file_format=args.file_format,
        parts=args.parts,
    )
    out = sys.stdout
    out.write(
        f"{summary.persons} persons, {summary.customer_records} customer records, "
        f"{summary.orders} orders, {summary.faults} faults in {summary.seconds}s\n"
    )
    for rel, rows in summary.files.items():
        out.write(f"  {summary.out_dir / rel}: {rows} rows\n")
    return 0
