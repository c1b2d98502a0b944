"""The KPI monitoring job on a real refresh: like with like, and a real NPS fall detected."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import DEMO_AS_OF
from refresh_workspace import scored_source_ids

from pipeline.automation.monitor import evaluate_monitor, read_latest_monitor
from pipeline.automation.requests import monitor_ops
from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.lib.settings import KpiDropSection, load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TODAY = DEMO_AS_OF + dt.timedelta(days=61)
NEW_ANSWERS = 60


def _unhappy_answers(warehouse: Path, path: Path) -> None:
    """NEW_ANSWERS detractors (score 0-3) from published non-Champions, after the as-of date."""
    customers = scored_source_ids(warehouse, NEW_ANSWERS, as_of=DEMO_AS_OF, but_segment="Champions")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["response_id", "customer_id", "responded_at", "score"])
        for i, customer in enumerate(customers):
            day = DEMO_AS_OF + dt.timedelta(days=1 + i % 60)
            writer.writerow([f"NEW{i:04d}", customer, day.isoformat(), i % 4])


def test_monitoring_compares_like_with_like_and_sees_new_answers_fall(refreshed, tmp_path):
    # Same file name: the dbt views of the copy name the warehouse's catalog (its file stem).
    warehouse = tmp_path / "warehouse.duckdb"
    state, landing = tmp_path / "state", tmp_path / "landing"
    shutil.copy(refreshed["warehouse"], warehouse)
    shutil.copytree(refreshed["state"], state)
    shutil.copytree(refreshed["landing"], landing)
    _unhappy_answers(warehouse, landing / "nps_responses_2026_11.csv")

    from pipeline.definitions import defs

    settings = load_settings(
        env={},
        sets=[
            f"paths.landing_dir={landing}",
            f"paths.state_dir={state}",
            f"warehouse.path={warehouse}",
        ],
    ).settings
    run_config = settings.run_config(as_of=TODAY.isoformat())
    del run_config["resources"]["serving"]
    run_config["ops"] = monitor_ops(DEMO_AS_OF.isoformat(), ["nps_responses_2026_11.csv"])
    result = defs.resolve_job_def("monitor_kpis").execute_in_process(
        run_config=run_config, raise_on_error=False
    )
    assert result.success
    # Nothing published: the serving file still holds the refresh as of DEMO_AS_OF.
    serving = state / "serving" / "segments.duckdb"
    with duckdb.connect(str(serving), read_only=True) as con:
        assert con.execute("select as_of from refresh_info").fetchone() == (DEMO_AS_OF,)

    rows = read_latest_monitor(Warehouse(path=str(warehouse)))
    assert {r.monitor_id for r in rows} == {result.run_id}
    by = {(r.basis, r.segment): r for r in rows}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        published = {
            segment: (nps, churn)
            for segment, nps, churn in con.execute(
                "select segment, nps, churn_rate from history.kpi_history where as_of = ?",
                [DEMO_AS_OF],
            ).fetchall()
        }
    # Like with like: at the published date, today's data gives the published KPIs exactly.
    for (basis, segment), row in by.items():
        if basis != "published":
            continue
        nps, churn = published[segment]
        assert row.churn_rate == pytest.approx(churn), segment
        assert row.published_churn_rate == pytest.approx(churn), segment
        assert (row.nps is None and nps is None) or row.nps == pytest.approx(nps), segment
    assert {s for b, s in by if b == "published"} >= {"All", "Champions"}

    overall_today = by[("today", "All")]
    overall_published = by[("published", "All")]
    # Two months later more customers have lapsed: churn moved with the date alone...
    assert overall_today.churn_rate > overall_published.churn_rate
    since = by[("since_published", "All")]
    assert since.nps_responses == NEW_ANSWERS and since.nps == pytest.approx(-100.0)

    # ... which is not a drop; the new answers are.
    moves = evaluate_monitor(rows, KpiDropSection())
    assert [(m.segment, m.metric) for m in moves] == [("All", "nps")]
    assert moves[0].before == pytest.approx(published["All"][0])
    assert moves[0].after == pytest.approx(-100.0)

    # Today's settings resource reads the same table through the sensor's query.
    assert RefreshSettings(**run_config["resources"]["settings"]["config"]).as_of_date() == TODAY
