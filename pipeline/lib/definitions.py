"""Shared definitions: the refresh job and the resources every domain uses.

The resources are built from the settings file (`config/segments.yaml`, or `$SEGMENTS_CONFIG`)
when the code location loads; runs started by the CLI carry their own complete run config.
"""

import dagster as dg

from pipeline.lib.jobs import refresh_segments_job
from pipeline.lib.resources import RefreshSettings, Warehouse, deployment_settings

_settings = deployment_settings().settings

defs = dg.Definitions(
    jobs=[refresh_segments_job],
    resources={
        "warehouse": Warehouse(**_settings.warehouse.model_dump()),
        "settings": RefreshSettings.from_settings(_settings),
    },
)
