"""Identity domain: resolves clean.customers into stable master customers."""

import dagster as dg

from pipeline.identity.assets import identity_assets

defs = dg.Definitions(assets=[identity_assets])
