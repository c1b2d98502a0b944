"""The publication asset `["serving", "published_refresh"]`, wired to the dbt manifest.

It depends on every dbt model and seed of the marts and history folders, looked up in the
manifest when the definitions load (never spelled as string keys), and on the Python-built marts
of the predictions domain.
"""

from pipeline.predictions.assets import PUBLISHED_KEYS as PREDICTION_KEYS
from pipeline.segments.assets import DBT_ASSETS
from pipeline.serving.wiring import build_published_refresh, served_dbt_keys

published_refresh = build_published_refresh([*served_dbt_keys(*DBT_ASSETS), *PREDICTION_KEYS])
