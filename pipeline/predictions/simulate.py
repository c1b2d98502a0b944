"""Transactions drawn from known BG/NBD and Gamma-Gamma parameters (tests and benchmarks).

The generative story of Fader, Hardie & Lee (2005): each customer buys at a Poisson rate
lambda ~ Gamma(r, alpha) (per week) and, after each purchase, drops out for good with
probability p ~ Beta(a, b). Order values are Gamma(p_gg, nu) with nu ~ Gamma(q_gg, v_gg).
Knowing the truth lets a test check that fitting recovers it.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from pipeline.predictions.btyd import BgNbdParams, GammaGammaParams


def draw_transactions(
    n_customers: int,
    params: BgNbdParams,
    *,
    start: dt.date,
    end: dt.date,
    value: GammaGammaParams | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per purchase: customer_id, order_id, order_date, amount.

    First purchases are spread uniformly over the first half of [start, end]; every customer
    buys at least once (the BG/NBD clock starts at the first purchase).
    """
    rng = np.random.default_rng(seed)
    span = (end - start).days
    first = rng.integers(0, max(span // 2, 1), n_customers).astype(float)
    lam = rng.gamma(params.r, 1 / params.alpha, n_customers) / 7.0  # per day
    drop = rng.beta(params.a, params.b, n_customers)
    customers, days = [np.arange(n_customers)], [first]
    alive = np.ones(n_customers, dtype=bool)
    now = first.copy()
    while alive.any():
        idx = np.flatnonzero(alive)
        # A purchase, then the coin: dropout happens right after a (repeat) purchase.
        now[idx] += rng.exponential(1 / np.maximum(lam[idx], 1e-12))
        bought = now[idx] <= span
        alive[idx[~bought]] = False
        idx = idx[bought]
        customers.append(idx)
        days.append(now[idx].copy())
        alive[idx[rng.random(len(idx)) < drop[idx]]] = False
    customer = np.concatenate(customers)
    day = np.floor(np.concatenate(days)).astype(int)
    value = value or GammaGammaParams(p=6.0, q=4.0, v=15.0)
    nu = rng.gamma(value.q, 1 / value.v, n_customers)
    amount = rng.gamma(value.p, 1 / nu[customer])
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{c:07d}" for c in customer],
            "order_date": pd.to_datetime(start) + pd.to_timedelta(day, unit="D"),
            "amount": np.round(amount, 2),
        }
    ).sort_values(["order_date", "customer_id"], kind="stable")
    frame["order_id"] = [f"O{i:09d}" for i in range(len(frame))]
    frame["order_date"] = frame["order_date"].dt.date
    return frame.reset_index(drop=True)


def load_transactions(
    con: duckdb.DuckDBPyConnection,
    orders: pd.DataFrame,
    refunds: pd.DataFrame | None = None,
    schema: str = "sim",
) -> tuple[str, str]:
    """Write orders/refunds as the relations `features.Sources` expects; returns their names.

    Orders get the flags of the qualifying-orders view (not returned, no promo unless given).
    """
    con.execute(f"create schema if not exists {schema}")
    frame = orders.copy()
    for column in ("is_returned", "has_promo"):
        if column not in frame:
            frame[column] = False
    con.register("_orders_df", frame)
    con.execute(
        f"create or replace table {schema}.orders as select customer_id, order_id, "
        "cast(order_date as date) as order_date, cast(amount as decimal(18, 2)) as amount, "
        "is_returned, has_promo from _orders_df"
    )
    con.unregister("_orders_df")
    refunds = (
        refunds
        if refunds is not None
        else pd.DataFrame({"customer_id": [], "refunded_at": [], "amount": []})
    )
    con.register("_refunds_df", refunds)
    con.execute(
        f"create or replace table {schema}.refunds as select cast(customer_id as varchar) "
        "as customer_id, cast(refunded_at as date) as refunded_at, "
        "cast(amount as decimal(18, 2)) as amount from _refunds_df"
    )
    con.unregister("_refunds_df")
    return f"{schema}.orders", f"{schema}.refunds"
