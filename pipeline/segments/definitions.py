"""Segments domain: the dbt project (RFM, segments, cohorts, KPIs, history)."""

import dagster as dg

from pipeline.segments.assets import (
    segment_dbt_assets,
    segment_history_dbt_assets,
    segment_monitoring_dbt_assets,
)
from pipeline.segments.project import dbt_resource

defs = dg.Definitions(
    assets=[segment_dbt_assets, segment_history_dbt_assets, segment_monitoring_dbt_assets],
    resources={"dbt": dbt_resource()},
)
