"""Yardsticks for the RFM marts: the same R, F, M and rank-method scores computed two other ways.

Both read the refreshed warehouse (`clean.orders`, `clean.refunds` and
`identity.customer_identity_map`) and follow docs/segments.md with the default knobs
(`score_method=rank`, `monetary_mode=net`, `lookback_days=0`):

- `floor_rfm`: one bare DuckDB SQL statement, materialised in an in-memory database: the least
  work any SQL engine on this machine must do for the same answer (the *floor*);
- `pandas_rfm`: the typical pandas approach (merge, `groupby().agg()`, quantile scores from
  `rank`), loading the three tables from DuckDB into DataFrames first.

`timed_dbt_rfm` times `dbt build --select +customer_rfm` on a copy of the warehouse, which is
what the marts cost when run by themselves (see docs/benchmarks.md for why this, and not the
Dagster dbt step, is the number compared with the floor).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipeline.lib.sql import sql_literal
from pipeline.segments.project import dbt_executable

#: The dbt project the pipeline runs (this file lives in <repo>/bench/).
DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

#: Columns every yardstick returns, in order (a subset of marts.customer_rfm).
RFM_COLUMNS = [
    "customer_id",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
]


def _score_sql(order_by: str, buckets: int) -> str:
    """The rank method of dbt_project/macros/rfm_scoring.sql: ties share their lowest rank."""
    return (
        f"cast(floor(cast({buckets} * (rank() over (order by {order_by}) - 1) as double)"
        " / cast(count(*) over () as double)) as integer) + 1"
    )


def floor_sql(as_of: dt.date, buckets: int = 5, catalog: str = "wh") -> str:
    """One SQL statement computing R, F, M (net of refunds) and rank scores per master customer.

    Same rules as the marts: orders re-keyed to the master id, cancelled orders and orders after
    `as_of` left out; refunds dated <= `as_of` attributed to the refunded order's customer when
    the order is known (else to the refund's own customer), refunds of cancelled orders dropped.
    `count(*)` stands for the marts' `count(distinct order_id)`: order_id is the primary key of
    clean.orders (docs/contracts.md), so both give the same frequency.
    """
    day = f"date '{as_of.isoformat()}'"
    return f"""
with id_map as (
    select source_customer_id, customer_id from {catalog}.identity.customer_identity_map
),
orders as (
    select o.order_id, coalesce(m.customer_id, o.customer_id) as customer_id, o.order_date,
           o.amount, lower(trim(o.status)) <> 'cancelled' as qualifies
    from {catalog}.clean.orders o
    left join id_map m on o.customer_id = m.source_customer_id
),
per_customer as (
    select customer_id, count(*) as frequency, sum(amount) as gross,
           max(order_date) as last_order_date
    from orders
    where qualifies and order_date <= {day}
    group by customer_id
),
refunded as (
    select coalesce(o.customer_id, m.customer_id, r.customer_id) as customer_id,
           sum(r.amount) as refund
    from {catalog}.clean.refunds r
    left join id_map m on r.customer_id = m.source_customer_id
    left join orders o on nullif(trim(r.order_id), '') = o.order_id
    where r.refunded_at <= {day} and (o.order_id is null or o.qualifies)
    group by 1
),
rfm as (
    select p.customer_id,
           cast(date_diff('day', p.last_order_date, {day}) as integer) as recency_days,
           cast(p.frequency as integer) as frequency,
           cast(p.gross - coalesce(f.refund, 0) as decimal(18, 2)) as monetary
    from per_customer p
    left join refunded f on p.customer_id = f.customer_id
)
select customer_id, recency_days, frequency, monetary,
       {_score_sql("recency_days desc", buckets)} as r_score,
       {_score_sql("frequency asc", buckets)} as f_score,
       {_score_sql("monetary asc", buckets)} as m_score
from rfm
"""


def _attach(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the warehouse attached read-only as `wh`."""
    con = duckdb.connect(":memory:")
    con.execute(f"attach {sql_literal(warehouse)} as wh (read_only)")
    return con


@dataclass
class FloorResult:
    """The floor query's answer and its wall time (query + materialisation, in memory)."""

    rfm: pd.DataFrame
    seconds: float


def floor_rfm(warehouse: Path, as_of: dt.date, buckets: int = 5) -> FloorResult:
    """Run the floor query once (`create table ... as`, like a dbt table model) and time it."""
    con = _attach(warehouse)
    try:
        started = time.perf_counter()
        con.execute(f"create table floor_rfm as {floor_sql(as_of, buckets)}")
        seconds = time.perf_counter() - started
        frame = con.execute(
            f"select {', '.join(RFM_COLUMNS)} from floor_rfm order by customer_id"
        ).df()
    finally:
        con.close()
    return FloorResult(frame, seconds)


@dataclass
class PandasResult:
    """The pandas answer, the time to load its inputs from DuckDB and the time to compute."""

    rfm: pd.DataFrame
    load_seconds: float
    compute_seconds: float

    @property
    def seconds(self) -> float:
        """Load plus compute: what a pandas job reading the warehouse pays end to end."""
        return self.load_seconds + self.compute_seconds


def _rank_score(values: pd.Series, buckets: int, ascending: bool) -> pd.Series:
    """Quantile score from a min-rank (ties share a score), as the rank method defines it.

    This is the `qcut`-on-ranks idiom with the tie rule of the marts: `pd.qcut` itself would put
    tied values in different buckets once ranked with method="first".
    """
    ranks = values.rank(method="min", ascending=ascending).to_numpy(dtype=np.int64)
    return pd.Series(buckets * (ranks - 1) // len(values) + 1, index=values.index, dtype="int32")


def pandas_compute(
    orders: pd.DataFrame,
    refunds: pd.DataFrame,
    id_map: pd.DataFrame,
    as_of: dt.date,
    buckets: int = 5,
) -> pd.DataFrame:
    """R, F, M and scores with the usual pandas idioms, from the three loaded tables."""
    master = id_map.set_index("source_customer_id")["customer_id"]
    orders = orders.assign(
        customer_id=orders["customer_id"].map(master).fillna(orders["customer_id"]),
        qualifies=orders["status"].str.strip().str.lower().ne("cancelled")
        & orders["status"].notna(),
    )
    cutoff = pd.Timestamp(as_of)
    qualifying = orders[orders["qualifies"] & (orders["order_date"] <= cutoff)]
    per_customer = qualifying.groupby("customer_id").agg(
        frequency=("order_id", "size"),
        gross=("amount", "sum"),
        last_order_date=("order_date", "max"),
    )

    by_order = orders.set_index("order_id")
    refund_order = refunds["order_id"].str.strip()
    refund_order = refund_order.mask(refund_order == "")
    order_customer = refund_order.map(by_order["customer_id"])
    order_qualifies = refund_order.map(by_order["qualifies"])
    refund_customer = refunds["customer_id"].map(master).fillna(refunds["customer_id"])
    keep = (refunds["refunded_at"] <= cutoff) & (
        order_qualifies.isna() | order_qualifies.fillna(False).astype(bool)
    )
    refunded = (
        refunds.loc[keep, "amount"]
        .groupby(order_customer[keep].fillna(refund_customer[keep]))
        .sum()
    )

    rfm = per_customer.reset_index()
    rfm["recency_days"] = (cutoff - rfm["last_order_date"]).dt.days.astype("int32")
    rfm["frequency"] = rfm["frequency"].astype("int32")
    net = rfm["gross"] - rfm["customer_id"].map(refunded).fillna(0.0)
    rfm["monetary"] = net.round(2)
    rfm["r_score"] = _rank_score(rfm["recency_days"], buckets, ascending=False)
    rfm["f_score"] = _rank_score(rfm["frequency"], buckets, ascending=True)
    rfm["m_score"] = _rank_score(rfm["monetary"], buckets, ascending=True)
    return rfm[RFM_COLUMNS].sort_values("customer_id", ignore_index=True)


def pandas_rfm(warehouse: Path, as_of: dt.date, buckets: int = 5) -> PandasResult:
    """Load orders, refunds and the identity map into pandas, then compute; both timed."""
    con = _attach(warehouse)
    try:
        started = time.perf_counter()
        orders = con.execute(
            "select order_id, customer_id, order_date, cast(amount as double) as amount, status "
            "from wh.clean.orders"
        ).df()
        refunds = con.execute(
            "select customer_id, order_id, refunded_at, cast(amount as double) as amount "
            "from wh.clean.refunds"
        ).df()
        id_map = con.execute(
            "select source_customer_id, customer_id from wh.identity.customer_identity_map"
        ).df()
        loaded = time.perf_counter()
    finally:
        con.close()
    for frame, column in ((orders, "order_date"), (refunds, "refunded_at")):
        frame[column] = pd.to_datetime(frame[column])
    rfm = pandas_compute(orders, refunds, id_map, as_of, buckets)
    return PandasResult(rfm, loaded - started, time.perf_counter() - loaded)


def marts_rfm(warehouse: Path) -> pd.DataFrame:
    """marts.customer_rfm as the pipeline built it, in the yardsticks' columns and order."""
    con = _attach(warehouse)
    try:
        return con.execute(
            f"select {', '.join(RFM_COLUMNS)} from wh.marts.customer_rfm order by customer_id"
        ).df()
    finally:
        con.close()


def rfm_differences(expected: pd.DataFrame, actual: pd.DataFrame, scores: bool = True) -> dict:
    """Count customers whose R, F, M (and scores) differ; missing/extra customers count too.

    Monetary is compared to the cent (pandas sums floats, SQL sums decimals).
    """
    left = expected.set_index("customer_id")
    right = actual.set_index("customer_id")
    diffs: dict[str, int] = {
        "missing": int((~left.index.isin(right.index)).sum()),
        "extra": int((~right.index.isin(left.index)).sum()),
    }
    common = left.index.intersection(right.index)
    left, right = left.loc[common], right.loc[common]
    for column in ("recency_days", "frequency"):
        diffs[column] = int((left[column].astype(int) != right[column].astype(int)).sum())
    money = (left["monetary"].astype(float) - right["monetary"].astype(float)).abs()
    diffs["monetary"] = int((money > 0.005).sum())
    if scores:
        for column in ("r_score", "f_score", "m_score"):
            diffs[column] = int((left[column].astype(int) != right[column].astype(int)).sum())
    return diffs


@dataclass
class DbtRfmResult:
    """`dbt run` then `dbt build` of `--select +customer_rfm` on a copy of the warehouse."""

    wall_seconds: float
    model_seconds: float
    node_seconds: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    #: The model nodes' time in the build, where dbt's 2 threads run them beside the tests.
    build_model_seconds: float = 0.0


def _dbt_invocation(dbt: str, verb: str, select: str, common: list[str], env: dict) -> float:
    """Run `dbt <verb> --select <select>`; its wall time, or RuntimeError with dbt's output."""
    started = time.perf_counter()
    done = subprocess.run(
        [dbt, verb, "--select", select, *common], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"dbt {verb} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    return wall


def _node_seconds(target: Path) -> tuple[dict[str, float], dict[str, int]]:
    """Execution time per node and node count per status, from the last run_results.json."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {r["unique_id"]: float(r["execution_time"]) for r in results}, statuses


def _models_only(nodes: dict[str, float]) -> float:
    return sum(s for uid, s in nodes.items() if uid.startswith("model."))


def timed_dbt_rfm(
    warehouse: Path, work: Path, dbt_vars: dict[str, object], select: str = "+customer_rfm"
) -> DbtRfmResult:
    """Time `dbt run`, then `dbt build`, of `--select <select>` against a copy of `warehouse`.

    dbt gets its own target and log folders under `work` (the shared dbt_project/target is left
    alone); an untimed `dbt parse` first, so the timed commands use partial parsing like the
    pipeline's dbt step does. `model_seconds` sums the execution times of the model nodes of
    the `dbt run`: the models' SQL work alone. In the build, dbt's 2 threads run tests beside
    the models on this machine's 2 cores, which slows both (`build_model_seconds`);
    `wall_seconds` is the build's, start-up, seeds and tests included.
    """
    work.mkdir(parents=True, exist_ok=True)
    # Same file name as the warehouse, in a folder of its own: views dbt built name their
    # catalog after the file (a copy named otherwise failed the marketing reconciliation test
    # with 'Catalog "warehouse" does not exist').
    copy = work / "warehouse_copy" / Path(warehouse).name
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(warehouse, copy)
    target, logs = work / "dbt_target", work / "dbt_logs"
    common = [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(logs),
        "--vars",
        json.dumps({**dbt_vars, "warehouse_path": str(copy)}),
    ]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    dbt = dbt_executable()
    subprocess.run([dbt, "parse", *common], check=True, env=env, capture_output=True)
    _dbt_invocation(dbt, "run", select, common, env)
    run_nodes, _ = _node_seconds(target)
    wall = _dbt_invocation(dbt, "build", select, common, env)
    nodes, statuses = _node_seconds(target)
    copy.unlink(missing_ok=True)
    return DbtRfmResult(
        wall, _models_only(run_nodes), nodes, statuses, build_model_seconds=_models_only(nodes)
    )
