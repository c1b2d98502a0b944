"""The refresh job on the demo exports publishes predictions and clusters; assets re-run stably."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from conftest import DEMO_AS_OF

from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.predictions import clustering
from pipeline.predictions.assets import cluster_assets, cluster_inputs, sources
from pipeline.predictions.features import challenger_features, purchases_between, read_once

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


def test_cluster_inputs_give_each_customer_its_category_and_channel_shares(refreshed):
    """The mixes computed from the copies `cluster_inputs` reads once, against pandas on the
    dbt views of the window's kept lines and qualifying orders."""
    with duckdb.connect(str(refreshed["warehouse"]), read_only=True) as con:
        raw = cluster_inputs(con).set_index("customer_id")
        lines = con.execute(
            "select customer_id, category, cast(line_amount as double) as amount "
            "from intermediate.int_order_lines__scoring_window where category is not null"
        ).df()
        orders = con.execute(
            "select customer_id, channel from intermediate.int_orders__qualifying "
            "where is_in_scoring_window and channel is not null"
        ).df()
        temp = con.execute("select count(*) from duckdb_tables() where temporary").fetchone()[0]
    assert temp == 0  # the copies are dropped
    by_category = lines.pivot_table(
        "amount", "customer_id", "category", aggfunc="sum", fill_value=0
    )
    top = lines.groupby("category")["amount"].sum().sort_values(ascending=False)
    shares = by_category.div(by_category.sum(axis=1), axis=0)
    listed = [c.removeprefix("category_share__") for c in raw if c.startswith("category_share__")]
    assert listed[1:] == list(top.index[: len(listed) - 1]) and listed[0] == "other"
    assert 1 < len(listed) - 1 <= clustering.MAX_CATEGORIES
    buyers = shares.index.intersection(raw.index)
    assert len(buyers) > 1000
    for category in listed[1:]:
        expected = shares.loc[buyers, category].to_numpy()
        assert raw.loc[buyers, f"category_share__{category}"].to_numpy() == pytest.approx(expected)
    other = 1 - shares.loc[buyers, listed[1:]].sum(axis=1)
    assert raw.loc[buyers, "category_share__other"].to_numpy() == pytest.approx(other, abs=1e-9)
    channels = pd.crosstab(orders["customer_id"], orders["channel"], normalize="index")
    listed = [c.removeprefix("channel_share__") for c in raw if c.startswith("channel_share__")]
    assert listed == list(orders["channel"].value_counts().index[: clustering.MAX_CHANNELS])
    active = channels.index.intersection(raw.index)
    for channel in listed:
        expected = channels.loc[active, channel].to_numpy()
        assert raw.loc[active, f"channel_share__{channel}"].to_numpy() == pytest.approx(expected)


def test_features_read_from_the_copies_equal_those_read_from_the_views(refreshed):
    """`read_once` changes where the prediction features are read from, not what they are."""
    cutoff = DEMO_AS_OF - dt.timedelta(days=90)
    with duckdb.connect(str(refreshed["warehouse"]), read_only=True) as con:
        direct = challenger_features(con, sources(), cutoff)
        window = purchases_between(con, sources(), cutoff, DEMO_AS_OF)
        with read_once(con, sources()) as copies:
            assert copies.orders != sources().orders
            once = challenger_features(con, copies, cutoff)
            window_once = purchases_between(con, copies, cutoff, DEMO_AS_OF)
    assert len(direct) > 1000
    pd.testing.assert_frame_equal(once, direct, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(
        window_once.sort_values("customer_id", ignore_index=True),
        window.sort_values("customer_id", ignore_index=True),
    )
