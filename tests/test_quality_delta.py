"""Delta validation (pipeline/quality/delta_scope.py): after a delta cleaning, the clean gates
validate the rows it wrote and the rows sharing their keys, and the whole tables whenever they
cannot vouch for the rest (a full cleaning, a failed or missing earlier validation, other gate
parameters, an earlier as-of date)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from test_ingest_delta import BASE, DELTA, _clean, _write
from test_ingest_support import AS_OF, DATE_FLOOR

from pipeline.ingest.delta import VALIDATED
from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.quality.checks import evaluate_gate
from pipeline.quality.runner import GateOutcome
from pipeline.quality.suites import SuiteDefinitionError, gate_names, load_gate, parse_gate

GATES = ("clean_orders", "clean_customers", "clean_refunds")


def gate(db: Path, tmp_path: Path, name: str, as_of: dt.date = AS_OF, **quality) -> GateOutcome:
    settings = RefreshSettings(
        as_of=as_of.isoformat(),
        state_dir=str(tmp_path / "state"),
        # The fixture's files repeat rows on purpose: every rejection rate is allowed.
        quality={"date_floor": DATE_FLOOR.isoformat(), "quarantine_ceiling": 1.0, **quality},
    )
    return evaluate_gate(
        load_gate(name), Warehouse(path=str(db)), settings, "run", build_docs=False
    )


def rows(outcome: GateOutcome) -> dict[str, int]:
    return outcome.metadata()["suite_rows"]


def clean(db: Path, landing: Path, **options) -> None:
    with duckdb.connect(str(db)) as con:
        _clean(con, landing, **options)


@pytest.fixture
def warehouse(tmp_path: Path) -> tuple[Path, Path]:
    """The base files cleaned (full) and gated, then the delta files landed and cleaned."""
    landing, db = tmp_path / "landing", tmp_path / "w.duckdb"
    _write(landing, BASE)
    clean(db, landing)
    for name in GATES:
        outcome = gate(db, tmp_path, name)
        assert outcome.passed and outcome.scope.startswith("whole tables: no earlier"), name
    _write(landing, DELTA)
    clean(db, landing)
    return db, landing


def test_a_delta_cleaning_is_validated_on_its_rows_and_the_rows_sharing_their_keys(
    warehouse, tmp_path: Path
) -> None:
    db, _ = warehouse
    orders = gate(db, tmp_path, "clean_orders")
    assert orders.passed, orders.summary()
    assert orders.scope.startswith("the rows the delta cleaning wrote")
    with duckdb.connect(str(db), read_only=True) as con:
        total = con.execute("SELECT count(*) FROM clean.orders").fetchone()[0]
        # O1, O2, O3, O5, O6 were cleaned again; O4 stands as it was.
        kept = con.execute("SELECT count(*) FROM clean.orders__delta").fetchone()[0]
        files = con.execute(
            "SELECT count(*) FROM clean.load_log WHERE entity = 'orders'"
        ).fetchone()[0]
    # The quarantine rates read the load log whole.
    assert rows(orders)["clean.orders.quarantine_rate"] == files == 3
    assert rows(orders)["clean.orders"] == kept == 5 < total == 6
    customers = gate(db, tmp_path, "clean_customers")
    # C1's new version and C9's record; C2 and C3 stand.
    assert customers.passed and rows(customers)["clean.customers"] == 2
    # Nothing cleaned since: the same rows again.
    assert rows(gate(db, tmp_path, "clean_orders"))["clean.orders"] == 5


def test_a_bad_row_in_the_delta_fails_and_the_next_delta_then_validates_everything(
    warehouse, tmp_path: Path
) -> None:
    db, landing = warehouse
    # A row the cleaning wrote wrong (in the table and in the delta's copy).
    with duckdb.connect(str(db)) as con:
        for table in ("clean.orders", "clean.orders__delta"):
            con.execute(f"UPDATE {table} SET amount = -1 WHERE order_id = 'O6'")
    failed = gate(db, tmp_path, "clean_orders")
    assert not failed.passed
    assert any("amount" in e.name for e in failed.errors)
    # A new month lands: a delta cleaning that leaves O6 alone. The gate failed on the tables
    # it started from, so it validates them whole and still sees O6.
    _write(
        landing,
        {"orders_2025.csv": "order_id,customer_id,order_date,amount\nO7,C2,2024-11-01,7.00\n"},
    )
    clean(db, landing)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT mode FROM clean.cleaning_state").fetchone()[0] == "delta"
    again = gate(db, tmp_path, "clean_orders")
    assert again.scope == "whole tables: the last validation of this gate failed"
    assert not again.passed and rows(again)["clean.orders"] == 7


def test_a_key_repeated_outside_the_delta_is_in_the_batch_with_it(tmp_path: Path) -> None:
    """An old clean row carrying a key the delta brings (a cleaning bug, planted here) is
    outside the delta's raw rows, yet in the batch with the new row: uniqueness fails."""
    landing, db = tmp_path / "landing", tmp_path / "w.duckdb"
    _write(landing, BASE)
    clean(db, landing)
    assert gate(db, tmp_path, "clean_orders").passed
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE clean.orders SET order_id = 'O6' WHERE order_id = 'O4'")
    _write(landing, DELTA)  # brings O6
    clean(db, landing)
    outcome = gate(db, tmp_path, "clean_orders")
    assert outcome.scope.startswith("the rows the delta cleaning wrote")
    assert not outcome.passed
    assert [e.name for e in outcome.errors] == [
        "clean.orders: expect_column_values_to_be_unique(order_id)"
    ]


def test_the_entities_validated_by_delta_are_those_of_the_delta_suites() -> None:
    declared = {
        suite.delta.split(".")[1]
        for name in gate_names()
        for suite in load_gate(name).suites
        if suite.delta
    }
    assert declared == set(VALIDATED)


def test_other_parameters_a_full_cleaning_or_an_earlier_as_of_validate_everything(
    warehouse, tmp_path: Path
) -> None:
    db, landing = warehouse
    changed = gate(db, tmp_path, "clean_orders", quarantine_min_rows=5)
    assert changed.scope == "whole tables: the gate parameters changed since its last validation"
    assert rows(changed)["clean.orders"] == 6
    # Passed with those parameters: the same ones again validate the delta rows.
    later = gate(db, tmp_path, "clean_orders", AS_OF + dt.timedelta(days=31), quarantine_min_rows=5)
    assert later.scope.startswith("the rows the delta cleaning wrote")
    earlier = gate(
        db, tmp_path, "clean_orders", AS_OF - dt.timedelta(days=1), quarantine_min_rows=5
    )
    assert earlier.scope.startswith("whole tables: the as-of date moved back")
    clean(db, landing, full=True)
    full = gate(db, tmp_path, "clean_orders", quarantine_min_rows=5)
    assert full.scope == "whole tables: full cleaning" and rows(full)["clean.orders"] == 6


def test_a_delta_suite_must_read_its_clean_table() -> None:
    text = """
gate: g
suites:
  - name: s
    delta: clean.orders
    query: SELECT order_id FROM clean.orders_archive
    expectations:
      - {type: expect_column_values_to_not_be_null, kwargs: {column: order_id}}
"""
    with pytest.raises(SuiteDefinitionError, match="delta must name a clean table"):
        parse_gate(text)
