"""Backfill dates, and a real backfill building segment history and transition matrices."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipeline.automation.backfill import add_months, backfill_as_of_dates, run_backfill
from pipeline.automation.cli import backfill
from pipeline.lib.resources import RefreshSettings, Warehouse
from tests.warehouse_helpers import create_unread_sources


def test_backfill_dates_every_three_months() -> None:
    dates = backfill_as_of_dates(dt.date(2024, 10, 1), dt.date(2026, 7, 1), 3)
    assert len(dates) == 8
    assert dates[0] == dt.date(2024, 10, 1) and dates[-1] == dt.date(2026, 7, 1)
    assert [d.month for d in dates[:4]] == [10, 1, 4, 7]


def test_backfill_dates_clamp_month_ends_without_drift() -> None:
    dates = backfill_as_of_dates(dt.date(2024, 1, 31), dt.date(2024, 5, 31), 1)
    assert dates == [
        dt.date(2024, 1, 31),
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 31),
        dt.date(2024, 4, 30),
        dt.date(2024, 5, 31),
    ]
    assert add_months(dt.date(2025, 11, 30), 3) == dt.date(2026, 2, 28)


def test_backfill_dates_reject_bad_ranges() -> None:
    with pytest.raises(ValueError, match="before start"):
        backfill_as_of_dates(dt.date(2025, 1, 1), dt.date(2024, 1, 1), 3)
    with pytest.raises(ValueError, match="at least 1"):
        backfill_as_of_dates(dt.date(2024, 1, 1), dt.date(2025, 1, 1), 0)


def test_backfill_command_dry_run_lists_dates() -> None:
    result = CliRunner().invoke(
        backfill,
        ["--start", "2025-01-01", "--end", "2025-12-31", "--every-months", "6", "--dry-run"],
    )
    assert result.exit_code == 0, result.output
    assert "2 as-of date(s): 2025-01-01, 2025-07-01" in result.output


def test_backfill_refuses_an_empty_warehouse(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="run a refresh first"):
        run_backfill([dt.date(2025, 1, 1)], warehouse=Warehouse(path=str(tmp_path / "none.duckdb")))


def test_backfill_holds_the_writer_lock_from_its_first_date_to_its_last(
    tmp_path: Path, monkeypatch
) -> None:
    """No other writer can slip in between two dates: another process finds the lock taken."""
    import subprocess
    import sys

    from pipeline.automation import backfill as backfill_module

    warehouse = tmp_path / "warehouse.duckdb"
    probe = (
        "import sys; from pathlib import Path\n"
        "from pipeline.lib.writer_lock import acquire, WarehouseBusy\n"
        "try:\n    acquire(Path(sys.argv[1]), 'probe', wait=False)\n"
        "except WarehouseBusy as busy:\n    print(busy.holder); sys.exit(4)\n"
    )
    seen: list[tuple[int, str]] = []

    def between_dates(dates, **_):
        steps = []
        for as_of in dates:
            other = subprocess.run(
                [sys.executable, "-c", probe, str(warehouse)], capture_output=True, text=True
            )
            seen.append((other.returncode, other.stdout.strip()))
            steps.append(backfill_module.BackfillStep(as_of, f"run-{as_of}", True))
        return steps

    monkeypatch.setattr(backfill_module, "run_backfill", between_dates)
    result = CliRunner().invoke(
        backfill,
        ["--start", "2025-01-01", "--end", "2025-07-01", "--every-months", "6"]
        + ["--warehouse", str(warehouse)],
    )
    assert result.exit_code == 0, result.output
    assert "backfilled 2 refresh(es)" in result.output
    assert [code for code, _ in seen] == [4, 4]
    assert all("segments backfill of 2 as-of date(s)" in holder for _, holder in seen)
    # Released at the end: the next writer gets it at once.
    after = subprocess.run([sys.executable, "-c", probe, str(warehouse)])
    assert after.returncode == 0


# --- A real backfill over 4 half-years ------------------------------------------------------------

HISTORY_START = dt.date(2023, 1, 1)
HISTORY_END = dt.date(2026, 7, 1)


def _write_clean_warehouse(path: Path, customers: int = 80, seed: int = 5) -> None:
    """clean.* and identity.* tables (docs/contracts.md) with ~3.5 years of varied customers."""
    rng = random.Random(seed)
    span = (HISTORY_END - HISTORY_START).days
    orders, nps, golden, mapping = [], [], [], []
    for c in range(customers):
        master = f"M{c:04d}"
        joined = HISTORY_START + dt.timedelta(days=rng.randrange(span // 2))
        golden.append((master, dt.datetime.combine(joined, dt.time())))
        mapping.append((f"S{c:04d}", master))
        # Some customers buy often and recently, others stop early: segments move over time.
        active_until = joined + dt.timedelta(days=rng.randrange(60, span))
        for _ in range(rng.randint(1, 14)):
            last = min(active_until, HISTORY_END)
            day = joined + dt.timedelta(days=rng.randrange(max(1, (last - joined).days)))
            orders.append(
                (
                    f"O{len(orders):06d}",
                    f"S{c:04d}",
                    day,
                    round(rng.uniform(10, 400), 2),
                    "EUR",
                    rng.choice(["completed"] * 9 + ["returned"]),
                    rng.choice(["web", "store"]),
                    None,
                    0,
                    "orders.csv",
                    len(orders) + 1,
                )
            )
            if rng.random() < 0.3:
                nps.append((f"N{len(nps):05d}", f"S{c:04d}", day, rng.randint(0, 10)))
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema clean; create schema identity")
        con.execute(
            "create table clean.orders (order_id varchar primary key, customer_id varchar,"
            " order_date date, amount decimal(18,2), currency varchar, status varchar,"
            " channel varchar, promo_code varchar, discount_amount decimal(18,2),"
            " _source_file varchar, _source_row bigint)"
        )
        con.executemany(f"insert into clean.orders values ({', '.join('?' * 11)})", orders)
        con.execute(
            "create table clean.nps_responses (response_id varchar, customer_id varchar,"
            " responded_at date, score integer, _source_file varchar)"
        )
        con.executemany("insert into clean.nps_responses values (?, ?, ?, ?, 'nps.csv')", nps)
        con.execute(
            "create table clean.refunds (refund_id varchar, customer_id varchar,"
            " order_id varchar, refunded_at date, amount decimal(18,2))"
        )
        con.execute(
            "create table clean.order_lines (order_id varchar, line_number integer,"
            " product_id varchar, category varchar, quantity integer, unit_price decimal(18,2))"
        )
        con.execute(
            "create table clean.support_tickets (ticket_id varchar, customer_id varchar,"
            " created_at date, topic varchar)"
        )
        create_unread_sources(con)
        con.execute(
            "create table identity.customer_identity_map (source_customer_id varchar primary key,"
            " customer_id varchar)"
        )
        con.executemany("insert into identity.customer_identity_map values (?, ?)", mapping)
        con.execute(
            "create table identity.customers (customer_id varchar primary key, email varchar,"
            " created_at timestamp, updated_at timestamp, country varchar,"
            " marketing_opt_in boolean, derived_from_orders boolean, completeness_score double,"
            " freshness_days integer, source_record_count integer, birth_date date, gender varchar,"
            " region varchar)"
        )
        con.executemany(
            "insert into identity.customers values "
            "(?, null, ?, ?, 'FR', true, false, 1.0, 0, 1, null, null, null)",
            [(m, created, created) for m, created in golden],
        )
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.integration
def test_backfill_builds_history_and_transitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    warehouse = Warehouse(path=str(tmp_path / "wh.duckdb"))
    settings = RefreshSettings(
        state_dir=str(tmp_path / "state"),
        identity_overrides_file=str(tmp_path / "none.yaml"),
    )
    _write_clean_warehouse(warehouse.resolved_path())
    # Half-yearly: four refreshes (each a real dbt run) are enough to read three transitions.
    dates = backfill_as_of_dates(dt.date(2024, 10, 1), dt.date(2026, 7, 1), 6)
    assert len(dates) == 4

    steps = run_backfill(dates, settings=settings, warehouse=warehouse)
    assert [s.as_of for s in steps] == dates
    assert all(s.success for s in steps)

    def snapshot() -> dict[str, object]:
        with warehouse.connect(read_only=True) as con:
            q = con.execute
            return {
                "refreshes": q(
                    "select as_of, count(*), count(distinct customer_id)"
                    " from history.segment_history group by as_of order by as_of"
                ).fetchall(),
                "kpis": q(
                    "select count(distinct as_of), count(*) from history.kpi_history"
                ).fetchone(),
                "pairs": q(
                    "select from_as_of, to_as_of, sum(customers) from history.segment_transitions"
                    " group by from_as_of, to_as_of order by from_as_of"
                ).fetchall(),
                "both": q(
                    "select a.as_of, count(*) from history.segment_history a"
                    " join history.segment_history b on a.customer_id = b.customer_id"
                    " and b.as_of = (select min(as_of) from history.segment_history"
                    "  where as_of > a.as_of) group by a.as_of order by a.as_of"
                ).fetchall(),
                "moved": q("select count(*) from history.customer_segment_changes").fetchone()[0],
                "off_diagonal": q(
                    "select sum(customers) from history.segment_transitions"
                    " where from_segment <> to_segment"
                ).fetchone()[0],
                "last_rfm": q("select count(*) from marts.customer_rfm").fetchone()[0],
            }

    first = snapshot()
    refreshes = first["refreshes"]
    assert [r[0] for r in refreshes] == dates
    assert all(rows == distinct and rows > 0 for _, rows, distinct in refreshes)
    # Customers join over time: the history is not the same table four times.
    assert refreshes[0][1] < refreshes[-1][1]
    assert refreshes[-1][1] == first["last_rfm"]
    assert first["kpis"][0] == 4
    # 3 matrices, one per consecutive pair, each summing to the customers present in both.
    pairs = first["pairs"]
    assert [(p[0], p[1]) for p in pairs] == list(zip(dates, dates[1:], strict=False))
    assert [(p[0], p[2]) for p in pairs] == first["both"]
    assert first["moved"] == first["off_diagonal"] > 0

    # Re-running an as-of date replaces its rows: nothing is duplicated.
    again = run_backfill([dates[2]], settings=settings, warehouse=warehouse)
    assert again[0].success
    second = snapshot()
    assert second["refreshes"] == refreshes
    assert second["pairs"] == pairs
    assert second["kpis"] == first["kpis"]
