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


def cdnow_transactions(sample: bool = False) -> pd.DataFrame:
    """CDNOW purchases (Fader & Hardie): 23,570 customers who first bought in Q1 1997, every
    purchase until June 1998; `sample=True` gives the 2,357-customer 1/10 sample of the BG/NBD
    paper (Fader, Hardie & Lee 2005). Read from the `lifetimes` wheel (a test/bench
    dependency) as plain files: the library itself is not imported.

    Columns: customer_id, order_id, order_date, amount (one row per purchase record).
    """
    from importlib import metadata

    name = "CDNOW_sample.txt" if sample else "CDNOW_master.txt"
    files = metadata.files("lifetimes") or []
    path = next((f for f in files if f.name == name), None)
    if path is None:
        raise FileNotFoundError(
            f"{name} not found: install the dev extra (pip install -e '.[dev]'), whose "
            "`lifetimes` wheel ships it"
        )
    if sample:  # no header: customer id, id within the sample, date, CDs, dollars
        names, header = ["customer_id", "sample_id", "date", "cds", "amount"], None
    else:  # header: customer_id date number_of_cds dollar_value
        names, header = ["customer_id", "date", "cds", "amount"], 0
    frame = pd.read_csv(
        path.locate(),
        sep=r"\s+",
        header=header,
        names=names,
        dtype={"customer_id": str, "date": str},
    )
    frame["order_date"] = pd.to_datetime(frame["date"], format="%Y%m%d").dt.date
    frame["order_id"] = [f"CD{i:07d}" for i in range(len(frame))]
    return frame[["customer_id", "order_id", "order_date", "amount"]]
