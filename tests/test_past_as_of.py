"""A past as-of date on a full export: the same segments as the export cut at that date, and as
the backfill of that date, customer by customer (through the real `segments` commands).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli, run_refresh

from pipeline.demo.generator import MESSY_ENCODING, MESSY_FILE
from pipeline.ingest.entities import AS_OF_COLUMNS, ENTITIES_BY_PREFIX

pytestmark = [pytest.mark.integration]

#: A quarter before the demo's as-of date (2026-10-01): three months of rows come later.
PAST = dt.date(2026, 7, 1)


def _day(value: str) -> dt.date | None:
    text = value.strip()[:10]
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def cut_export(source: Path, target: Path, day: dt.date) -> int:
    """Copy a landing folder without the rows dated after `day` (byte for byte otherwise).

    What a source system would have exported on `day`: orders, refunds, NPS answers, tickets
    and customers dated later are left out, and so are the lines of the orders left out.
    Rows without a readable date stay (the pipeline judges them). Returns the rows cut.
    """
    target.mkdir(parents=True)
    cut_orders: set[str] = set()
    kept_orders: set[str] = set()
    removed = 0
    names = sorted(p.name for p in source.iterdir())
    # Orders first: their lines follow them.
    for name in sorted(names, key=lambda n: not n.startswith("orders")):
        entity = next(e for e in ENTITIES_BY_PREFIX if name.startswith(e))
        encoding = MESSY_ENCODING if name == MESSY_FILE else "utf-8"
        delimiter = ";" if name == MESSY_FILE else ","
        header, *lines = (source / name).read_bytes().decode(encoding).split("\n")
        columns = next(csv.reader([header.rstrip("\r")], delimiter=delimiter))
        kept = [header]
        for line in lines:
            fields = next(csv.reader(io.StringIO(line.rstrip("\r")), delimiter=delimiter), [])
            drop = False
            if entity in AS_OF_COLUMNS and len(fields) > columns.index(AS_OF_COLUMNS[entity]):
                when = _day(fields[columns.index(AS_OF_COLUMNS[entity])])
                drop = when is not None and when > day
            if entity == "orders" and fields:
                (cut_orders if drop else kept_orders).add(fields[0])
            if entity == "order_lines" and fields:
                drop = fields[0] in cut_orders and fields[0] not in kept_orders
            removed += drop
            if not drop:
                kept.append(line)
        (target / name).write_bytes("\n".join(kept).encode(encoding))
    return removed


def _customers(warehouse: Path) -> dict[str, tuple]:
    """Per source customer id: its master customer's RFM values, scores and segment."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            """select m.source_customer_id, r.recency_days, r.frequency, r.monetary,
                      r.r_score, r.f_score, r.m_score, r.segment, r.first_order_date
               from identity.customer_identity_map m
               join marts.customer_rfm r on r.customer_id = m.customer_id"""
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def _refresh(landing: Path, root: Path, as_of: dt.date) -> tuple[Path, str]:
    code, output, warehouse = run_refresh(landing, root, as_of)
    assert code == 0, output
    return warehouse, output


def test_a_past_as_of_equals_the_cut_export_and_the_backfill(
    refreshed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = Path(refreshed["landing"])
    # 1. A refresh as of PAST on the full export (from `segments demo --as-of 2026-10-01`).
    past, output = _refresh(full, tmp_path / "past", PAST)
    assert "deferred" in output
    with duckdb.connect(str(past), read_only=True) as con:
        deferred, rejected, read = con.execute(
            "select sum(rows_deferred), sum(rows_rejected), sum(rows_read) from clean.load_log"
        ).fetchone()
        latest = con.execute("select max(order_date) from clean.orders").fetchone()[0]
    assert deferred > 1000 and latest <= PAST
    assert rejected < 0.02 * (read - deferred)

    # 2. The same date on the export cut at PAST.
    cut = tmp_path / "cut"
    removed = cut_export(full, cut, PAST)
    assert removed > 1000
    from_cut, _ = _refresh(cut, tmp_path / "cut_run", PAST)

    # 3. The backfill of PAST on the warehouse of the full refresh as of 2026-10-01.
    backfilled = tmp_path / "backfill.duckdb"
    shutil.copy(refreshed["warehouse"], backfilled)
    monkeypatch.setenv("SEGMENTS_STATE_DIR", str(tmp_path / "backfill_state"))
    code, output = run_cli(
        "backfill",
        "--start", PAST.isoformat(),
        "--end", PAST.isoformat(),
        "--warehouse", str(backfilled),
    )  # fmt: skip
    assert code == 0, output

    expected = _customers(past)
    assert len(expected) > 500
    assert _customers(from_cut) == expected
    # The backfill reuses the latest load, whose identity map also holds the records created
    # after PAST (later sign-ups joining existing customers): the same customers, more ids.
    backfill = _customers(backfilled)
    assert {k: backfill[k] for k in expected} == expected
    with duckdb.connect(str(past), read_only=True) as con:
        later = {
            customer_id
            for (customer_id,) in con.execute(
                "select customer_id from raw.customers where coalesce("
                "try_strptime(created_at, '%d/%m/%Y %H:%M'), try_cast(created_at as timestamp))"
                " >= ?",
                [PAST + dt.timedelta(days=1)],
            ).fetchall()
        }
    assert set(backfill) - set(expected) <= later
    with duckdb.connect(str(past), read_only=True) as con:
        segments = con.execute(
            "select segment, customers, revenue from marts.segment_kpis order by 1"
        ).fetchall()
    for other in (from_cut, backfilled):
        with duckdb.connect(str(other), read_only=True) as con:
            assert (
                con.execute(
                    "select segment, customers, revenue from marts.segment_kpis order by 1"
                ).fetchall()
                == segments
            )


#: Fifteen months before the demo's as-of: `orders_2026.csv` then lies almost entirely after it.
FAR_PAST = dt.date(2025, 6, 30)


def test_a_file_lying_after_a_far_past_as_of_does_not_block_on_its_undated_faults(
    demo_dir: Path, tmp_path: Path
) -> None:
    """Rows without a usable date cannot be deferred: against the handful of rows of a file left
    in a far past window they once made a 0.85 quarantine rate and blocked the refresh."""
    warehouse, _ = _refresh(demo_dir / "landing", tmp_path / "far", FAR_PAST)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        read, accepted, deferred, rejected = con.execute(
            "select rows_read, rows_accepted, rows_deferred, rows_rejected from clean.load_log "
            "where source_file = 'orders_2026.csv'"
        ).fetchone()
        quarantined = con.execute(
            "select count(*) from clean.quarantine "
            "where source_file = 'orders_2026.csv' and action = 'rejected'"
        ).fetchone()[0]
        latest = con.execute("select max(order_date) from clean.orders").fetchone()[0]
        scored = con.execute("select count(*) from marts.customer_rfm").fetchone()[0]
    # The trap is really there: fewer than 100 rows of the file are in the window, and their
    # rejected share is above the 10 % ceiling...
    assert read - deferred < 100 and rejected > 0.1 * (read - deferred)
    # ...yet the file is judged on every row it holds, and nothing is lost.
    assert rejected <= 0.1 * read
    assert read == accepted + deferred + rejected and quarantined == rejected
    assert latest <= FAR_PAST and scored > 300
