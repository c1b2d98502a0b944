"""Segments domain: the dbt project (RFM, segments, cohorts, KPIs, history)."""

import dagster as dg
from dagster_dbt import DbtCliResource

from pipeline.segments.assets import (
    segment_dbt_assets,
    segment_history_dbt_assets,
    segment_monitoring_dbt_assets,
)
from pipeline.segments.project import dbt_executable, dbt_project

defs = dg.Definitions(
    assets=[segment_dbt_assets, segment_history_dbt_assets, segment_monitoring_dbt_assets],
    resources={"dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())},
)
