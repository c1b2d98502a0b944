"""A run that skipped steps without failing one is reported as incomplete, not as a success.

Dagster skips a step whose input an earlier step did not produce and still ends the run with
RUN_SUCCESS. Real (small) Dagster jobs shaped like the refresh's end: a dbt-like multi-asset
with optional outputs, publication and the report downstream of one of them.
"""

from __future__ import annotations

import time

import dagster as dg
import pytest

from pipeline import cli
from pipeline.lib.failures import incomplete_run, skipped_steps
from pipeline.serving.wiring import PUBLISHED_REFRESH_KEY

RFM = dg.AssetKey(["marts", "customer_rfm"])
KPIS = dg.AssetKey(["marts", "segment_kpis"])


def _job(produced: set[dg.AssetKey]) -> dg.JobDefinition:
    """marts (two optional outputs, only `produced` yielded) -> publication -> report."""

    @dg.multi_asset(specs=[dg.AssetSpec(RFM, skippable=True), dg.AssetSpec(KPIS, skippable=True)])
    def marts():
        """Yields only the assets in `produced`, as dagster-dbt does for the models it saw."""
        for key in (RFM, KPIS):
            if key in produced:
                yield dg.MaterializeResult(asset_key=key)

    @dg.asset(key=PUBLISHED_REFRESH_KEY, deps=[RFM])
    def published_refresh() -> dg.MaterializeResult:
        """Stands for the publication."""
        return dg.MaterializeResult()

    @dg.asset(key=["report", "insight_report"], deps=[PUBLISHED_REFRESH_KEY])
    def insight_report() -> dg.MaterializeResult:
        """Stands for the report."""
        return dg.MaterializeResult()

    defs = dg.Definitions(
        assets=[marts, published_refresh, insight_report],
        jobs=[dg.define_asset_job("refresh_segments")],
    )
    return defs.resolve_job_def("refresh_segments")


def test_a_missing_output_names_the_step_that_left_it_out_and_every_skipped_step():
    result = _job({KPIS}).execute_in_process()
    assert result.success  # what Dagster says, and why this check exists
    assert skipped_steps(result.all_events) == [
        "serving__published_refresh",
        "report__insight_report",
    ]
    failures = incomplete_run(result.all_events, result.job_def.asset_layer)
    assert [(f.step, f.cause) for f in failures] == [
        ("step marts", "succeeded without producing marts/customer_rfm"),
        (
            "2 skipped step(s)",
            "serving__published_refresh, report__insight_report: an output they read was not "
            "produced",
        ),
    ]


def test_a_complete_run_is_not_incomplete():
    result = _job({RFM, KPIS}).execute_in_process()
    assert result.success and incomplete_run(result.all_events, result.job_def.asset_layer) == []


def test_the_refresh_command_exits_1_and_says_publication_did_not_run(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setattr(cli, "execute_refresh", lambda **_kwargs: _job({KPIS}).execute_in_process())
    with pytest.raises(SystemExit) as exited:
        cli._run_refresh({}, tmp_path / "w.duckdb", tmp_path, False, False, time.perf_counter(), 0)
    assert exited.value.code == cli.EXIT_STEP_FAILED
    err = capsys.readouterr().err.strip().splitlines()
    headline = next(line for line in err if line.startswith("refresh INCOMPLETE"))
    assert headline.endswith("the published tables, exports, report and history are unchanged.")
    # The last lines: the step that left the asset out, then what did not run.
    assert err[-4:] == [
        "  step:  step marts",
        "  cause: succeeded without producing marts/customer_rfm",
        "  step:  2 skipped step(s)",
        "  cause: serving__published_refresh, report__insight_report: an output they read was "
        "not produced",
    ]
