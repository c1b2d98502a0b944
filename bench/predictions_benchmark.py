"""Benchmark of the predictions domain: holdout accuracy on several data sets, time at scale.

    .venv/bin/python bench/predictions_benchmark.py accuracy [--demo-warehouse W --demo-as-of D]
    .venv/bin/python bench/predictions_benchmark.py scale --customers 1000000

`accuracy` prints the evaluation table (data, split, model, MAE of orders, predicted/actual,
churn Brier) for: transactions drawn from known BG/NBD parameters, the CDNOW 1/10 sample and
the CDNOW master file (shipped in the `lifetimes` wheel), and, when given, a demo warehouse
built by `segments refresh` (its dbt views are read as the pipeline reads them).

`scale` times what one refresh adds at N customers (BG/NBD-drawn transactions in an in-memory
DuckDB): the temporal holdout (4 candidates), the predictions, and the clustering (k = 3..8),
with the peak resident memory (ru_maxrss) and the load average. Never run in CI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.predictions import btyd, clustering, models  # noqa: E402
from pipeline.predictions.features import Sources, purchase_summary  # noqa: E402
from pipeline.predictions.simulate import (  # noqa: E402
    cdnow_transactions,
    draw_transactions,
    load_transactions,
)

TRUE = btyd.BgNbdParams(r=0.25, alpha=4.0, a=0.8, b=2.5)


def _table(name: str, evaluation: models.Evaluation) -> list[str]:
    lines = []
    for s in evaluation.scores:
        fmt = lambda v, d=3: "n/a" if v is None else f"{v:.{d}f}"  # noqa: E731
        lines.append(
            f"| {name} | {evaluation.calibration_end} / {evaluation.holdout_end} | {s.model}"
            f"{' (selected)' if s.model == evaluation.winner else ''} | {s.customers} | "
            f"{fmt(s.mae_orders)} | {fmt(s.ratio)} | {fmt(s.brier)} |"
        )
    return lines


def accuracy(args: argparse.Namespace) -> None:
    print(
        "| data | calibration end / holdout end | model | customers | MAE orders "
        "| predicted/actual | Brier churn |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    con = duckdb.connect()
    synthetic = draw_transactions(
        20_000, TRUE, start=dt.date(2022, 1, 1), end=dt.date(2025, 1, 1), seed=11
    )
    src = Sources(*load_transactions(con, synthetic, schema="synthetic"))
    for line in _table(
        "BG/NBD-drawn, 20k",
        models.evaluate_candidates(con, src, dt.date(2025, 1, 1), 365, 180, 50_000),
    ):
        print(line, flush=True)
    for sample, name in ((True, "CDNOW 1/10 sample"), (False, "CDNOW master")):
        schema = "cdnow_sample" if sample else "cdnow"
        src = Sources(*load_transactions(con, cdnow_transactions(sample=sample), schema=schema))
        # Weeks 1-39 calibration, weeks 40-78 holdout, as in Fader, Hardie & Lee (2005).
        evaluation = models.evaluate_candidates(con, src, dt.date(1998, 6, 30), 273, 180, 50_000)
        for line in _table(name, evaluation):
            print(line, flush=True)
    if args.demo_warehouse:
        from pipeline.predictions.assets import sources

        demo = duckdb.connect(args.demo_warehouse, read_only=True)
        as_of = dt.date.fromisoformat(args.demo_as_of)
        evaluation = models.evaluate_candidates(demo, sources(), as_of, 365, 180, 50_000)
        for line in _table(f"demo ({Path(args.demo_warehouse).name})", evaluation):
            print(line, flush=True)


def _cluster_inputs(summary: pd.DataFrame, as_of: dt.date, seed: int) -> pd.DataFrame:
    """Behaviour frame shaped like `assets.cluster_inputs` from a purchase summary."""
    rng = np.random.default_rng(seed)
    n = len(summary)
    web = rng.beta(2, 2, n)
    mode = rng.beta(2, 3, n)
    sport = (1 - mode) * rng.beta(2, 3, n)
    return pd.DataFrame(
        {
            "customer_id": summary["customer_id"],
            "segment": np.where(summary["x"] > 2, "Loyal", "Lost"),
            "recency_days": summary["T"] - summary["t_x"],
            "frequency": summary["x"] + 1,
            "monetary": summary["gross"],
            "avg_basket": summary["gross"] / (summary["x"] + 1),
            "promo_order_share": rng.beta(1, 4, n),
            "return_rate": rng.beta(1, 10, n),
            "tickets_per_order": rng.exponential(0.2, n),
            "category_share__mode": mode,
            "category_share__sport": sport,
            "category_share__other": 1 - mode - sport,
            "channel_share__web": web,
            "channel_share__store": 1 - web,
        }
    )


def scale(args: argparse.Namespace) -> None:
    as_of = dt.date(2025, 1, 1)
    started = time.perf_counter()
    orders = draw_transactions(args.customers, TRUE, start=dt.date(2022, 1, 1), end=as_of, seed=5)
    con = duckdb.connect(config={"memory_limit": "4GB"})
    src = Sources(*load_transactions(con, orders, schema="scale"))
    del orders
    print(
        f"data: {args.customers:,} customers, "
        f"{con.execute(f'select count(*) from {src.orders}').fetchone()[0]:,} orders "
        f"({time.perf_counter() - started:.1f} s, not counted)",
        flush=True,
    )
    load_before = os.getloadavg()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    evaluation = models.evaluate_candidates(con, src, as_of, 365, 180, 50_000)
    t1 = time.perf_counter()
    customers = purchase_summary(con, src, as_of)
    predictions = models.predict(
        con,
        src,
        as_of,
        customers["customer_id"],
        model=evaluation.winner,
        horizon=365,
        churn_days=180,
        discount_rate=0.0,
        sample=50_000,
    )
    t2 = time.perf_counter()
    raw = _cluster_inputs(customers, as_of, seed=1)
    result = clustering.cluster(raw, k_min=3, k_max=8, sample=50_000)
    again = clustering.cluster(raw, k_min=3, k_max=8, sample=50_000, previous=result.centroids)
    t3 = time.perf_counter()
    cpu = time.process_time() - cpu0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    load_after = os.getloadavg()
    print(f"holdout (4 candidates): {t1 - t0:.1f} s; winner {evaluation.winner}")
    print(f"predictions ({len(predictions.frame):,} customers): {t2 - t1:.1f} s")
    print(
        f"clustering (k={result.k}) + a second refresh matched: {t3 - t2:.1f} s; "
        f"labels identical: {bool((result.labels == again.labels).all())}"
    )
    print(
        f"total predictions + clustering: {t3 - t0:.1f} s wall, {cpu:.1f} s CPU (all threads "
        f"of this process); peak RSS {peak_gb:.2f} GB"
    )
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (2 cores, shared)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    acc = sub.add_parser("accuracy")
    acc.add_argument("--demo-warehouse", default="")
    acc.add_argument("--demo-as-of", default="2026-10-01")
    sc = sub.add_parser("scale")
    sc.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    {"accuracy": accuracy, "scale": scale}[args.command](args)


if __name__ == "__main__":
    main()
