"""The refresh job every trigger (CLI, schedule, sensors) runs."""

import dagster as dg

REFRESH_JOB_NAME = "refresh_segments"
#: Assets of the KPI monitoring job only (pipeline/automation/monitor.py): never refreshed.
MONITORING_GROUP = "monitoring"

#: Runs in one process: every asset writes the same DuckDB file, which allows a single writer.
refresh_segments_job = dg.define_asset_job(
    REFRESH_JOB_NAME,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(MONITORING_GROUP),
    executor_def=dg.in_process_executor,
    description="Ingest the landing exports, resolve identities, compute RFM segments, cohorts "
    "and KPIs, gate them with Great Expectations, publish them for BI tools and record what the "
    "refresh read.",
    tags={"segments/kind": "refresh"},
)
