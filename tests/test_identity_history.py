"""Two real refreshes where two master customers merge in between: history follows the merge.

Refresh 1 sees a person's second customer record only through its orders (the record is missing
from the customer export, so the pipeline derives a customer from the orders: a master of its
own). Refresh 2 receives the record: identity resolution merges it into the person's first
master, retires one of the two ids (identity.master_id_merges) and the history models must
follow it: the merged customer is counted once in the migration matrix, with the spend of both
records as its earlier value, and no id of refresh 1 vanishes (no fake churn, no fake newcomer).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import run_cli

from pipeline.demo.generator import generate_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The demo's as-of date, then a refresh the next day when the missing record lands (as the
#: new-export sensor would trigger it): the data of both is valid at its as-of date.
AS_OF_1 = dt.date(2026, 10, 1)
AS_OF_2 = dt.date(2026, 10, 2)


def _pick_pair(demo: Path) -> tuple[str, str]:
    """Two records of one person in customers.csv, same mailbox, both with orders before AS_OF_1.

    The same mailbox makes the merge certain (deterministic rule) once both records are known.
    """
    customers = pd.read_csv(demo / "landing" / "customers.csv", dtype=str)
    truth = pd.read_csv(demo / "ground_truth" / "identity.csv", dtype=str)
    orders = pd.concat(
        pd.read_csv(f, dtype=str) for f in sorted((demo / "landing").glob("orders_*.csv"))
    )
    early = orders[pd.to_datetime(orders["order_date"]) < pd.Timestamp(AS_OF_1)]
    buyers = set(early["customer_id"])
    rows = customers.merge(truth[["customer_id", "person_id"]], on="customer_id")
    rows = rows[rows["customer_id"].isin(buyers) & rows["email"].notna()]
    rows = rows.assign(mailbox=rows["email"].str.lower())
    for _, group in rows.groupby("person_id"):
        same = group[group["mailbox"] == group["mailbox"].iloc[0]]
        if len(same) == 2:
            first, second = sorted(same["customer_id"])
            return first, second
    raise AssertionError("the demo has no duplicated person with one mailbox and early orders")


def _refresh(landing: Path, as_of: dt.date, warehouse: Path, state: Path) -> None:
    code, output = run_cli(
        "refresh", "--landing", str(landing), "--as-of", as_of.isoformat(),
        "--warehouse", str(warehouse), "--state-dir", str(state),
    )  # fmt: skip
    assert code == 0, output


def test_segment_history_follows_customers_merged_between_two_refreshes(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    generate_demo(demo, customers=600, orders=4000, seed=11, as_of=AS_OF_1, faults=False)
    kept, late = _pick_pair(demo)

    # Refresh 1: the export lacks `late`; its orders still arrive (a derived customer).
    first_landing = tmp_path / "landing_1"
    shutil.copytree(demo / "landing", first_landing)
    customers = pd.read_csv(first_landing / "customers.csv", dtype=str)
    customers[customers["customer_id"] != late].to_csv(first_landing / "customers.csv", index=False)
    warehouse, state = tmp_path / "warehouse.duckdb", tmp_path / "state"
    _refresh(first_landing, AS_OF_1, warehouse, state)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        masters_1 = dict(
            con.execute(
                "SELECT source_customer_id, customer_id FROM identity.customer_identity_map"
            ).fetchall()
        )
        ids_1 = {
            r[0] for r in con.execute("SELECT customer_id FROM history.segment_history").fetchall()
        }
        spend_1 = dict(
            con.execute(
                "SELECT customer_id, monetary FROM history.segment_history WHERE as_of = ?",
                [AS_OF_1],
            ).fetchall()
        )
    assert masters_1[kept] != masters_1[late]  # two masters at refresh 1
    assert {masters_1[kept], masters_1[late]} <= ids_1  # both scored

    # Refresh 2: the full export; the two records are one person again.
    _refresh(demo / "landing", AS_OF_2, warehouse, state)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        q = con.execute
        masters_2 = dict(
            q(
                "SELECT source_customer_id, customer_id FROM identity.customer_identity_map"
            ).fetchall()
        )
        merges = q(
            "SELECT retired_id, surviving_id, as_of FROM identity.master_id_merges"
        ).fetchall()
        successors = dict(
            q("SELECT retired_id, surviving_id FROM identity.master_id_successors").fetchall()
        )
        ids_2 = {
            r[0]
            for r in q(
                "SELECT customer_id FROM history.segment_history WHERE as_of = ?", [AS_OF_2]
            ).fetchall()
        }
        matrix = q(
            "SELECT sum(customers), sum(previous_revenue) FROM history.segment_transitions "
            "WHERE from_as_of = ? AND to_as_of = ?",
            [AS_OF_1, AS_OF_2],
        ).fetchone()
        changes = q(
            "SELECT customer_id, from_monetary FROM history.customer_segment_changes "
            "WHERE to_as_of = ?",
            [AS_OF_2],
        ).fetchall()
    survivor = masters_2[kept]
    assert masters_2[late] == survivor
    retired = ({masters_1[kept], masters_1[late]} - {survivor}).pop()
    assert (retired, survivor, AS_OF_2) in merges  # the oldest id survives, the other retires
    assert successors[retired] == survivor
    assert retired not in ids_2 and survivor in ids_2

    # Every customer of refresh 1 is found at refresh 2, directly or through its successor: the
    # matrix counts each master of refresh 2 once, so refresh 1's two ids count as one.
    followed = {successors.get(i, i) for i in spend_1}
    assert matrix[0] == len(followed & ids_2)
    naive_previous = sum(v for k, v in spend_1.items() if k in ids_2)
    # The merged customer's earlier value is the spend of both of its refresh-1 masters.
    assert float(matrix[1]) == pytest.approx(float(naive_previous + spend_1[retired]))
    for customer_id, from_monetary in changes:
        if customer_id == survivor:
            assert float(from_monetary) == pytest.approx(
                float(spend_1[retired] + spend_1[survivor])
            )
