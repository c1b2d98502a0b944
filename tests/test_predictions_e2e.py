"""The refresh job on the demo exports publishes predictions and clusters; assets re-run stably."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from conftest import DEMO_AS_OF

from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.predictions.assets import cluster_assets

pytestmark = [pytest.mark.integration]

TABLES = (
    "customer_predictions",
    "segment_predictions",
    "prediction_evaluation",
    "customer_clusters",
    "cluster_profiles",
    "cluster_drift",
)


def test_the_refresh_job_publishes_predictions_and_clusters_for_every_scored_customer(refreshed):
    with duckdb.connect(str(refreshed["warehouse"]), read_only=True) as con:
        scored = con.execute("select count(*) from marts.customer_rfm").fetchone()[0]
        predicted, bad = con.execute(
            "select count(*), count(*) filter (where p_alive is null or isnan(p_alive) "
            "or expected_orders < 0 or churn_probability not between 0 and 1 "
            "or predicted_clv is null) from marts.customer_predictions"
        ).fetchone()
        clustered = con.execute("select count(*) from marts.customer_clusters").fetchone()[0]
        selected = con.execute(
            "select model from marts.prediction_evaluation where role = 'selected' "
            "and decile is null"
        ).fetchall()
        all_row = con.execute(
            "select customers, expected_revenue from marts.segment_predictions "
            "where segment = 'All'"
        ).fetchone()
        clv = con.execute("select sum(predicted_clv) from marts.customer_predictions").fetchone()
    assert predicted == clustered == scored > 1000
    assert bad == 0
    assert len(selected) == 1
    assert all_row[0] == scored and all_row[1] == pytest.approx(clv[0])
    serving = Path(refreshed["state"]) / "serving" / "segments.duckdb"
    with duckdb.connect(str(serving), read_only=True) as con:
        counts = dict(con.execute("select table_name, row_count from refresh_tables").fetchall())
        columns = {
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_name = 'customer_predictions'"
            ).fetchall()
        }
        comment = con.execute(
            "select comment from duckdb_tables() where table_name = 'customer_predictions'"
        ).fetchone()[0]
    assert {t: counts.get(t, 0) > 0 for t in TABLES} == dict.fromkeys(TABLES, True)
    assert counts["customer_predictions"] == scored
    assert "customer_key" in columns and "customer_id" not in columns
    assert "P(alive)" in (comment or "")


def test_cluster_labels_stay_identical_when_the_same_refresh_runs_again(refreshed):
    def labels() -> dict[str, int]:
        with duckdb.connect(str(refreshed["warehouse"]), read_only=True) as con:
            return dict(
                con.execute(
                    "select customer_id, cluster_id from marts.customer_clusters"
                ).fetchall()
            )

    before = labels()
    result = dg.materialize(
        [cluster_assets],
        resources={
            "warehouse": Warehouse(path=str(refreshed["warehouse"])),
            "settings": RefreshSettings(as_of=DEMO_AS_OF.isoformat()),
        },
    )
    assert result.success
    assert labels() == before
    with duckdb.connect(str(refreshed["warehouse"]), read_only=True) as con:
        rows = con.execute(
            "select count(*), any_value(previous_as_of) from marts.cluster_drift where as_of = ?",
            [DEMO_AS_OF],
        ).fetchone()
    assert rows == (1, None)  # a re-run replaces its own row; nothing earlier to compare with
