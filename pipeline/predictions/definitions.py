"""Predictions domain: predicted CLV and churn per customer, behaviour clusters and their drift."""

import dagster as dg

from pipeline.predictions.assets import cluster_assets, cluster_drift_check, prediction_assets

defs = dg.Definitions(
    assets=[prediction_assets, cluster_assets], asset_checks=[cluster_drift_check]
)
