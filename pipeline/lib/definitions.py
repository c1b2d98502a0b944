"""Shared definitions: the refresh job and the resources every domain uses."""

import dagster as dg

from pipeline.lib.jobs import refresh_segments_job
from pipeline.lib.resources import RefreshSettings, Warehouse

defs = dg.Definitions(
    jobs=[refresh_segments_job],
    resources={"warehouse": Warehouse(), "settings": RefreshSettings()},
)
