"""Cleaning speed on synthetic orders (`pytest -m bench tests/test_ingest_bench.py`).

Not run by default (the `bench` marker is deselected in pyproject). Set INGEST_BENCH_ROWS to
change the size (default 1,000,000 orders, with 1 % of them faulty).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pytest
from test_ingest_support import AS_OF, DATE_FLOOR, LOG, assert_invariant

from pipeline.ingest import clean_entities, extract_landing, load_mapping


@pytest.mark.bench
def test_bench_extract_and_clean_orders(tmp_path: Path) -> None:
    rows = int(os.environ.get("INGEST_BENCH_ROWS", "1000000"))
    landing = tmp_path / "landing"
    landing.mkdir()
    gen = duckdb.connect()
    # French-style export: ';' delimiter, decimal comma, day-first dates; every 100th row bad.
    gen.execute(
        f"""COPY (
            SELECT 'O' || i AS order_id, 'C' || (i % 200000) AS customer_id,
                   CASE WHEN i % 100 = 0 THEN '31/02/2024'
                        ELSE strftime(DATE '2022-01-01' + CAST(i % 1000 AS INT), '%d/%m/%Y')
                   END AS order_date,
                   replace(CAST(round((i % 50000) / 100.0 + 1, 2) AS VARCHAR), '.', ',') AS amount,
                   CASE i % 7 WHEN 0 THEN 'returned' WHEN 1 THEN 'cancelled' ELSE 'completed'
                   END AS status, 'web' AS channel
            FROM range({rows}) t(i)
        ) TO '{landing / "orders_bench.csv"}' (HEADER, DELIMITER ';')"""
    )
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    t0 = time.perf_counter()
    extract_landing(con, landing, load_mapping(None), LOG)
    t1 = time.perf_counter()
    report = clean_entities(con, AS_OF, "EUR", LOG, date_floor=DATE_FLOOR)
    t2 = time.perf_counter()
    LOG.warning("bench %d orders: extract %.1fs, clean %.1fs", rows, t1 - t0, t2 - t1)
    assert report.entities["orders"].rows_read == rows
    assert report.entities["orders"].rejected == rows // 100 + (1 if rows % 100 else 0)
    # Customers whose every order is faulty are not derived: 2,000 of 200,000 at 1M rows.
    assert report.derived_customers == len({i % 200000 for i in range(rows) if i % 100})
    assert_invariant(con)
