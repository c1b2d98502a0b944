"""Predictions and behaviour clusters as Dagster assets, written to the warehouse `marts` schema.

They run after the RFM marts (and their blocking gates) and before the publication, which
publishes every table of `marts`. Persistent state the clusters need between refreshes (the
previous centroids and assignments) lives in the private `predictions` schema, never published.
"""

import datetime as dt
import time

import dagster as dg
import duckdb
import pandas as pd

from pipeline.lib.resources import WAREHOUSE_POOL, RefreshSettings, Warehouse
from pipeline.lib.sql import quote_relation, sql_literal, transaction
from pipeline.predictions import clustering, models
from pipeline.predictions.docs import describe
from pipeline.predictions.features import Sources, read_once, sample_key_sql
from pipeline.segments.assets import model_key

GROUP = "predictions"
STATE_SCHEMA = "predictions"
MARTS = "marts"

#: Published tables and what they hold (Dagster descriptions and warehouse table comments).
PREDICTION_TABLES = {
    "customer_predictions": "One row per scored customer: P(alive), expected orders over the "
    "horizon, expected net order value, predicted CLV (net, settings currency), probability of "
    "no order within the churn window, and the model that produced them.",
    "segment_predictions": "Per RFM segment (and All): expected revenue over the next horizon, "
    "average P(alive) and churn probability, customers and share at risk of churning.",
    "churn_risk_bands": "Scored customers per band of churn probability (0-20%, 20-40%, "
    "40-60%, 60-80%, 80-100%): the churn-risk distribution the report draws.",
    "prediction_evaluation": "Temporal holdout on the customers' own history: per model "
    "(selected, challenger, naive baseline) MAE of orders, predicted/actual total, churn Brier "
    "score, then churn calibration by decile.",
}
CLUSTER_TABLES = {
    "customer_clusters": "One row per scored customer: the data-driven behaviour cluster "
    "(k-means on standardised behaviour; ids stable across refreshes) next to the RFM segment.",
    "cluster_profiles": "One row per cluster: size, revenue, centroid in business units, "
    "persona words, the RFM segments it overlaps and how far it moved since the last refresh.",
    "cluster_drift": "One row per refresh: chosen k, silhouette, adjusted Rand index against "
    "the previous refresh, centroid moves, new/vanished clusters and the drift verdict.",
}
PREDICTION_KEYS = [dg.AssetKey([MARTS, t]) for t in PREDICTION_TABLES]
CLUSTER_KEYS = [dg.AssetKey([MARTS, t]) for t in CLUSTER_TABLES]
CLUSTER_DRIFT_KEY = dg.AssetKey([MARTS, "cluster_drift"])
#: Everything this domain publishes (the serving asset waits for these).
PUBLISHED_KEYS = [*PREDICTION_KEYS, *CLUSTER_KEYS]
#: Churn probability from which a customer counts as "at risk" in segment_predictions.
AT_RISK = 0.5
#: Lower bounds of the churn-probability bands of churn_risk_bands.
RISK_BANDS = (0.0, 0.2, 0.4, 0.6, 0.8)


def relation(model_name: str) -> str:
    """Quoted `schema.table` of a dbt model, from its asset key (never spelled as a string)."""
    key = model_key(model_name)
    return f'"{key.path[0]}"."{key.path[-1]}"'


#: The identity map written by the identity assets (upstream of every dbt model read here): its
#: source ids give customers a key that does not depend on how a warehouse numbered them.
IDENTITY_MAP = quote_relation("identity", "customer_identity_map")


def sources() -> Sources:
    """The dbt views the predictions read: qualifying orders, attributed refunds, tickets, NPS."""
    return Sources(
        orders=relation("int_orders__qualifying"),
        refunds=relation("int_refunds__attributed"),
        tickets=relation("stg_support_tickets"),
        nps=relation("stg_nps_responses"),
        identity=IDENTITY_MAP,
    )


def _replace_table(
    con: duckdb.DuckDBPyConnection, schema: str, name: str, frame: pd.DataFrame, comment: str
) -> int:
    """Create or replace schema.name from a DataFrame, with its comments; returns rows."""
    view = f"_{name}_df"
    con.register(view, frame)
    try:
        con.execute(
            f"create or replace table {quote_relation(schema, name)} as select * from {view}"
        )
    finally:
        con.unregister(view)
    describe(con, schema, name, comment)
    return len(frame)


def write_predictions(
    con: duckdb.DuckDBPyConnection,
    predictions: models.Predictions,
    evaluation: models.Evaluation,
    *,
    as_of: dt.date,
    horizon: int,
    currency: str,
) -> dict[str, int]:
    """Write the three prediction tables in one transaction; returns their row counts."""
    frame = predictions.frame.assign(horizon_days=horizon, currency=currency)
    rfm = relation("customer_rfm")
    with transaction(con):
        counts = {
            "customer_predictions": _replace_table(
                con, MARTS, "customer_predictions", frame, PREDICTION_TABLES["customer_predictions"]
            ),
            "prediction_evaluation": _replace_table(
                con,
                MARTS,
                "prediction_evaluation",
                evaluation.frame(as_of),
                PREDICTION_TABLES["prediction_evaluation"],
            ),
        }
        con.execute(
            f"""
            create or replace table {MARTS}.segment_predictions as
            with joined as (
                select r.segment, r.priority, p.*
                from {MARTS}.customer_predictions p
                join {rfm} r on r.customer_id = p.customer_id
            ),
            per_segment as (
                select segment, min(priority) as priority, count(*) as customers,
                       sum(expected_orders) as expected_orders,
                       sum(predicted_clv) as expected_revenue,
                       avg(predicted_clv) as avg_predicted_clv,
                       avg(p_alive) as avg_p_alive,
                       avg(churn_probability) as avg_churn_probability,
                       count(*) filter (where churn_probability >= {AT_RISK}) as customers_at_risk,
                       sum(predicted_clv) filter (where churn_probability >= {AT_RISK})
                           as expected_revenue_at_risk
                from joined group by segment
                union all
                select 'All', 0, count(*), sum(expected_orders), sum(predicted_clv),
                       avg(predicted_clv), avg(p_alive), avg(churn_probability),
                       count(*) filter (where churn_probability >= {AT_RISK}),
                       sum(predicted_clv) filter (where churn_probability >= {AT_RISK})
                from joined
            )
            select
                segment, customers, expected_orders, expected_revenue,
                expected_revenue / nullif(sum(expected_revenue) filter (
                    where segment <> 'All') over (), 0) as expected_revenue_share,
                avg_predicted_clv, avg_p_alive, avg_churn_probability, customers_at_risk,
                customers_at_risk / customers as share_at_risk,
                coalesce(expected_revenue_at_risk, 0) as expected_revenue_at_risk,
                priority, ?::date as as_of, ?::integer as horizon_days, ?::varchar as currency
            from per_segment
            order by priority, segment
            """,
            [as_of, horizon, currency],
        )
        describe(con, MARTS, "segment_predictions", PREDICTION_TABLES["segment_predictions"])
        counts["segment_predictions"] = con.execute(
            f"select count(*) from {MARTS}.segment_predictions"
        ).fetchone()[0]
        counts["churn_risk_bands"] = _write_risk_bands(con, as_of)
    return counts


def _write_risk_bands(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> int:
    """marts.churn_risk_bands: customers per band of churn probability (every band, even
    empty; the last band includes 1.0)."""
    edges = [*RISK_BANDS, 1.0]
    bands = pd.DataFrame(
        {
            "band": range(1, len(RISK_BANDS) + 1),
            "band_low": edges[:-1],
            "band_high": edges[1:],
        }
    )
    con.register("_bands_df", bands)
    try:
        con.execute(
            f"""
            create or replace table {MARTS}.churn_risk_bands as
            with customers as (
                select churn_probability from {MARTS}.customer_predictions
            ),
            total as (
                select count(*) as customers from customers
            )
            select
                b.band,
                b.band_low,
                b.band_high,
                count(c.churn_probability) as customers,
                count(c.churn_probability) / nullif(any_value(total.customers), 0) as share,
                ?::date as as_of
            from _bands_df b
            cross join total
            left join customers c
                on c.churn_probability >= b.band_low
                and (c.churn_probability < b.band_high or b.band = {len(RISK_BANDS)})
            group by b.band, b.band_low, b.band_high
            order by b.band
            """,
            [as_of],
        )
    finally:
        con.unregister("_bands_df")
    describe(con, MARTS, "churn_risk_bands", PREDICTION_TABLES["churn_risk_bands"])
    return len(bands)


def _specs(tables: dict[str, str], reads: tuple[str, ...]) -> list[dg.AssetSpec]:
    """One spec per published table, downstream of the dbt models it `reads`."""
    return [
        dg.AssetSpec(
            [MARTS, table],
            deps=[model_key(name) for name in reads],
            group_name=GROUP,
            description=description,
            kinds={"duckdb", "python"},
        )
        for table, description in tables.items()
    ]


@dg.multi_asset(
    specs=_specs(
        PREDICTION_TABLES,
        (
            "customer_rfm",
            "int_orders__qualifying",
            "int_refunds__attributed",
            "stg_support_tickets",
            "stg_nps_responses",
        ),
    ),
    pool=WAREHOUSE_POOL,
)
def prediction_assets(
    context: dg.AssetExecutionContext, warehouse: Warehouse, settings: RefreshSettings
):
    """Predict orders, order value, CLV and churn per scored customer, and evaluate the models.

    A temporal holdout on the customers' own history (calibration up to as-of minus the
    horizon, holdout after) scores BG/NBD, the gradient boosting challenger and the naive rate;
    the better contender (lowest MAE among those within 10% on total orders) predicts the next
    horizon from the whole history. See docs/predictions.md.
    """
    as_of = settings.as_of_date()
    horizon = settings.prediction.horizon_days
    currency = settings.refresh.currency
    started = time.perf_counter()
    with warehouse.connect() as con, read_once(con, sources()) as src:
        evaluation = models.evaluate_candidates(
            con, src, as_of, horizon, settings.refresh.churn_days, settings.prediction.fit_sample
        )
        for s in evaluation.scores:
            context.log.info(
                f"holdout {evaluation.calibration_end} -> {evaluation.holdout_end}, {s.model}: "
                f"{s.status}, {s.customers} customers, MAE {s.mae_orders}, ratio {s.ratio}, "
                f"Brier {s.brier}"
            )
        scored = con.execute(f"select customer_id from {relation('customer_rfm')}").df()
        predictions = models.predict(
            con,
            src,
            as_of,
            scored["customer_id"],
            model=evaluation.winner,
            horizon=horizon,
            churn_days=settings.refresh.churn_days,
            discount_rate=settings.prediction.discount_rate,
            sample=settings.prediction.fit_sample,
        )
        counts = write_predictions(
            con,
            predictions,
            evaluation,
            as_of=as_of,
            horizon=horizon,
            currency=currency,
        )
    frame = predictions.frame
    context.log.info(
        f"predictions {as_of}: {len(frame)} customers with {predictions.model} "
        f"(holdout winner {evaluation.winner}); expected orders {frame.expected_orders.sum():.0f}, "
        f"predicted CLV {frame.predicted_clv.sum():,.0f} {currency} over {horizon} days; "
        f"{time.perf_counter() - started:.1f} s"
    )
    common = {
        "as_of": as_of.isoformat(),
        "model": predictions.model,
        "holdout_winner": evaluation.winner,
        "bg_nbd_params": dg.MetadataValue.json(
            predictions.bgnbd.__dict__ if predictions.bgnbd else {}
        ),
        "gamma_gamma_params": dg.MetadataValue.json(
            predictions.gamma_gamma.__dict__ if predictions.gamma_gamma else {}
        ),
        "holdout_mae": dg.MetadataValue.json({s.model: s.mae_orders for s in evaluation.scores}),
    }
    for table in PREDICTION_TABLES:
        yield dg.MaterializeResult(
            asset_key=[MARTS, table], metadata={"dagster/row_count": counts[table], **common}
        )


def cluster_inputs(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Behaviour of every scored customer over the scoring window, one row each.

    RFM measures (customer_rfm), promo share and return rate (customer_preferences), support
    tickets per order (tickets dated up to the as-of date), the revenue share of the most
    common categories (non-returned orders, the rest in `other`) and the order share per channel;
    `sample_key` (`features.Sources.identity`), by which the rows are ordered.
    """
    orders = relation("int_orders__qualifying")
    categories = relation("int_customer_categories__scoring_window")
    # The window's channel orders, read once from the view (each read joins the orders re-keyed
    # through the identity map) for the top channels and the mix.
    con.execute(
        f"""create or replace temp table _cluster_channel_orders as
            select customer_id, channel from {orders}
            where is_in_scoring_window and channel is not null"""
    )
    top_categories = [
        r[0]
        for r in con.execute(
            f"""select category from {categories} where category is not null
                group by category order by sum(revenue) desc, category
                limit {clustering.MAX_CATEGORIES}"""
        ).fetchall()
    ]
    top_channels = [
        r[0]
        for r in con.execute(
            f"""select channel from _cluster_channel_orders
                group by channel order by count(*) desc, channel
                limit {clustering.MAX_CHANNELS}"""
        ).fetchall()
    ]

    category_cols = ", ".join(
        f"coalesce(sum(v) filter (where category = {sql_literal(c)}) / nullif(sum(v), 0), 0) "
        f'as "category_share__{c}"'
        for c in top_categories
    )
    channel_cols = ", ".join(
        f"coalesce(count(*) filter (where channel = {sql_literal(c)}) / count(*), 0) "
        f'as "channel_share__{c}"'
        for c in top_channels
    )
    listed = ", ".join(map(sql_literal, top_categories))
    other_category = (
        f"coalesce(sum(v) filter (where category not in ({listed}))"
        ' / nullif(sum(v), 0), 0) as "category_share__other"'
        if top_categories
        else '0.0 as "category_share__other"'
    )
    key_join, key = sample_key_sql(IDENTITY_MAP, "s")
    frame = con.execute(
        f"""
        with scored as (
            select customer_id, segment, recency_days, frequency,
                   cast(monetary as double) as monetary, cast(avg_basket as double) as avg_basket
            from {relation("customer_rfm")}
        ),
        preferences as (
            select customer_id, promo_order_share, return_rate
            from {relation("customer_preferences")}
        ),
        category_values as (
            select customer_id, category, cast(revenue as double) as v
            from {categories} where category is not null
        ),
        category_mix as (
            select customer_id, {other_category}{", " + category_cols if category_cols else ""}
            from category_values group by customer_id
        ),
        channel_mix as (
            select customer_id{", " + channel_cols if channel_cols else ""}
            from _cluster_channel_orders group by customer_id
        ),
        tickets as (
            select customer_id, count(*) as tickets from {relation("stg_support_tickets")}
            where cast(created_at as date) <= (select max(as_of) from {relation("customer_rfm")})
            group by customer_id
        )
        select s.*, coalesce(p.promo_order_share, 0) as promo_order_share,
               coalesce(p.return_rate, 0) as return_rate,
               coalesce(t.tickets, 0) / s.frequency as tickets_per_order,
               c.* exclude (customer_id), ch.* exclude (customer_id),
               {key} as sample_key
        from scored s
        left join preferences p on p.customer_id = s.customer_id
        left join tickets t on t.customer_id = s.customer_id
        left join category_mix c on c.customer_id = s.customer_id
        left join channel_mix ch on ch.customer_id = s.customer_id
        {key_join}
        order by sample_key
        """
    ).df()
    con.execute("drop table _cluster_channel_orders")
    return frame


def _previous_state(
    con: duckdb.DuckDBPyConnection, as_of: dt.date
) -> tuple[dt.date | None, pd.DataFrame | None, pd.DataFrame | None]:
    """The latest refresh before `as_of`: its date, centroids (wide) and assignments."""
    con.execute(f"create schema if not exists {STATE_SCHEMA}")
    con.execute(
        f"create table if not exists {STATE_SCHEMA}.cluster_centroids "
        "(as_of date, cluster_id integer, feature varchar, value double)"
    )
    con.execute(
        f"create table if not exists {STATE_SCHEMA}.cluster_assignments "
        "(as_of date, customer_id varchar, cluster_id integer)"
    )
    row = con.execute(
        f"select max(as_of) from {STATE_SCHEMA}.cluster_centroids where as_of < ?", [as_of]
    ).fetchone()
    previous_as_of = row[0] if row else None
    if previous_as_of is None:
        return None, None, None
    long = con.execute(
        f"select cluster_id, feature, value from {STATE_SCHEMA}.cluster_centroids where as_of = ?",
        [previous_as_of],
    ).df()
    centroids = long.pivot(index="cluster_id", columns="feature", values="value").fillna(0.0)
    assignments = con.execute(
        f"select customer_id, cluster_id from {STATE_SCHEMA}.cluster_assignments where as_of = ?",
        [previous_as_of],
    ).df()
    return previous_as_of, centroids, assignments


def cluster_profiles(
    raw: pd.DataFrame, result: clustering.Clustering, as_of: dt.date
) -> pd.DataFrame:
    """One row per cluster: size, revenue, centroid in business units, persona, RFM overlap."""
    frame = raw.assign(cluster_id=result.labels)
    total_revenue = frame["monetary"].sum()
    categories = [c for c in raw.columns if c.startswith("category_share__")]
    channels = [c for c in raw.columns if c.startswith("channel_share__")]
    rows = []
    for cid, group in frame.groupby("cluster_id"):
        segments = group["segment"].fillna("(none)").value_counts(normalize=True)
        mix_cat = group[categories].mean().sort_values(ascending=False) if categories else None
        mix_ch = group[channels].mean().sort_values(ascending=False) if channels else None
        rows.append(
            {
                "cluster_id": int(cid),
                "persona": clustering.persona_label(result.centroids.loc[int(cid)], result.scaler),
                "customers": len(group),
                "share": len(group) / len(frame),
                "revenue": float(group["monetary"].sum()),
                "revenue_share": float(group["monetary"].sum() / total_revenue)
                if total_revenue
                else None,
                "median_recency_days": float(group["recency_days"].median()),
                "avg_frequency": float(group["frequency"].mean()),
                "avg_monetary": float(group["monetary"].mean()),
                "avg_basket": float(group["avg_basket"].mean()),
                "promo_order_share": float(group["promo_order_share"].mean()),
                "return_rate": float(group["return_rate"].mean()),
                "tickets_per_order": float(group["tickets_per_order"].mean()),
                "top_category": mix_cat.index[0].split("__", 1)[1] if mix_cat is not None else None,
                "top_category_share": float(mix_cat.iloc[0]) if mix_cat is not None else None,
                "top_channel": mix_ch.index[0].split("__", 1)[1] if mix_ch is not None else None,
                "top_channel_share": float(mix_ch.iloc[0]) if mix_ch is not None else None,
                "top_rfm_segment": segments.index[0],
                "top_rfm_segment_share": float(segments.iloc[0]),
                "rfm_segments": ", ".join(
                    f"{name} {share:.0%}" for name, share in segments.head(4).items()
                ),
                "status": "new" if int(cid) in result.new_clusters else "stable",
                "centroid_shift": result.matched_shift.get(int(cid)),
                "as_of": as_of,
            }
        )
    return pd.DataFrame(rows)


@dg.multi_asset(
    specs=_specs(
        CLUSTER_TABLES,
        (
            "customer_rfm",
            "customer_preferences",
            "int_orders__qualifying",
            "int_customer_categories__scoring_window",
            "stg_support_tickets",
        ),
    ),
    pool=WAREHOUSE_POOL,
)
def cluster_assets(
    context: dg.AssetExecutionContext, warehouse: Warehouse, settings: RefreshSettings
):
    """Cluster the scored customers on their behaviour and measure how the clusters changed.

    k-means (scikit-learn) on standardised log R/F/M, basket, category and channel mix, promo
    share, returns and support intensity; k in [clustering.k_min, clustering.k_max] by best
    silhouette; ids kept stable by matching centroids to the previous refresh's (stored in
    the `predictions` schema). The comparison with the previous refresh (adjusted Rand index,
    centroid moves, new/vanished clusters) is appended to cluster_drift.
    """
    as_of = settings.as_of_date()
    started = time.perf_counter()
    with warehouse.connect() as con:
        raw = cluster_inputs(con)
        previous_as_of, previous, assignments = _previous_state(con, as_of)
        result = clustering.cluster(
            raw,
            k_min=settings.clustering.k_min,
            k_max=settings.clustering.k_max,
            sample=settings.clustering.sample,
            previous=previous,
        )
        drift = clustering.measure_drift(
            result,
            raw["customer_id"],
            as_of,
            previous_as_of,
            assignments,
            len(previous) if previous is not None else None,
            min_ari=settings.clustering.drift_min_ari,
            max_shift=settings.clustering.drift_max_shift,
        )
        profiles = cluster_profiles(raw, result, as_of)
        members = pd.DataFrame(
            {
                "customer_id": raw["customer_id"],
                "cluster_id": result.labels,
                "segment": raw["segment"],
                "as_of": as_of,
            }
        ).merge(profiles[["cluster_id", "persona"]], on="cluster_id", how="left")
        centroids = (
            result.centroids.rename_axis("cluster_id")
            .reset_index()
            .melt(id_vars="cluster_id", var_name="feature", value_name="value")
            .assign(as_of=as_of)[["as_of", "cluster_id", "feature", "value"]]
        )
        counts = _write_clusters(con, members, profiles, centroids, drift, previous_as_of)
    context.log.info(
        f"clusters {as_of}: k={result.k} (silhouettes "
        f"{ {k: round(v, 3) for k, v in result.silhouettes.items()} }), {len(raw)} customers; "
        f"{drift.verdict()}; {time.perf_counter() - started:.1f} s"
    )
    common = {
        "as_of": as_of.isoformat(),
        "k": result.k,
        "silhouettes": dg.MetadataValue.json({str(k): v for k, v in result.silhouettes.items()}),
        "drift_detected": drift.drift_detected,
        "adjusted_rand_index": drift.adjusted_rand_index,
        "verdict": drift.verdict(),
    }
    for table in CLUSTER_TABLES:
        yield dg.MaterializeResult(
            asset_key=[MARTS, table], metadata={"dagster/row_count": counts[table], **common}
        )


def _write_clusters(
    con: duckdb.DuckDBPyConnection,
    members: pd.DataFrame,
    profiles: pd.DataFrame,
    centroids: pd.DataFrame,
    drift: clustering.Drift,
    previous_as_of: dt.date | None,
) -> dict[str, int]:
    """Published tables and the private state, in one transaction."""
    as_of = drift.as_of
    with transaction(con):
        counts = {
            "customer_clusters": _replace_table(
                con, MARTS, "customer_clusters", members, CLUSTER_TABLES["customer_clusters"]
            ),
            "cluster_profiles": _replace_table(
                con, MARTS, "cluster_profiles", profiles, CLUSTER_TABLES["cluster_profiles"]
            ),
        }
        # State for the next refresh; a re-run of this as-of replaces its own rows. Older
        # assignments than the previous refresh are not needed any more.
        for table, frame in (
            ("cluster_centroids", centroids),
            ("cluster_assignments", members[["customer_id", "cluster_id"]].assign(as_of=as_of)),
        ):
            con.execute(f"delete from {STATE_SCHEMA}.{table} where as_of = ?", [as_of])
            con.register("_state_df", frame)
            con.execute(f"insert into {STATE_SCHEMA}.{table} by name select * from _state_df")
            con.unregister("_state_df")
        con.execute(
            f"delete from {STATE_SCHEMA}.cluster_assignments where as_of < ?",
            [previous_as_of or as_of],
        )
        drift_row = pd.DataFrame([drift.row()])
        con.register("_drift_df", drift_row)
        # Explicit types: on the first refresh the previous_* columns are all NULL, which
        # DuckDB would type INTEGER from the frame, refusing the dates of later refreshes.
        con.execute(
            f"""create table if not exists {MARTS}.cluster_drift (
                as_of date, previous_as_of date, k integer, previous_k integer,
                k_criterion varchar, silhouette double, customers bigint,
                customers_compared bigint, adjusted_rand_index double,
                max_centroid_shift double, mean_centroid_shift double, new_clusters varchar,
                vanished_clusters varchar, min_ari double, max_shift double,
                drift_detected boolean, verdict varchar)"""
        )
        # A table made by an earlier version typed previous_as_of INTEGER (only NULLs in it,
        # since any date was refused): retype it; inserts below go by name.
        (kind,) = con.execute(
            "select data_type from information_schema.columns where table_schema = ? "
            "and table_name = 'cluster_drift' and column_name = 'previous_as_of'",
            [MARTS],
        ).fetchone()
        if kind != "DATE":
            con.execute(f"alter table {MARTS}.cluster_drift drop column previous_as_of")
            con.execute(f"alter table {MARTS}.cluster_drift add column previous_as_of date")
        con.execute(f"delete from {MARTS}.cluster_drift where as_of = ?", [as_of])
        con.execute(f"insert into {MARTS}.cluster_drift by name select * from _drift_df")
        con.unregister("_drift_df")
        describe(con, MARTS, "cluster_drift", CLUSTER_TABLES["cluster_drift"])
        counts["cluster_drift"] = con.execute(
            f"select count(*) from {MARTS}.cluster_drift"
        ).fetchone()[0]
    return counts


@dg.asset_check(asset=CLUSTER_DRIFT_KEY, blocking=False)
def cluster_drift_check(warehouse: Warehouse, settings: RefreshSettings) -> dg.AssetCheckResult:
    """Warn (never block) when the behaviour clusters changed beyond the drift thresholds.

    Reads this refresh's row of cluster_drift: adjusted Rand index below
    clustering.drift_min_ari, a centroid moved more than clustering.drift_max_shift standard
    deviations, or a cluster appeared or vanished. The RFM segments may then no longer describe
    the customer base: review the segment map.
    """
    as_of = settings.as_of_date()
    with warehouse.connect(read_only=True) as con:
        row = con.execute(f"select * from {MARTS}.cluster_drift where as_of = ?", [as_of]).df()
    if row.empty:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"no cluster_drift row for {as_of}",
        )
    record = row.iloc[0]
    metadata = {
        "previous_as_of": str(record["previous_as_of"]),
        "adjusted_rand_index": float(record["adjusted_rand_index"])
        if pd.notna(record["adjusted_rand_index"])
        else None,
        "max_centroid_shift": float(record["max_centroid_shift"])
        if pd.notna(record["max_centroid_shift"])
        else None,
        "new_clusters": str(record["new_clusters"]),
        "vanished_clusters": str(record["vanished_clusters"]),
        "k": int(record["k"]),
    }
    return dg.AssetCheckResult(
        passed=not bool(record["drift_detected"]),
        severity=dg.AssetCheckSeverity.WARN,
        description=str(record["verdict"]),
        metadata=metadata,
    )
