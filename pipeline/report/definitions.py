"""Report domain: the static HTML insight report of each published refresh."""

import dagster as dg

from pipeline.report.assets import insight_report

defs = dg.Definitions(assets=[insight_report])
