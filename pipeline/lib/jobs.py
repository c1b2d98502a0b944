"""The refresh job every trigger (CLI, schedule, sensors, backfill) runs."""

import dagster as dg

REFRESH_JOB_NAME = "refresh_segments"

#: Runs in one process: every asset writes the same DuckDB file, which allows a single writer.
refresh_segments_job = dg.define_asset_job(
    REFRESH_JOB_NAME,
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    description="Ingest the landing exports, resolve identities, compute RFM segments, cohorts "
    "and KPIs, gate them with Great Expectations and publish them for BI tools.",
    tags={"segments/kind": "refresh"},
)
