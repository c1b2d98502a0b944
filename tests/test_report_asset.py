"""The Dagster asset: writes the report of the published refresh, refuses unpublished ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from conftest import DEMO_AS_OF as AS_OF
from report_helpers import copy_warehouse

from pipeline.lib.resources import RefreshSettings, Warehouse

pytestmark = [pytest.mark.integration]


def _publish(state: Path, as_of: dt.date) -> None:
    """A stand-in serving file saying which refresh is published (docs/contracts.md)."""
    serving = state / "serving"
    serving.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(serving / "segments.duckdb")) as con:
        con.execute(
            "create table refresh_info (refresh_id varchar, as_of date, "
            "published_at timestamp, run_id varchar)"
        )
        con.execute(
            "insert into refresh_info values (?, ?, now(), 'run-1')", [as_of.isoformat(), as_of]
        )


def _materialize(tmp_path: Path) -> dg.ExecuteInProcessResult:
    from pipeline.report.assets import insight_report

    return dg.materialize(
        [insight_report],
        resources={
            "warehouse": Warehouse(path=str(tmp_path / "wh.duckdb")),
            "settings": RefreshSettings(state_dir=str(tmp_path / "state"), as_of=str(AS_OF)),
        },
        raise_on_error=False,
    )


@pytest.fixture
def warehouse(refreshed: dict, tmp_path: Path) -> Path:
    """The demo refresh's warehouse, copied to tmp_path/wh.duckdb."""
    return copy_warehouse(refreshed, tmp_path / "wh.duckdb")


def test_asset_writes_report_with_path_metadata(tmp_path: Path, warehouse: Path) -> None:
    """The report and latest.html land in <state>/reports; metadata links to them."""
    _publish(tmp_path / "state", AS_OF)
    result = _materialize(tmp_path)
    assert result.success
    (mat,) = [
        m
        for m in result.get_asset_materialization_events()
        if m.asset_key == dg.AssetKey(["report", "insight_report"])
    ]
    meta = mat.materialization.metadata
    report = tmp_path / "state" / "reports" / f"insight_report_{AS_OF.isoformat()}.html"
    assert meta["path"].value == str(report) and report.exists()
    assert (tmp_path / "state" / "reports" / "latest.html").exists()
    assert meta["as_of"].value == AS_OF.isoformat()
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        scored = con.execute("select count(*) from marts.customer_rfm").fetchone()[0]
    assert meta["customers"].value == scored
    assert meta["language"].value == "fr"
    assert "| segment | customers | share | revenue |" in meta["segment_distribution"].value


def test_asset_depends_on_marts_history_and_publication() -> None:
    """Lineage: the dbt models it reads (keys from the manifest) and the publication."""
    from pipeline.report.assets import REPORT_MODELS, insight_report
    from pipeline.segments.assets import model_key

    deps = set(insight_report.asset_deps[dg.AssetKey(["report", "insight_report"])])
    assert dg.AssetKey(["serving", "published_refresh"]) in deps
    assert {model_key(m) for m in REPORT_MODELS} <= deps


def test_asset_refuses_an_unpublished_refresh(tmp_path: Path, warehouse: Path) -> None:
    """The warehouse holds a newer as-of than the published file: no report is written."""
    _publish(tmp_path / "state", AS_OF - dt.timedelta(days=30))
    result = _materialize(tmp_path)
    assert not result.success
    assert not (tmp_path / "state" / "reports").exists()
