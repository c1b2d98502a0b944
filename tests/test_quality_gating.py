"""Gating mechanics in Dagster, independent of dbt: upstream asset -> asset with a blocking quality
check -> downstream asset. A failed ERROR check stops the downstream asset; a WARN does not."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.quality.checks import build_gate_check, published_serving_file

pytestmark = [pytest.mark.integration]

ORDERS_KEY = dg.AssetKey(["clean", "orders"])
KPIS_KEY = dg.AssetKey(["segment_kpis"])


def _resources(tmp_path: Path) -> dict[str, object]:
    return {
        "warehouse": Warehouse(path=str(tmp_path / "warehouse.duckdb")),
        "settings": RefreshSettings(as_of="2026-10-01", state_dir=str(tmp_path / "state")),
    }


def _orders_job(duplicate: bool) -> list[object]:
    """Fake clean-orders asset (optionally with a duplicate key), its gate, and a consumer."""

    @dg.asset(key=ORDERS_KEY)
    def clean_orders(warehouse: Warehouse) -> None:
        """Writes a tiny clean.orders and its load log."""
        with warehouse.connect() as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS clean")
            con.execute(
                "CREATE OR REPLACE TABLE clean.orders AS SELECT * FROM (VALUES "
                "('O1', 'C1', DATE '2026-01-02', 10.0, 0.0, 'completed'), "
                "('O2', 'C2', DATE '2026-02-03', 20.0, 0.0, 'completed')) "
                "t(order_id, customer_id, order_date, amount, discount_amount, status)"
            )
            if duplicate:
                con.execute("INSERT INTO clean.orders SELECT * FROM clean.orders LIMIT 1")
            con.execute(
                "CREATE OR REPLACE TABLE clean.load_log AS SELECT 'orders' AS entity, "
                "'orders.csv' AS source_file, 2 AS rows_read, 0 AS rows_deferred, "
                "0 AS rows_rejected"
            )

    @dg.asset(deps=[ORDERS_KEY])
    def order_consumer() -> str:
        """Stands for everything downstream of clean orders (identity, dbt, publication)."""
        return "ran"

    return [clean_orders, order_consumer, build_gate_check("clean_orders", ORDERS_KEY)]


def test_failed_blocking_check_stops_downstream(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        _orders_job(duplicate=True),
        resources=_resources(tmp_path),
        raise_on_error=False,
        instance=instance,
    )
    assert not result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    failed = evaluation.metadata["failed_expectations"].value
    assert failed == ["clean.orders: expect_column_values_to_be_unique(order_id)"]
    assert evaluation.metadata["sample_keys"].value == {failed[0]: ["O1"]}
    materialized = {m.asset_key for m in result.get_asset_materialization_events()}
    assert materialized == {ORDERS_KEY}, "the consumer must not run after a failed gate"
    consumer_events = {
        e.event_type_value for e in result.all_events if e.step_key == "order_consumer"
    }
    assert "STEP_START" not in consumer_events, "the consumer step never started"
    # The run log says which expectation failed and why.
    errors = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.level >= 40 and failed[0] in entry.user_message
    ]
    assert errors and "unexpected rows: 2" in errors[0] and "sample keys: O1" in errors[0]
    results = Path(evaluation.metadata["results_dir"].value)
    assert (results / "clean.orders.json").exists()


def test_passing_check_lets_downstream_run(tmp_path):
    result = dg.materialize(_orders_job(duplicate=False), resources=_resources(tmp_path))
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed
    assert result.output_for_node("order_consumer") == "ran"
    docs = Path(evaluation.metadata["data_docs"].value)
    assert docs == tmp_path / "state" / "quality" / "data_docs" / "index.html"
    assert docs.exists()


@pytest.mark.parametrize(("shift", "blocked"), [(0.10, False), (0.40, True)])
def test_drift_warns_or_blocks(tmp_path, shift, blocked):
    resources = _resources(tmp_path)

    @dg.asset(key=KPIS_KEY)
    def segment_kpis(warehouse: Warehouse) -> None:
        """Writes scored customers and their segment shares (60% / 40%)."""
        with warehouse.connect() as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS marts")
            con.execute(
                "CREATE OR REPLACE TABLE marts.customer_rfm AS "
                "SELECT 'M' || i AS customer_id FROM range(10) t(i)"
            )
            con.execute(
                "CREATE OR REPLACE TABLE marts.segment_kpis AS SELECT * FROM (VALUES "
                "('champions', 6, 0.6), ('lost', 4, 0.4), ('All', 10, 1.0)) "
                "t(segment, customers, share)"
            )

    @dg.asset(deps=[KPIS_KEY])
    def publication() -> str:
        """Stands for the publication step."""
        return "published"

    serving = published_serving_file(resources["settings"])  # type: ignore[arg-type]
    serving.parent.mkdir(parents=True)
    with duckdb.connect(str(serving)) as con:
        con.execute(
            "CREATE TABLE segment_kpis AS SELECT * FROM (VALUES "
            f"('champions', 0, {0.6 - shift}), ('lost', 0, {0.4 + shift}), ('All', 0, 1.0)) "
            "t(segment, customers, share)"
        )

    check = build_gate_check("segment_kpis", KPIS_KEY)
    result = dg.materialize(
        [segment_kpis, publication, check], resources=resources, raise_on_error=False
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    drift = "marts.segment_kpis.drift: expect_column_values_to_be_between(share_shift_points)"
    assert evaluation.metadata["warning_expectations"].value == [drift]
    assert evaluation.metadata["sample_keys"].value[drift] == ["champions", "lost"]
    if blocked:
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert evaluation.metadata["failed_expectations"].value == [drift]
        assert not result.success
        materialized = {m.asset_key for m in result.get_asset_materialization_events()}
        assert dg.AssetKey("publication") not in materialized
    else:
        assert evaluation.severity == dg.AssetCheckSeverity.WARN
        assert result.success
        assert result.output_for_node("publication") == "published"
