"""Independent pandas implementation of the RFM scores and the cohort table.

It reads only the typed inputs (`clean.*` and `identity.customer_identity_map`) from a DuckDB
connection and re-implements the rules of docs/segments.md without looking at the dbt SQL, so the
marts can be compared with it customer by customer (on synthetic data here, on the demo data in
the integration tests).
"""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd

#: Columns of `reference_rfm`, in order.
RFM_COLUMNS = [
    "customer_id",
    "recency_days",
    "frequency",
    "monetary",
    "first_order_date",
    "last_order_date",
    "r_score",
    "f_score",
    "m_score",
    "rfm_code",
]

#: Columns of `reference_cohorts`, in order.
COHORT_COLUMNS = [
    "cohort",
    "period_index",
    "cohort_size",
    "active_customers",
    "retention_rate",
    "orders",
    "revenue",
    "clv_to_date",
]


def _as_date(value: dt.date | str) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _master_ids(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute(
        "select source_customer_id, customer_id from identity.customer_identity_map"
    ).fetchall()
    return {str(source): str(master) for source, master in rows}


def _to_master(ids: pd.Series, mapping: dict[str, str]) -> pd.Series:
    return ids.map(lambda source: mapping.get(source, source) if source is not None else None)


def _dates(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series).dt.date


def _orders(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    """All orders re-keyed to the master id, with Python dates and float amounts."""
    orders = con.execute(
        "select order_id, customer_id, order_date, cast(amount as double) as amount, status "
        "from clean.orders"
    ).df()
    orders["customer_id"] = _to_master(orders["customer_id"].astype(object), _master_ids(con))
    orders["order_date"] = _dates(orders["order_date"])
    orders["status"] = orders["status"].astype(object).str.strip().str.lower()
    return orders


def _qualifying_orders(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    orders = _orders(con, as_of)
    keep = (orders["status"] != "cancelled") & (orders["order_date"] <= as_of)
    return orders[keep].copy()


def _refunds(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    """Refunds dated <= as_of, attributed to the order's customer when the order is known, else to
    the refund's own customer; refunds of cancelled orders are dropped."""
    refunds = con.execute(
        "select refund_id, customer_id, order_id, refunded_at, cast(amount as double) as amount "
        "from clean.refunds"
    ).df()
    refunds["customer_id"] = _to_master(refunds["customer_id"].astype(object), _master_ids(con))
    refunds["refunded_at"] = _dates(refunds["refunded_at"])
    orders = _orders(con, as_of).set_index("order_id")
    order_customer = refunds["order_id"].map(orders["customer_id"])
    order_status = refunds["order_id"].map(orders["status"])
    refunds["customer_id"] = order_customer.where(order_customer.notna(), refunds["customer_id"])
    keep = (refunds["refunded_at"] <= as_of) & (order_status != "cancelled")
    return refunds[keep].copy()


def rank_scores(values: pd.Series, n: int, higher_is_better: bool = True) -> pd.Series:
    """Tie-consistent scores: floor(n * (min-rank - 1) / count) + 1, worst value first."""
    goodness = values if higher_is_better else -values
    ranks = goodness.rank(method="min").astype(int)
    return ((n * (ranks - 1)) // len(values) + 1).astype(int)


def ntile_scores(
    values: pd.Series, ids: pd.Series, n: int, higher_is_better: bool = True
) -> pd.Series:
    """SQL NTILE(n) over (goodness ascending, id ascending): the first count % n buckets hold one
    row more than the others."""
    frame = pd.DataFrame({"goodness": values if higher_is_better else -values, "id": ids})
    order = frame.sort_values(["goodness", "id"], kind="mergesort").index
    size, extra = divmod(len(frame), n)
    buckets = np.repeat(np.arange(1, n + 1), [size + 1 if b < extra else size for b in range(n)])
    return pd.Series(buckets, index=order).reindex(frame.index).astype(int)


def _score(values: pd.Series, ids: pd.Series, n: int, method: str, higher: bool) -> pd.Series:
    if method == "rank":
        return rank_scores(values, n, higher)
    if method == "ntile":
        return ntile_scores(values, ids, n, higher)
    raise ValueError(f"unknown score method {method!r}")


def reference_rfm(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date | str,
    n: int = 5,
    method: str = "rank",
    monetary_mode: str = "net",
    lookback_days: int = 0,
) -> pd.DataFrame:
    """Recency, frequency, monetary and scores of every customer with a qualifying order in the
    scoring window, one row per master customer, sorted by customer_id."""
    as_of = _as_date(as_of)
    qualifying = _qualifying_orders(con, as_of)
    window_start = as_of - dt.timedelta(days=lookback_days) if lookback_days else None
    in_window = qualifying
    if window_start is not None:
        in_window = qualifying[qualifying["order_date"] > window_start]

    per_customer = in_window.groupby("customer_id").agg(
        frequency=("order_id", "nunique"),
        gross=("amount", "sum"),
        last_order_date=("order_date", "max"),
    )
    per_customer["first_order_date"] = qualifying.groupby("customer_id")["order_date"].min()
    refunded = pd.Series(0.0, index=per_customer.index)
    if monetary_mode == "net":
        refunds = _refunds(con, as_of)
        if window_start is not None:
            refunds = refunds[refunds["refunded_at"] > window_start]
        refunded = refunds.groupby("customer_id")["amount"].sum().reindex(per_customer.index)
        refunded = refunded.fillna(0.0)
    elif monetary_mode != "gross":
        raise ValueError(f"unknown monetary mode {monetary_mode!r}")
    per_customer["monetary"] = (per_customer["gross"] - refunded).round(2)
    per_customer["recency_days"] = [(as_of - last).days for last in per_customer["last_order_date"]]
    result = per_customer.reset_index()
    ids = result["customer_id"]
    result["r_score"] = _score(result["recency_days"], ids, n, method, higher=False)
    result["f_score"] = _score(result["frequency"], ids, n, method, higher=True)
    result["m_score"] = _score(result["monetary"], ids, n, method, higher=True)

    def five_point(score: int) -> int:
        return math.ceil(score * 5 / n)

    result["rfm_code"] = [
        f"{five_point(r)}{five_point(f)}{five_point(m)}"
        for r, f, m in zip(result["r_score"], result["f_score"], result["m_score"], strict=True)
    ]
    result["frequency"] = result["frequency"].astype(int)
    result["recency_days"] = result["recency_days"].astype(int)
    return result[RFM_COLUMNS].sort_values("customer_id").reset_index(drop=True)


def _period_number(day: dt.date, grain: str) -> int:
    months = day.year * 12 + day.month - 1
    return months // 3 if grain == "quarter" else months


def _period_start(day: dt.date, grain: str) -> dt.date:
    month = day.month if grain == "month" else 3 * ((day.month - 1) // 3) + 1
    return dt.date(day.year, month, 1)


def reference_cohorts(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date | str,
    grain: str = "month",
    monetary_mode: str = "net",
) -> pd.DataFrame:
    """Cohort retention table: every (cohort, period_index) from 0 to the period of as_of."""
    as_of = _as_date(as_of)
    orders = _qualifying_orders(con, as_of)
    first = orders.groupby("customer_id")["order_date"].min()
    events = pd.DataFrame(
        {
            "customer_id": orders["customer_id"],
            "day": orders["order_date"],
            "orders": 1,
            "revenue": orders["amount"],
        }
    )
    if monetary_mode == "net":
        refunds = _refunds(con, as_of)
        refunds = refunds[refunds["customer_id"].isin(first.index)]
        events = pd.concat(
            [
                events,
                pd.DataFrame(
                    {
                        "customer_id": refunds["customer_id"],
                        "day": refunds["refunded_at"],
                        "orders": 0,
                        "revenue": -refunds["amount"],
                    }
                ),
            ],
            ignore_index=True,
        )
    first_day = events["customer_id"].map(first)
    events["cohort"] = [_period_start(day, grain) for day in first_day]
    events["period_index"] = [
        max(0, _period_number(day, grain) - _period_number(start, grain))
        for day, start in zip(events["day"], first_day, strict=True)
    ]
    sizes = first.map(lambda day: _period_start(day, grain)).value_counts()
    per_customer = events.groupby(["cohort", "period_index", "customer_id"]).agg(
        orders=("orders", "sum"), revenue=("revenue", "sum")
    )
    per_customer["active"] = (per_customer["orders"] > 0).astype(int)
    activity = per_customer.groupby(["cohort", "period_index"]).agg(
        active_customers=("active", "sum"), orders=("orders", "sum"), revenue=("revenue", "sum")
    )
    rows = []
    for cohort, size in sorted(sizes.items()):
        cumulative = 0.0
        last = _period_number(as_of, grain) - _period_number(cohort, grain)
        for period in range(last + 1):
            active, n_orders, revenue = 0, 0, 0.0
            if (cohort, period) in activity.index:
                active, n_orders, revenue = activity.loc[(cohort, period)]
            cumulative += float(revenue)
            rows.append(
                {
                    "cohort": cohort,
                    "period_index": period,
                    "cohort_size": int(size),
                    "active_customers": int(active),
                    "retention_rate": int(active) / int(size),
                    "orders": int(n_orders),
                    "revenue": round(float(revenue), 2),
                    "clv_to_date": cumulative / int(size),
                }
            )
    return pd.DataFrame(rows, columns=COHORT_COLUMNS)
