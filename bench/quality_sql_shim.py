"""Time the clean.orders gate two ways: pandas (production) vs GX SQL through the DuckDB shim.

    .venv/bin/python bench/quality_sql_shim.py --orders 5000000 --customers 1000000
    .venv/bin/python bench/quality_sql_shim.py --orders 20000 --customers 2000   # smoke

Builds the synthetic warehouse of `bench/quality_validation.py` (its `build`, imported), then
validates the `clean.orders` suite of `expectations/clean_orders.yml` with the gate parameters:

* pandas: `QualityRunner.fetch` (DuckDB -> pandas) + `QualityRunner.validate_frame` (GX pandas
  engine, file context, JSON result written), the gates' `pandas` engine;
* sql: `pipeline.quality.duckdb_sql.validate_query_sql` on the same query (GX SQL engine, the
  metrics computed by DuckDB), with the same SUMMARY result format and sample-key column.

Each path runs on the clean table, then again after `FAULTS` planted known bad rows (so the
unexpected counts compared are not all zero). Per expectation, success and unexpected_count must
be equal between the paths and equal to the planted counts; otherwise it exits non-zero.
The 1-minute load average is printed with every timing (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from quality_validation import AS_OF, build

from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.quality.checks import gate_parameters
from pipeline.quality.duckdb_sql import validate_query_sql
from pipeline.quality.runner import SAMPLE_SIZE, QualityRunner
from pipeline.quality.suites import SuiteSpec, load_gate

#: Bad rows planted after the clean run, and the unexpected_count each expectation must report
#: (keyed by the expectation label of `expectations/clean_orders.yml`).
FAULTS = """
UPDATE clean.orders SET order_id = 'O1' WHERE order_id = 'O2';
UPDATE clean.orders SET customer_id = NULL WHERE order_id = 'O3';
UPDATE clean.orders SET order_date = DATE '1999-12-31' WHERE order_id = 'O4';
UPDATE clean.orders SET order_date = DATE '2026-10-02' WHERE order_id = 'O5';
UPDATE clean.orders SET order_date = DATE '2026-10-01' WHERE order_id = 'O6';
UPDATE clean.orders SET amount = -1 WHERE order_id = 'O7';
UPDATE clean.orders SET amount = NULL WHERE order_id = 'O8';
UPDATE clean.orders SET discount_amount = -0.01 WHERE order_id = 'O9';
UPDATE clean.orders SET status = 'lost' WHERE order_id = 'O10';
UPDATE clean.orders SET status = NULL WHERE order_id = 'O11';
"""
EXPECTED_FAULTY = {
    "expect_column_values_to_not_be_null(order_id)": 0,
    "expect_column_values_to_be_unique(order_id)": 2,
    "expect_column_values_to_not_be_null(customer_id)": 1,
    "expect_column_values_to_not_be_null(order_date)": 0,
    "expect_column_values_to_be_between(order_date)": 2,
    "expect_column_values_to_not_be_null(amount)": 1,
    "expect_column_values_to_be_between(amount)": 1,
    "expect_column_values_to_be_between(discount_amount)": 1,
    "expect_column_values_to_be_in_set(status)": 1,
}


def load() -> str:
    """The 1-minute load average, for the record next to each timing."""
    return f"{os.getloadavg()[0]:.2f}"


def result_format(suite: SuiteSpec) -> dict[str, Any]:
    """The SUMMARY format the runner uses for a non-PII suite with a key column."""
    return {
        "result_format": "SUMMARY",
        "partial_unexpected_count": SAMPLE_SIZE,
        "unexpected_index_column_names": list(suite.key),
    }


Verdicts = dict[str, tuple[bool, int | None, bool]]


def sql_verdicts(suite: SuiteSpec, results: list[Any]) -> Verdicts:
    """label -> (success, unexpected_count, raised) from GX results, in the suite's order."""
    out = {}
    for spec, res in zip(suite.expectations, results, strict=True):
        info = res.exception_info or {}
        infos = [info] if "raised_exception" in info else list(info.values())
        raised = any(isinstance(i, dict) and i.get("raised_exception") for i in infos)
        count = (res.result or {}).get("unexpected_count")
        out[spec.label] = (bool(res.success), None if count is None else int(count), raised)
    return out


def run_pandas(
    runner: QualityRunner, warehouse: Warehouse, suite: SuiteSpec, params: dict[str, Any]
) -> tuple[Verdicts, str]:
    """The `pandas` engine (fetch + validate_frame); returns verdicts and a timing line."""
    before = load()
    started = time.perf_counter()
    with warehouse.connect(read_only=True) as con:
        frame = runner.fetch(suite, con, params)
    fetched = time.perf_counter() - started
    outcome = runner.validate_frame(suite, frame, params)
    total = time.perf_counter() - started
    found = {
        e.label: (e.success, e.unexpected_count, e.error is not None) for e in outcome.expectations
    }
    line = (
        f"pandas: fetch={fetched:6.2f}s validate={outcome.seconds:6.2f}s total={total:6.2f}s "
        f"(load {before}->{load()})"
    )
    return found, line


def run_sql(db_path: Path, suite: SuiteSpec, params: dict[str, Any]) -> tuple[Verdicts, str]:
    """The shim path (GX SQL engine on DuckDB); returns verdicts and a timing line."""
    before = load()
    started = time.perf_counter()
    result = validate_query_sql(
        db_path,
        suite.query,
        [e.to_gx() for e in suite.expectations],
        parameters=params,
        result_format=result_format(suite),
        name=suite.name,
    )
    total = time.perf_counter() - started
    line = f"sql:    total={total:6.2f}s (load {before}->{load()})"
    return sql_verdicts(suite, result.results), line


def compare(pandas: Verdicts, sql: Verdicts, expected: dict[str, int]) -> bool:
    """Print one line per expectation; True when both paths agree with each other and
    with the expected unexpected counts and nothing raised."""
    ok = True
    for label, want in expected.items():
        p, s = pandas[label], sql[label]
        good = p == s and p[1] == want and not p[2] and p[0] == (want == 0)
        ok &= good
        print(
            f"    {label:55s} want={want} pandas={p[1]} sql={s[1]} "
            f"success={p[0]}/{s[0]} {'ok' if good else 'MISMATCH'}"
        )
    return ok


def main() -> int:
    """Build, time both paths on clean then faulty orders; non-zero exit on any mismatch."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per path and state")
    args = parser.parse_args()
    suite = next(s for s in load_gate("clean_orders").suites if s.name == "clean.orders")
    ok = True
    with tempfile.TemporaryDirectory(prefix="quality-sql-shim-") as tmp:
        root = Path(tmp)
        warehouse = Warehouse(path=str(root / "warehouse.duckdb"))
        db_path = warehouse.resolved_path()
        settings = RefreshSettings(as_of=AS_OF, state_dir=str(root / "state"))
        seconds = build(db_path, args.orders, args.customers)
        print(f"build: {seconds:.1f}s ({args.orders:,} orders) cores={os.cpu_count()}")
        runner = QualityRunner(settings.state_path(), "bench", build_docs=False)
        params = gate_parameters(settings, "bench")
        clean = dict.fromkeys(EXPECTED_FAULTY, 0)
        for state, expected in (("clean", clean), ("faulty", EXPECTED_FAULTY)):
            if state == "faulty":
                with warehouse.connect() as con:
                    con.execute(FAULTS)
            print(f"{suite.name} ({state}):")
            for _ in range(args.repeat):
                pandas, pandas_line = run_pandas(runner, warehouse, suite, params)
                sql, sql_line = run_sql(db_path, suite, params)
                print("  " + pandas_line)
                print("  " + sql_line)
            ok &= compare(pandas, sql, expected)
    print("results agree" if ok else "RESULTS DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
