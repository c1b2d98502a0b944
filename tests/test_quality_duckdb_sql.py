"""The DuckDB persisted-connection shim (`pipeline.quality.duckdb_sql`) on a small orders table.

GX's plain SQL datasource loses its metrics on DuckDB (GX issues #10738, #11579: "list index out
of range"), which is why the shim exists. These tests check the project's behaviour, not that bug:
the shim must validate the same table and give the same verdicts and unexpected counts as the
production pandas path (`QualityRunner.fetch` + `validate_frame`) on the real `clean.orders` suite
with known bad rows, and never record a raised exception.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import pytest

from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.quality.checks import gate_parameters
from pipeline.quality.duckdb_sql import validate_query_sql, validate_table_sql
from pipeline.quality.runner import SAMPLE_SIZE, QualityRunner
from pipeline.quality.suites import SuiteSpec, load_gate

AS_OF = "2026-10-01"

#: 30 good orders, then one bad row per rule (ids O90..O99); O91 duplicates O90.
ORDERS = """
CREATE SCHEMA clean;
CREATE TABLE clean.orders AS
SELECT 'O' || i AS order_id, 'C' || (i % 7) AS customer_id,
       DATE '2024-01-01' + CAST(i AS INTEGER) AS order_date,
       CAST(10 + i AS DECIMAL(18, 2)) AS amount,
       CAST(0 AS DECIMAL(18, 2)) AS discount_amount, 'completed' AS status
FROM range(30) t(i);
INSERT INTO clean.orders VALUES
    ('O90', 'C1', DATE '2024-05-01', 5, 0, 'completed'),
    ('O90', 'C2', DATE '2024-05-02', 5, 0, 'completed'),
    ('O92', NULL, DATE '2024-05-03', 5, 0, 'completed'),
    ('O93', 'C3', DATE '1899-12-31', 5, 0, 'completed'),  -- before the 1900 date floor
    ('O94', 'C3', DATE '2026-10-02', 5, 0, 'returned'),
    ('O95', 'C3', DATE '2026-10-01', 5, 0, 'cancelled'),
    ('O96', 'C4', DATE '2024-05-04', -1, 0, 'completed'),
    ('O97', 'C4', DATE '2024-05-05', NULL, -0.01, 'completed'),
    ('O98', 'C5', DATE '2024-05-06', 5, 0, 'lost'),
    ('O99', 'C5', DATE '2024-05-07', 5, 0, NULL);
"""

#: Unexpected rows each expectation of the clean.orders suite must report on ORDERS.
EXPECTED = {
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


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """A DuckDB file holding the small clean.orders table with known bad rows."""
    path = tmp_path_factory.mktemp("shim") / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(ORDERS)
    return Warehouse(path=str(path))


@pytest.fixture(scope="module")
def suite() -> SuiteSpec:
    """The production clean.orders suite of expectations/clean_orders.yml."""
    return next(s for s in load_gate("clean_orders").suites if s.name == "clean.orders")


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The gate parameters (min_date, as_of_end, ...) of a refresh as of AS_OF."""
    state = tmp_path_factory.mktemp("state")
    return gate_parameters(RefreshSettings(as_of=AS_OF, state_dir=str(state)), "test")


def _raised(result: Any) -> str | None:
    """The first exception message GX recorded on an expectation result, if any."""
    info = result.exception_info or {}
    infos = [info] if "raised_exception" in info else list(info.values())
    for item in infos:
        if isinstance(item, dict) and item.get("raised_exception"):
            return str(item.get("exception_message"))
    return None


def _sql_counts(suite: SuiteSpec, results: list[Any]) -> dict[str, tuple[bool, int | None]]:
    assert [_raised(r) for r in results] == [None] * len(results)
    return {
        spec.label: (bool(r.success), r.result.get("unexpected_count"))
        for spec, r in zip(suite.expectations, results, strict=True)
    }


def test_shim_matches_pandas_path(
    warehouse: Warehouse, suite: SuiteSpec, params: dict[str, Any], tmp_path: Path
) -> None:
    """Same verdicts and unexpected counts as the production pandas path, equal to EXPECTED."""
    runner = QualityRunner(tmp_path / "state", "test", build_docs=False)
    with warehouse.connect(read_only=True) as con:
        frame = runner.fetch(suite, con, params)
    pandas = {
        e.label: (e.success, e.unexpected_count)
        for e in runner.validate_frame(suite, frame, params).expectations
    }
    result = validate_query_sql(
        warehouse.resolved_path(),
        suite.query,
        [e.to_gx() for e in suite.expectations],
        parameters=params,
        result_format={
            "result_format": "SUMMARY",
            "partial_unexpected_count": SAMPLE_SIZE,
            "unexpected_index_column_names": list(suite.key),
        },
        name=suite.name,
    )
    sql = _sql_counts(suite, result.results)
    assert sql == pandas
    assert {label: count for label, (_, count) in sql.items()} == EXPECTED
    assert not result.success
    # Sample keys come back too: the duplicated order id is named.
    unique = result.results[1].result["partial_unexpected_index_list"]
    assert {row["order_id"] for row in unique} == {"O90"}


def test_table_helper_and_file_released(warehouse: Warehouse) -> None:
    """`validate_table_sql` reads `schema.table`; afterwards the file opens read-write again."""
    result = validate_table_sql(
        warehouse.resolved_path(),
        "clean.orders",
        [gx.expectations.ExpectColumnValuesToNotBeNull(column="customer_id")],
    )
    (only,) = result.results
    assert _raised(only) is None
    assert only.result["unexpected_count"] == 1
    assert only.result["element_count"] == 40
    # The persisted connection (and its read transaction) is closed on return: a writer in the
    # same process would otherwise be refused ("different configuration").
    with duckdb.connect(str(warehouse.resolved_path())) as con:
        assert con.execute("SELECT count(*) FROM clean.orders").fetchone() == (40,)
