"""What each column of the prediction and cluster marts holds.

These marts are built in Python, not by dbt, so they describe themselves: the table and column
comments written next to the data (`COMMENT ON`), which the publication copies to the serving
file, PostgreSQL and `data_dictionary` like the dbt descriptions of the other marts.
"""

from __future__ import annotations

import duckdb

from pipeline.lib.sql import quote_ident, quote_relation, sql_literal

_AS_OF = "As-of date of the refresh that computed the row."
_CUSTOMER = "Master customer id (customer_key once published)."
_SEGMENT = "RFM segment of the customer at this refresh (customer_rfm)."
_HORIZON = "Horizon of expected_orders and predicted_clv, in days (prediction.horizon_days)."
_CURRENCY = "Currency of the amounts (refresh.currency)."

COLUMNS: dict[str, dict[str, str]] = {
    "customer_predictions": {
        "customer_id": _CUSTOMER,
        "as_of": _AS_OF,
        "p_alive": "Probability (0..1) the customer is still active, from MBG/NBD.",
        "expected_orders": "Expected purchase days over the horizon, from the selected model.",
        "expected_order_value": "Expected net value of one future purchase (Gamma-Gamma x the "
        "share of gross the customer keeps).",
        "predicted_clv": "expected_orders x expected_order_value (discounted when "
        "prediction.discount_rate > 0).",
        "churn_probability": "Probability (0..1) of no order within the churn window "
        "(refresh.churn_days).",
        "model": "Models that produced the row: purchases and churn + order value.",
        "horizon_days": _HORIZON,
        "currency": _CURRENCY,
    },
    "segment_predictions": {
        "segment": "RFM segment, or 'All' for every scored customer.",
        "customers": "Predicted customers of the segment.",
        "expected_orders": "Sum of expected_orders over the horizon.",
        "expected_revenue": "Sum of predicted_clv: expected net revenue over the horizon.",
        "expected_revenue_share": "expected_revenue / expected revenue of all segments.",
        "avg_predicted_clv": "Average predicted_clv per customer.",
        "avg_p_alive": "Average P(alive).",
        "avg_churn_probability": "Average churn probability.",
        "customers_at_risk": "Customers whose churn probability is 0.5 or more.",
        "share_at_risk": "customers_at_risk / customers.",
        "expected_revenue_at_risk": "Expected revenue of the customers at risk.",
        "priority": "Seed priority of the segment (0 for 'All'): the display order.",
        "as_of": _AS_OF,
        "horizon_days": _HORIZON,
        "currency": _CURRENCY,
    },
    "churn_risk_bands": {
        "band": "Band number, 1 (lowest churn probability) to 5.",
        "band_low": "Lowest churn probability of the band (included).",
        "band_high": "Highest churn probability of the band (excluded, except 1.0 in band 5).",
        "customers": "Scored customers whose churn probability is in the band.",
        "share": "customers / all scored customers.",
        "as_of": _AS_OF,
    },
    "prediction_evaluation": {
        "as_of": _AS_OF,
        "dataset": "Data the models were evaluated on ('own history' in a refresh).",
        "model": "Model evaluated (bg_nbd, mbg_nbd, gradient_boosting, naive_rate).",
        "role": "selected (predicts), challenger, or baseline (the naive rate).",
        "status": "Whether the model could be fitted, or why not.",
        "calibration_end": "Last day of the calibration data.",
        "holdout_start": "First day of the holdout.",
        "holdout_end": "Last day of the holdout.",
        "horizon_days": "Length of the holdout, in days.",
        "churn_window_days": "Window of the churn probability scored by brier_churn, in days.",
        "decile": "Churn-probability decile of a calibration row; empty on the model's row.",
        "customers": "Customers scored (in the decile).",
        "mae_orders": "Mean absolute error of purchase days in the holdout (model rows).",
        "predicted_orders": "Predicted purchase days in the holdout.",
        "actual_orders": "Actual purchase days in the holdout.",
        "predicted_actual_ratio": "predicted_orders / actual_orders (1 = right in total).",
        "brier_churn": "Brier score of the churn probability (0 = perfect).",
        "mean_predicted_churn": "Mean predicted churn probability of the decile.",
        "observed_churn_rate": "Share of the decile's customers without a purchase.",
    },
    "customer_clusters": {
        "customer_id": _CUSTOMER,
        "cluster_id": "Behaviour cluster (ids kept stable across refreshes).",
        "segment": _SEGMENT,
        "as_of": _AS_OF,
        "persona": "The cluster's most distinctive traits, in words.",
    },
    "cluster_profiles": {
        "cluster_id": "Behaviour cluster (ids kept stable across refreshes).",
        "persona": "The cluster's most distinctive traits, in words.",
        "customers": "Customers of the cluster.",
        "share": "customers / all clustered customers.",
        "revenue": "Sum of the customers' monetary value.",
        "revenue_share": "revenue / revenue of all clustered customers.",
        "median_recency_days": "Median days since the last qualifying order.",
        "avg_frequency": "Average qualifying orders per customer.",
        "avg_monetary": "Average monetary value per customer.",
        "avg_basket": "Average of the customers' average basket.",
        "promo_order_share": "Average share of the customers' orders on promotion.",
        "return_rate": "Average share of the customers' orders returned.",
        "tickets_per_order": "Average support tickets per order.",
        "top_category": "Category with the largest average revenue share (code).",
        "top_category_share": "Average revenue share of top_category.",
        "top_channel": "Channel with the largest average order share (code).",
        "top_channel_share": "Average order share of top_channel.",
        "top_rfm_segment": "RFM segment most of the cluster's customers are in.",
        "top_rfm_segment_share": "Share of the cluster's customers in top_rfm_segment.",
        "rfm_segments": "The (up to) four RFM segments the cluster overlaps, with shares.",
        "status": "new (no matching cluster at the previous refresh) or stable.",
        "centroid_shift": "Move of the centroid since the previous refresh (standard deviations).",
        "as_of": _AS_OF,
    },
    "cluster_drift": {
        "as_of": _AS_OF,
        "previous_as_of": "Refresh compared with (empty on the first clustering).",
        "k": "Number of clusters chosen.",
        "previous_k": "Number of clusters at the previous refresh.",
        "k_criterion": "How k was chosen (silhouette).",
        "silhouette": "Silhouette of the chosen clustering (-1..1).",
        "customers": "Customers clustered.",
        "customers_compared": "Customers present in both refreshes.",
        "adjusted_rand_index": "Agreement with the previous refresh's clusters (1 = identical).",
        "max_centroid_shift": "Largest centroid move since the previous refresh (sd).",
        "mean_centroid_shift": "Average centroid move since the previous refresh (sd).",
        "new_clusters": "Clusters without a match at the previous refresh (comma separated).",
        "vanished_clusters": "Previous clusters without a match now (comma separated).",
        "min_ari": "Threshold clustering.drift_min_ari in effect.",
        "max_shift": "Threshold clustering.drift_max_shift in effect.",
        "drift_detected": "True when any drift threshold was crossed.",
        "verdict": "The drift verdict in one sentence.",
    },
}


def describe(con: duckdb.DuckDBPyConnection, schema: str, name: str, text: str) -> None:
    """COMMENT ON the table `schema.name` and on each of its columns listed in `COLUMNS`."""
    relation = quote_relation(schema, name)
    con.execute(f"comment on table {relation} is {sql_literal(text)}")
    for column, description in COLUMNS.get(name, {}).items():
        con.execute(
            f"comment on column {relation}.{quote_ident(column)} is {sql_literal(description)}"
        )
