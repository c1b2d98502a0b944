"""A real export of the 1990s: the CDNOW transaction log (1997-1998) through the refresh job.

The public CDNOW log ships inside the `lifetimes` wheel (a test-only dependency). It is read as
a data file from the installed distribution: lifetimes' modelling code is never imported.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import run_refresh

pytestmark = [pytest.mark.integration]

AS_OF = dt.date(1998, 7, 1)


def cdnow_log() -> pd.DataFrame:
    """customer_id, date (YYYYMMDD), number_of_cds, dollar_value: one row per purchase."""
    path = Path(
        importlib.metadata.distribution("lifetimes").locate_file(
            "lifetimes/datasets/CDNOW_master.txt"
        )
    )
    frame = pd.read_csv(path, sep=r"\s+", dtype=str)
    assert list(frame.columns) == ["customer_id", "date", "number_of_cds", "dollar_value"]
    return frame


def _landing(tmp_path: Path, log: pd.DataFrame, dates: pd.Series) -> Path:
    """A landing folder with the log as one orders file (one order per purchase line)."""
    landing = tmp_path / "landing"
    landing.mkdir()
    pd.DataFrame(
        {
            "order_id": [f"CD{i:06d}" for i in range(1, len(log) + 1)],
            "customer_id": log["customer_id"],
            "order_date": dates,
            "amount": log["dollar_value"],
        }
    ).to_csv(landing / "orders_cdnow.csv", index=False)
    return landing


def test_cdnow_1997_1998_refreshes_as_of_1998_07_01(tmp_path: Path) -> None:
    log = cdnow_log()
    assert len(log) == 69_659
    # The log has no order id: each line is one purchase. Dates stay as CDNOW writes them
    # (19970101), read through the mapping's date_format.
    landing = _landing(tmp_path, log, log["date"])
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("entities:\n  orders:\n    date_format: '%Y%m%d'\n")
    code, output, warehouse = run_refresh(landing, tmp_path, AS_OF, "--mapping", str(mapping))
    assert code == 0, output

    # Independent expectation from the log itself (pandas).
    log["day"] = pd.to_datetime(log["date"], format="%Y%m%d").dt.date
    log["amount"] = log["dollar_value"].map(Decimal)
    per_customer = log.groupby("customer_id").agg(
        last=("day", "max"), orders=("day", "size"), monetary=("amount", "sum")
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        read, accepted, deferred, rejected = con.execute(
            "select rows_read, rows_accepted, rows_deferred, rows_rejected from clean.load_log"
        ).fetchone()
        first, last = con.execute(
            "select min(order_date), max(order_date) from clean.orders"
        ).fetchone()
        scored = con.execute(
            """select m.source_customer_id, r.recency_days, r.frequency, r.monetary
               from marts.customer_rfm r
               join identity.customer_identity_map m on m.customer_id = r.customer_id"""
        ).fetchall()
    assert (read, accepted, deferred, rejected) == (69_659, 69_659, 0, 0)
    assert (first, last) == (dt.date(1997, 1, 1), dt.date(1998, 6, 30))
    assert len(scored) == per_customer.shape[0] == 23_570
    actual = {cid: (rec, freq, mon) for cid, rec, freq, mon in scored}
    for cid in ("00001", "00002", "23570"):
        row = per_customer.loc[cid]
        assert actual[cid] == ((AS_OF - row["last"]).days, row["orders"], row["monetary"]), cid


def test_cdnow_as_of_inside_the_log_defers_the_rest(tmp_path: Path) -> None:
    """As of 1997-12-31, the 1998 purchases are deferred, not rejected: the gates pass."""
    log = cdnow_log()
    day = pd.to_datetime(log["date"], format="%Y%m%d")
    # ISO dates this time: no mapping needed.
    landing = _landing(tmp_path, log, day.dt.strftime("%Y-%m-%d"))
    code, output, warehouse = run_refresh(landing, tmp_path, dt.date(1997, 12, 31))
    assert code == 0, output
    later = int((day > pd.Timestamp("1997-12-31")).sum())
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select rows_accepted, rows_deferred, rows_rejected from clean.load_log"
        ).fetchone() == (len(log) - later, later, 0)
        assert con.execute("select count(*) from clean.quarantine").fetchone()[0] == 0
