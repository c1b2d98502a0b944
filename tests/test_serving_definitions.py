"""Dagster wiring of the publication asset: key, pool, dbt deps from the manifest, a real run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from serving_helpers import make_warehouse, serving_options

from pipeline.lib.resources import WAREHOUSE_POOL, RefreshSettings, Warehouse
from pipeline.serving.wiring import (
    PUBLISHED_REFRESH_KEY,
    build_published_refresh,
    served_dbt_keys,
)


@dg.multi_asset(
    specs=[
        dg.AssetSpec("customer_rfm", group_name="marts"),
        dg.AssetSpec("segment_map", group_name="marts"),
        dg.AssetSpec("kpi_history", group_name="history"),
        dg.AssetSpec("stg_orders", group_name="staging"),
        dg.AssetSpec("int_orders", group_name="intermediate"),
    ]
)
def fake_dbt_assets():
    """Stands for the dbt assets: only the groups given by the translator matter here."""


def test_served_keys_are_the_marts_and_history_groups() -> None:
    keys = served_dbt_keys(fake_dbt_assets)
    assert keys == [dg.AssetKey(k) for k in ("customer_rfm", "kpi_history", "segment_map")]
    asset = build_published_refresh(keys)
    assert asset.key == PUBLISHED_REFRESH_KEY
    assert set(asset.asset_deps[PUBLISHED_REFRESH_KEY]) == set(keys)
    assert asset.op.pool == WAREHOUSE_POOL
    assert asset.required_resource_keys >= {"warehouse", "settings", "serving"}


@pytest.mark.integration
def test_asset_materializes_a_publication(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGMENTS_PG_DSN", raising=False)
    make_warehouse(tmp_path / "warehouse.duckdb", dt.date(2026, 10, 1), customers=20)
    asset = build_published_refresh(served_dbt_keys(fake_dbt_assets))
    result = dg.materialize(
        [asset],
        resources={
            "warehouse": Warehouse(path=str(tmp_path / "warehouse.duckdb")),
            "settings": RefreshSettings(state_dir=str(tmp_path / "state"), as_of="2026-10-01"),
            "serving": serving_options(),
        },
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["refresh_id"].value == "2026-10-01"
    assert metadata["row_counts"].value["customer_rfm"] == 20
    assert metadata["postgres_schema"].value == "disabled"
    served = tmp_path / "state" / "serving" / "segments.duckdb"
    con = duckdb.connect(str(served), read_only=True)
    try:
        assert con.execute("SELECT run_id FROM refresh_info").fetchone()[0] == result.run_id
    finally:
        con.close()


def test_definitions_depend_on_dbt_marts_from_the_manifest() -> None:
    from pipeline.lib.definitions import defs as lib_defs
    from pipeline.predictions.assets import PUBLISHED_KEYS
    from pipeline.segments.assets import DBT_ASSETS, model_key
    from pipeline.segments.definitions import defs as segments_defs
    from pipeline.serving.definitions import defs

    # As pipeline/definitions.py does: the shared resources come from the lib definitions.
    merged = dg.Definitions.merge(lib_defs, segments_defs, defs)
    asset = merged.resolve_assets_def(PUBLISHED_REFRESH_KEY)
    deps = set(asset.asset_deps[PUBLISHED_REFRESH_KEY])
    # The dbt marts and history from the manifest, plus the Python-built prediction marts.
    assert deps == set(served_dbt_keys(*DBT_ASSETS)) | set(PUBLISHED_KEYS)
    assert model_key("customer_rfm") in deps
    assert model_key("segment_history") in deps
    assert not [key for key in deps if "stg_" in key.to_user_string()]
