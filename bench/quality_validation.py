"""Time the quality gates (DuckDB query -> pandas -> GX 1.x) on synthetic data.

    .venv/bin/python bench/quality_validation.py --orders 5000000 --customers 1000000
    .venv/bin/python bench/quality_validation.py --orders 7000 --customers 1500   # demo scale

Builds a consistent warehouse in a temporary folder (clean orders/customers/refunds, identity
map, load log and RFM marts whose revenue reconciles), then runs the clean, identity and
customer_rfm gates exactly as the Dagster checks do, and prints per-suite timings split into
"fetch" (DuckDB query into pandas) and "validate" (GX), plus one Data Docs build. Every gate
must pass: a failing gate means the benchmark measured the wrong thing, so it exits non-zero.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.quality.checks import gate_parameters
from pipeline.quality.runner import QualityRunner
from pipeline.quality.suites import load_gate

AS_OF = "2026-10-01"
GATES = ("clean_orders", "clean_customers", "identity_resolution", "customer_rfm")

BUILD = """
CREATE SCHEMA clean; CREATE SCHEMA identity; CREATE SCHEMA marts;
CREATE TABLE clean.customers AS
SELECT 'C' || i AS customer_id, 'user' || i || '@example.com' AS email,
       TIMESTAMP '2020-01-01' + to_seconds(i % 150000000) AS created_at,
       TIMESTAMP '2024-01-01' AS updated_at,
       DATE '1970-01-01' + CAST(i % 15000 AS INTEGER) AS birth_date,
       'FR' AS country
FROM range($customers) t(i);
CREATE TABLE identity.customer_identity_map AS
SELECT customer_id AS source_customer_id, 'M' || (hash(customer_id) % $customers) AS customer_id
FROM clean.customers;
CREATE TABLE clean.orders AS
SELECT 'O' || i AS order_id, 'C' || (hash(i) % $customers) AS customer_id,
       CAST(DATE '2021-01-01' + CAST(hash(i * 3) % 2000 AS INTEGER) AS DATE) AS order_date,
       CAST((hash(i * 7) % 50000) / 100.0 AS DECIMAL(18, 2)) AS amount,
       CAST(0 AS DECIMAL(18, 2)) AS discount_amount,
       CASE WHEN i % 20 = 0 THEN 'cancelled' WHEN i % 25 = 0 THEN 'returned'
            ELSE 'completed' END AS status
FROM range($orders) t(i);
CREATE TABLE clean.refunds AS
SELECT 'R' || order_id AS refund_id, customer_id, order_id,
       CAST(order_date + 3 AS DATE) AS refunded_at, amount
FROM clean.orders WHERE status = 'returned' AND order_date + 3 <= DATE '2026-10-01';
CREATE TABLE clean.load_log AS
SELECT * FROM (VALUES ('orders', 'orders.csv', $orders, 0),
                      ('customers', 'customers.csv', $customers, 0))
    t(entity, source_file, rows_read, rows_rejected);
CREATE TABLE marts.customer_rfm AS
WITH o AS (
    SELECT m.customer_id, o.order_date, o.amount FROM clean.orders o
    JOIN identity.customer_identity_map m ON m.source_customer_id = o.customer_id
    WHERE o.status <> 'cancelled'
), r AS (
    SELECT m.customer_id, sum(r.amount) AS refunded FROM clean.refunds r
    JOIN identity.customer_identity_map m ON m.source_customer_id = r.customer_id
    GROUP BY 1
), base AS (
    SELECT o.customer_id, DATE '2026-10-01' - max(o.order_date) AS recency_days,
           count(*) AS frequency, sum(o.amount) - coalesce(any_value(r.refunded), 0) AS monetary
    FROM o LEFT JOIN r USING (customer_id) GROUP BY o.customer_id
)
SELECT *, ntile(5) OVER (ORDER BY recency_days DESC) AS r_score,
       ntile(5) OVER (ORDER BY frequency) AS f_score,
       ntile(5) OVER (ORDER BY monetary) AS m_score,
       'x' AS rfm_code, 'loyal' AS segment
FROM base;
"""


def build(path: Path, orders: int, customers: int) -> float:
    """Create the synthetic warehouse; returns the seconds it took."""
    started = time.perf_counter()
    with duckdb.connect(str(path)) as con:
        sql = BUILD.replace("$orders", str(orders)).replace("$customers", str(customers))
        con.execute(sql)
    return time.perf_counter() - started


def main() -> int:
    """Build, run the gates, print timings; non-zero exit when a gate does not pass."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quality-bench-") as tmp:
        root = Path(tmp)
        warehouse = Warehouse(path=str(root / "warehouse.duckdb"))
        settings = RefreshSettings(as_of=AS_OF, state_dir=str(root / "state"))
        print(
            f"build: {build(warehouse.resolved_path(), args.orders, args.customers):.1f}s "
            f"({args.orders:,} orders, {args.customers:,} customers)"
        )
        runner = QualityRunner(settings.state_path(), "bench", build_docs=False)
        params = gate_parameters(settings, "bench")
        ok = True
        total_fetch = total_validate = 0.0
        with warehouse.connect(read_only=True) as con:
            for gate_name in GATES:
                for suite in load_gate(gate_name).suites:
                    started = time.perf_counter()
                    frame = runner.fetch(suite, con, params)
                    fetched = time.perf_counter() - started
                    outcome = runner.validate_frame(suite, frame, params)
                    total_fetch += fetched
                    total_validate += outcome.seconds
                    ok &= outcome.success
                    status = "ok" if outcome.success else "FAILED"
                    print(
                        f"{suite.name:45s} rows={len(frame):>10,} fetch={fetched:6.2f}s "
                        f"validate={outcome.seconds:6.2f}s {status}"
                    )
                    for failure in (e for e in outcome.expectations if not e.success):
                        print("    " + failure.describe())
        started = time.perf_counter()
        runner.context.build_data_docs()
        docs = time.perf_counter() - started
        print(
            f"total: fetch={total_fetch:.2f}s validate={total_validate:.2f}s data_docs={docs:.2f}s"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
