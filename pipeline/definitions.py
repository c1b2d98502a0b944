"""The Dagster code location: merges the per-domain definitions, nothing else."""

import dagster as dg

from pipeline.automation.definitions import defs as automation_defs
from pipeline.identity.definitions import defs as identity_defs
from pipeline.ingest.definitions import defs as ingest_defs
from pipeline.lib.definitions import defs as shared_defs
from pipeline.quality.definitions import defs as quality_defs
from pipeline.report.definitions import defs as report_defs
from pipeline.segments.definitions import defs as segments_defs
from pipeline.serving.definitions import defs as serving_defs

defs = dg.Definitions.merge(
    shared_defs,
    ingest_defs,
    identity_defs,
    segments_defs,
    quality_defs,
    serving_defs,
    report_defs,
    automation_defs,
)
