"""Serving domain: publication of the BI-facing tables (file, exports, PostgreSQL)."""

import dagster as dg

from pipeline.lib.resources import deployment_settings
from pipeline.serving.assets import published_refresh
from pipeline.serving.options import ServingOptions

#: The `serving:` section of the settings file. Secrets stay out of it: an empty `pii_key` /
#: `pg_dsn` reads SEGMENTS_PII_KEY / SEGMENTS_PG_DSN at run time.
defs = dg.Definitions(
    assets=[published_refresh],
    resources={"serving": ServingOptions(**deployment_settings().settings.serving.model_dump())},
)
