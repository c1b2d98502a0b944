"""Serving domain: publication of the BI-facing tables (file, exports, PostgreSQL)."""

import dagster as dg

from pipeline.serving.assets import published_refresh
from pipeline.serving.options import ServingOptions

#: Secrets stay out of the config: an empty `pii_key` / `pg_dsn` reads SEGMENTS_PII_KEY /
#: SEGMENTS_PG_DSN at run time (a deployment may also pass `dg.EnvVar(...)` explicitly).
defs = dg.Definitions(
    assets=[published_refresh],
    resources={"serving": ServingOptions()},
)
