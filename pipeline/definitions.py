"""The Dagster code location: merges the per-domain definitions, nothing else.

Domains are imported as modules: Dagster allows a single `Definitions` object at module scope.
"""

import dagster as dg

from pipeline.automation import definitions as automation
from pipeline.identity import definitions as identity
from pipeline.ingest import definitions as ingest
from pipeline.lib import definitions as shared
from pipeline.predictions import definitions as predictions
from pipeline.quality import definitions as quality
from pipeline.report import definitions as report
from pipeline.segments import definitions as segments
from pipeline.serving import definitions as serving

defs = dg.Definitions.merge(
    shared.defs,
    ingest.defs,
    identity.defs,
    segments.defs,
    predictions.defs,
    quality.defs,
    serving.defs,
    report.defs,
    automation.defs,
)
