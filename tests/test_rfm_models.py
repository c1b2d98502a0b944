"""The dbt RFM, segment, cohort and KPI models against an independent pandas reference.

A synthetic warehouse (clean.* and identity.* tables as in docs/contracts.md) is written under
tmp_path; dbt builds it four times in one module-scoped fixture:
  1. `build` with the defaults (rank, N = 5, net, all history) at AS_OF,
  2. `run` with score_method = ntile at AS_OF,
  3. `build` at an earlier date with other knobs (N = 7, gross, 365-day lookback, quarters),
  4. `run` with the defaults at AS_OF again (must reproduce run 1 exactly).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.rfm_reference import reference_cohorts, reference_rfm
from tests.warehouse_helpers import create_unread_sources, invoke_dbt

pytestmark = [pytest.mark.integration]

AS_OF = dt.date(2026, 10, 1)
EARLY_AS_OF = dt.date(2025, 6, 30)
EARLY_VARS = {
    "as_of": EARLY_AS_OF.isoformat(),
    "score_buckets": 7,
    "monetary_mode": "gross",
    "lookback_days": 365,
    "cohort_grain": "quarter",
}
MART_TABLES = [
    "customer_rfm",
    "rfm_cut_points",
    "cohort_retention",
    "cohort_segment_retention",
    "cohort_season_comparison",
    "segment_kpis",
    "customer_preferences",
    "campaign_exclusions",
]
HISTORY_START = dt.date(2023, 1, 2)
CATEGORIES = ["books", "garden", "kitchen", "toys"]
CHANNELS = ["app", "store", "web"]


# --------------------------------------------------------------------------- synthetic warehouse
def _synthetic_rows(seed: int = 11) -> dict[str, list[tuple]]:
    """Random customers plus hand-made ones whose segment is known in advance."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[tuple]] = {
        "orders": [],
        "refunds": [],
        "order_lines": [],
        "nps": [],
        "tickets": [],
        "map": [],
        "golden": [],
    }
    counter = {"order": 0, "refund": 0, "ticket": 0, "nps": 0}

    def customer(master: str, sources: list[str], created: dt.date = HISTORY_START) -> None:
        rows["golden"].append((master, dt.datetime.combine(created, dt.time())))
        for source in sources:
            rows["map"].append((source, master))

    def order(
        source: str,
        day: dt.date,
        amount: float,
        status: str = "completed",
        promo: str | None = None,
        channel: str = "web",
        category: str = "books",
    ) -> str:
        counter["order"] += 1
        order_id = f"O{counter['order']:06d}"
        rows["orders"].append((order_id, source, day, amount, status, channel, promo))
        rows["order_lines"].append((order_id, 1, "P1", category, 1, amount))
        return order_id

    def refund(source: str, order_id: str | None, day: dt.date, amount: float) -> None:
        counter["refund"] += 1
        rows["refunds"].append((f"R{counter['refund']:06d}", source, order_id, day, amount))

    def ticket(source: str, day: dt.date) -> None:
        counter["ticket"] += 1
        rows["tickets"].append((f"T{counter['ticket']:06d}", source, day, "delivery"))

    span = (dt.date(2026, 12, 31) - HISTORY_START).days
    for i in range(1, 301):
        master, source = f"M{i:04d}", f"S{i:04d}"
        customer(master, [source])
        n_orders = int(min(rng.geometric(0.35), 9))
        for _ in range(n_orders):
            day = HISTORY_START + dt.timedelta(days=int(rng.integers(0, span)))
            amount = float(rng.choice([20, 35, 50, 75, 120, 200]))  # few values: many ties
            status = str(rng.choice(["completed", "returned", "cancelled"], p=[0.83, 0.1, 0.07]))
            promo = "WELCOME10" if rng.random() < 0.2 else None
            order_id = order(
                source,
                day,
                amount,
                status,
                promo,
                str(rng.choice(CHANNELS)),
                str(rng.choice(CATEGORIES)),
            )
            if status == "returned":
                refund(source, order_id, day + dt.timedelta(days=12), amount)
        if rng.random() < 0.1:  # goodwill refund without order id
            refund(source, None, HISTORY_START + dt.timedelta(days=int(rng.integers(0, span))), 5.0)
        for _ in range(int(rng.poisson(0.6))):
            ticket(source, HISTORY_START + dt.timedelta(days=int(rng.integers(0, span))))
        if rng.random() < 0.3:
            counter["nps"] += 1
            day = AS_OF - dt.timedelta(days=int(rng.integers(0, 500)))
            rows["nps"].append((f"N{counter['nps']:06d}", source, day, int(rng.integers(0, 11))))

    # Hand-made customers (master id = what the marts show).
    customer("CHAMPION", ["X_CHAMPION"])
    for k in range(12):
        order("X_CHAMPION", AS_OF - dt.timedelta(days=30 * k), 900.0)
    customer("LOST", ["X_LOST"])
    order("X_LOST", HISTORY_START, 1.0)
    customer("NEWBIE", ["X_NEWBIE"])
    order("X_NEWBIE", AS_OF, 1.0, promo="WELCOME10")
    customer("CANT_LOSE", ["X_CANT_LOSE"])
    for k in range(12):
        order("X_CANT_LOSE", HISTORY_START + dt.timedelta(days=7 * k), 800.0)
    # Refund without order id lowers monetary; a refund after as-of does not.
    customer("REFUNDED", ["X_REFUNDED"])
    order("X_REFUNDED", dt.date(2026, 3, 10), 200.0)
    refund("X_REFUNDED", None, dt.date(2026, 4, 1), 50.0)
    refund("X_REFUNDED", None, dt.date(2026, 10, 2), 70.0)
    # One person exported under two source ids, merged by identity resolution.
    customer("MERGED", ["X_MERGED_A", "X_MERGED_B"])
    order("X_MERGED_A", dt.date(2025, 2, 1), 40.0)
    order("X_MERGED_B", dt.date(2026, 5, 5), 60.0)
    order("X_MERGED_B", dt.date(2026, 9, 9), 80.0, status="returned")
    refund("X_MERGED_A", None, dt.date(2026, 9, 20), 80.0)  # attributed through the map
    order("X_MERGED_A", dt.date(2026, 9, 30), 999.0, status="cancelled")
    # Prospects: only cancelled orders, only orders after as-of, no orders at all.
    customer("CANCELLER", ["X_CANCELLER"])
    order("X_CANCELLER", dt.date(2026, 1, 1), 30.0, status="cancelled")
    customer("LATECOMER", ["X_LATECOMER"])
    order("X_LATECOMER", dt.date(2026, 11, 1), 30.0)
    customer("WINDOW_SHOPPER", ["X_WINDOW_SHOPPER"])
    # Identical twins must get identical scores.
    for twin in ("TWIN_A", "TWIN_B"):
        customer(twin, [f"X_{twin}"])
        order(f"X_{twin}", dt.date(2026, 2, 14), 75.0)
        order(f"X_{twin}", dt.date(2026, 6, 14), 75.0)
    # Serial returner with heavy support use.
    customer("RETURNER", ["X_RETURNER"])
    for month in (2, 4, 6):
        order_id = order("X_RETURNER", dt.date(2026, month, 1), 50.0, status="returned")
        refund("X_RETURNER", order_id, dt.date(2026, month, 10), 50.0)
        ticket("X_RETURNER", dt.date(2026, month, 5))
        ticket("X_RETURNER", dt.date(2026, month, 6))
    return rows


def _write_warehouse(path: Path) -> None:
    rows = _synthetic_rows()
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema clean; create schema identity")
        con.execute(
            "create table clean.orders (order_id varchar primary key, customer_id varchar, "
            "order_date date, amount decimal(18,2), currency varchar, status varchar, "
            "channel varchar, promo_code varchar, discount_amount decimal(18,2), "
            "_source_file varchar, _source_row bigint)"
        )
        con.executemany(
            "insert into clean.orders values (?, ?, ?, ?, 'EUR', ?, ?, ?, 0, 'orders.csv', 1)",
            rows["orders"],
        )
        con.execute(
            "create table clean.refunds (refund_id varchar, customer_id varchar, order_id varchar, "
            "refunded_at date, amount decimal(18,2))"
        )
        con.executemany("insert into clean.refunds values (?, ?, ?, ?, ?)", rows["refunds"])
        con.execute(
            "create table clean.order_lines (order_id varchar, line_number integer, "
            "product_id varchar, category varchar, quantity integer, unit_price decimal(18,2))"
        )
        con.executemany(
            "insert into clean.order_lines values (?, ?, ?, ?, ?, ?)", rows["order_lines"]
        )
        con.execute(
            "create table clean.nps_responses (response_id varchar, customer_id varchar, "
            "responded_at date, score integer, _source_file varchar)"
        )
        con.executemany(
            "insert into clean.nps_responses values (?, ?, ?, ?, 'nps.csv')", rows["nps"]
        )
        con.execute(
            "create table clean.support_tickets (ticket_id varchar, customer_id varchar, "
            "created_at date, topic varchar)"
        )
        con.executemany("insert into clean.support_tickets values (?, ?, ?, ?)", rows["tickets"])
        con.execute(
            "create table identity.customer_identity_map (source_customer_id varchar primary key, "
            "customer_id varchar)"
        )
        con.executemany("insert into identity.customer_identity_map values (?, ?)", rows["map"])
        con.execute(
            "create table identity.customers (customer_id varchar primary key, email varchar, "
            "created_at timestamp, updated_at timestamp, country varchar, "
            "marketing_opt_in boolean, derived_from_orders boolean, completeness_score double, "
            "freshness_days integer, source_record_count integer, birth_date date, gender varchar, "
            "region varchar)"
        )
        con.executemany(
            "insert into identity.customers values "
            "(?, null, ?, null, 'FR', true, false, 1, 0, 1, null, null, null)",
            rows["golden"],
        )
        create_unread_sources(con)
    finally:
        con.close()


# --------------------------------------------------------------------------- dbt runs
def _invoke(command: str, warehouse: Path, work: Path, *options: str, **dbt_vars: object):
    """Run one dbt command on `warehouse`, with dbt's artifacts and logs under `work`."""
    # History, and the monitoring model that reads it (built only by the monitoring job).
    exclude = ("--exclude", "path:models/history", "path:models/monitoring")
    return invoke_dbt(command, warehouse, work, *options, *exclude, **dbt_vars)


def _dbt(command: str, warehouse: Path, work: Path, **dbt_vars: object):
    result = _invoke(command, warehouse, work, **dbt_vars)
    assert result.success, f"dbt {command} failed: {result.exception or result.result}"
    return result


def _snapshot(warehouse: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(warehouse))
    try:
        return {name: con.execute(f"select * from marts.{name}").df() for name in MART_TABLES}
    finally:
        con.close()


def _reference(warehouse: Path, as_of: dt.date, **kwargs: object) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse))
    try:
        return reference_rfm(con, as_of, **kwargs)
    finally:
        con.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("rfm_models")
    warehouse = work / "warehouse.duckdb"
    _write_warehouse(warehouse)
    out: dict[str, object] = {"warehouse": warehouse, "manifest": work / "target" / "manifest.json"}
    # With the unit tests, which a refresh leaves out (pipeline/segments/assets.py).
    built = _dbt("build", warehouse, work, as_of=AS_OF.isoformat())
    out["unit_tests"] = {
        r.node.name: str(r.status) for r in built.result if r.node.resource_type == "unit_test"
    }
    out["rank"] = _snapshot(warehouse)
    out["ref_rank"] = _reference(warehouse, AS_OF)
    con = duckdb.connect(str(warehouse))
    try:
        out["ref_cohorts"] = reference_cohorts(con, AS_OF)
        out["ref_early_cohorts"] = reference_cohorts(
            con, EARLY_AS_OF, grain="quarter", monetary_mode="gross"
        )
    finally:
        con.close()
    _dbt("run", warehouse, work, as_of=AS_OF.isoformat(), score_method="ntile")
    out["ntile"] = _snapshot(warehouse)
    out["ref_ntile"] = _reference(warehouse, AS_OF, method="ntile")
    _dbt("build", warehouse, work, **EARLY_VARS)  # data tests under other knobs too
    out["early"] = _snapshot(warehouse)
    out["ref_early"] = _reference(
        warehouse, EARLY_AS_OF, n=7, monetary_mode="gross", lookback_days=365
    )
    _dbt("run", warehouse, work, as_of=AS_OF.isoformat())
    out["rank_again"] = _snapshot(warehouse)
    return out


# --------------------------------------------------------------------------- helpers
def _mart_rfm(snapshot: dict[str, pd.DataFrame]) -> pd.DataFrame:
    mart = snapshot["customer_rfm"].sort_values("customer_id").reset_index(drop=True)
    mart["monetary"] = mart["monetary"].astype(float)
    for column in ("first_order_date", "last_order_date"):
        mart[column] = pd.to_datetime(mart[column]).dt.date
    return mart


def _assert_matches_reference(mart: pd.DataFrame, reference: pd.DataFrame) -> None:
    assert list(mart["customer_id"]) == list(reference["customer_id"])
    for column in ("recency_days", "frequency", "r_score", "f_score", "m_score"):
        assert mart[column].astype(int).tolist() == reference[column].astype(int).tolist(), column
    for column in ("first_order_date", "last_order_date", "rfm_code"):
        assert mart[column].tolist() == reference[column].tolist(), column
    np.testing.assert_allclose(mart["monetary"], reference["monetary"], atol=0.005)


def _customer(snapshot: dict[str, pd.DataFrame], customer_id: str) -> pd.Series:
    mart = snapshot["customer_rfm"]
    match = mart[mart["customer_id"] == customer_id]
    assert len(match) == 1, f"{customer_id} should be scored once"
    return match.iloc[0]


# ------------------------------------------------------------------ equality with reference
def test_rank_scores_equal_the_reference(runs):
    _assert_matches_reference(_mart_rfm(runs["rank"]), runs["ref_rank"])


def test_ntile_scores_equal_the_reference(runs):
    mart = _mart_rfm(runs["ntile"])
    _assert_matches_reference(mart, runs["ref_ntile"])
    # NTILE fills buckets evenly: sizes differ by at most one.
    sizes = mart["r_score"].value_counts()
    assert sizes.max() - sizes.min() <= 1 and len(sizes) == 5


def test_other_knobs_at_an_earlier_date_equal_the_reference(runs):
    mart = _mart_rfm(runs["early"])
    _assert_matches_reference(mart, runs["ref_early"])
    assert mart["r_score"].max() == 7
    assert (mart["last_order_date"] <= EARLY_AS_OF).all()
    assert (mart["last_order_date"] > EARLY_AS_OF - dt.timedelta(days=365)).all()
    assert set(mart["as_of"].astype(str)) == {EARLY_AS_OF.isoformat()}


def test_cohort_retention_equals_the_reference(runs):
    for snapshot, reference in (
        (runs["rank"], runs["ref_cohorts"]),
        (runs["early"], runs["ref_early_cohorts"]),
    ):
        mart = snapshot["cohort_retention"].sort_values(["cohort", "period_index"])
        mart = mart.reset_index(drop=True)
        assert [pd.Timestamp(c).date() for c in mart["cohort"]] == list(reference["cohort"])
        for column in ("period_index", "cohort_size", "active_customers", "orders"):
            assert mart[column].astype(int).tolist() == reference[column].tolist(), column
        for column in ("retention_rate", "revenue", "clv_to_date"):
            np.testing.assert_allclose(mart[column].astype(float), reference[column], atol=1e-6)
        assert (mart.loc[mart["period_index"] == 0, "retention_rate"] == 1.0).all()


# --------------------------------------------------------------------------- known customers
def test_hand_made_customers_land_in_their_segment(runs):
    snapshot = runs["rank"]
    expected = {
        "CHAMPION": ("555", "Champions"),
        "LOST": ("111", "Lost"),
        "NEWBIE": ("511", "New"),
        "CANT_LOSE": ("155", "Can't Lose Them"),
    }
    for customer_id, (code, segment) in expected.items():
        row = _customer(snapshot, customer_id)
        assert (row["rfm_code"], row["segment"]) == (code, segment), customer_id
    champion = _customer(snapshot, "CHAMPION")
    assert champion["label_fr"] == "Champions" and champion["priority"] == 1
    assert "VIP" in champion["recommended_action"]


def test_refunds_identity_map_and_prospects(runs):
    snapshot = runs["rank"]
    refunded = _customer(snapshot, "REFUNDED")
    assert float(refunded["monetary"]) == 150.0  # 200 - 50 without order id; later refund ignored
    merged = _customer(snapshot, "MERGED")
    # Three qualifying orders from two source ids (the returned one counts), cancelled one not;
    # monetary = 40 + 60 + 80 - 80 refund.
    assert (merged["frequency"], float(merged["monetary"])) == (3, 100.0)
    assert merged["recency_days"] == (AS_OF - dt.date(2026, 9, 9)).days
    scored = set(snapshot["customer_rfm"]["customer_id"])
    assert not {"CANCELLER", "LATECOMER", "WINDOW_SHOPPER"} & scored
    kpis = snapshot["segment_kpis"].set_index("segment")
    # Prospects: customers without a qualifying order up to as-of (random ones included).
    reference_ids = set(runs["ref_rank"]["customer_id"])
    con = duckdb.connect(str(runs["warehouse"]))
    try:
        masters = {
            r[0] for r in con.execute("select customer_id from identity.customers").fetchall()
        }
    finally:
        con.close()
    assert kpis.loc["All", "prospects"] == len(masters - reference_ids)
    assert kpis.loc["All", "customers"] == len(reference_ids)
    assert kpis.drop(index="All")["customers"].sum() == len(reference_ids)
    assert pd.isna(kpis.loc["Champions", "prospects"])


def test_exclusions_list_every_reason(runs):
    exclusions = runs["rank"]["campaign_exclusions"]
    reasons = exclusions.groupby("customer_id")["reason"].apply(set)
    assert reasons["RETURNER"] == {"serial_returner", "support_heavy"}
    assert reasons["NEWBIE"] == {"one_time_promo_buyer"}
    assert "lost_segment" in reasons["LOST"]
    assert "CHAMPION" not in reasons.index
    lost = set(runs["rank"]["customer_rfm"].query("segment == 'Lost'")["customer_id"])
    assert lost == {c for c, r in reasons.items() if "lost_segment" in r}
    assert not exclusions.duplicated(["customer_id", "reason"]).any()


def test_segment_kpis_are_consistent(runs):
    kpis = runs["rank"]["segment_kpis"].set_index("segment")
    assert len(kpis) == 12 and "All" in kpis.index
    mart = runs["rank"]["customer_rfm"]
    overall = kpis.loc["All"]
    assert overall["share"] == 1.0
    assert float(overall["revenue"]) == pytest.approx(mart["monetary"].astype(float).sum())
    assert overall["avg_recency_days"] == pytest.approx(mart["recency_days"].mean())
    churned = (mart["recency_days"] >= 180).mean()
    assert overall["churn_rate"] == pytest.approx(churned)
    assert kpis.drop(index="All")["share"].sum() == pytest.approx(1.0)


# --------------------------------------------------------------------------- properties
def _goodness(mart: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "r_score": -mart["recency_days"].to_numpy(dtype=float),
        "f_score": mart["frequency"].to_numpy(dtype=float),
        "m_score": mart["monetary"].astype(float).to_numpy(),
    }


@pytest.mark.parametrize("run", ["rank", "ntile", "early"])
def test_better_customers_never_score_lower(runs, run):
    """Pairwise over all customers: better on a dimension never means a lower score, and a
    customer strictly more recent, more frequent and richer than another has no lower score."""
    mart = runs[run]["customer_rfm"]
    goodness = _goodness(mart)
    dominates = np.ones((len(mart), len(mart)), dtype=bool)
    for score, values in goodness.items():
        scores = mart[score].to_numpy()
        better = values[:, None] > values[None, :]
        assert not (better & (scores[:, None] < scores[None, :])).any(), score
        dominates &= values[:, None] > values[None, :]
    for score in goodness:
        scores = mart[score].to_numpy()
        assert not (dominates & (scores[:, None] < scores[None, :])).any(), score


@pytest.mark.parametrize("run", ["rank", "early"])
def test_identical_values_get_identical_scores_with_rank(runs, run):
    mart = runs[run]["customer_rfm"]
    for score, values in _goodness(mart).items():
        per_value = pd.Series(mart[score].to_numpy()).groupby(values).nunique()
        assert (per_value == 1).all(), score
    twins = mart.set_index("customer_id").loc[["TWIN_A", "TWIN_B"]] if run == "rank" else None
    if twins is not None:
        assert twins[["r_score", "f_score", "m_score", "rfm_code", "segment"]].nunique().eq(1).all()


def test_rank_scores_follow_the_formula():
    """The reference itself: floor(N * (min rank - 1) / count) + 1 on a hand-checked example."""
    from tests.rfm_reference import ntile_scores, rank_scores

    values = pd.Series([10.0, 10.0, 20.0, 30.0, 30.0, 99.0])
    assert rank_scores(values, 5).tolist() == [1, 1, 2, 3, 3, 5]
    assert rank_scores(pd.Series([400, 300, 300, 100]), 5, higher_is_better=False).tolist() == [
        1,
        2,
        2,
        4,
    ]
    ids = pd.Series(["d", "c", "b", "a"])
    assert ntile_scores(pd.Series([1, 1, 1, 1]), ids, 3).tolist() == [3, 2, 1, 1]


def test_every_dbt_unit_test_ran_and_passed(runs):
    manifest = json.loads(Path(runs["manifest"]).read_text())
    declared = {test["name"] for test in manifest["unit_tests"].values()}
    assert len(declared) >= 9
    assert runs["unit_tests"] == dict.fromkeys(declared, "pass")


# --------------------------------------------------------------------------- reproducibility
def test_same_as_of_twice_gives_identical_tables(runs):
    for name in MART_TABLES:
        first = runs["rank"][name]
        again = runs["rank_again"][name]
        keys = list(first.columns)
        pd.testing.assert_frame_equal(
            first.sort_values(keys).reset_index(drop=True),
            again.sort_values(keys).reset_index(drop=True),
            obj=name,
        )


def test_earlier_as_of_ignores_later_orders(runs):
    early = runs["early"]["customer_rfm"].set_index("customer_id")
    # MERGED ordered on 2025-02-01, 2026-05-05 and 2026-09-09: only the first is visible.
    assert early.loc["MERGED", "frequency"] == 1
    assert float(early.loc["MERGED", "monetary"]) == 40.0
    assert early.loc["MERGED", "recency_days"] == (EARLY_AS_OF - dt.date(2025, 2, 1)).days
    # Every CHAMPION order is later than the early date: not scored at all.
    assert "CHAMPION" not in early.index
    assert "NEWBIE" not in early.index and "REFUNDED" not in early.index
    cohorts = runs["early"]["cohort_retention"]
    assert pd.to_datetime(cohorts["period_start"]).max().date() <= EARLY_AS_OF
    assert set(cohorts["cohort_grain"]) == {"quarter"}


# --------------------------------------------------------------------------- model rules (dbt)
def _failing_dbt_tests(warehouse: Path, work: Path, select: str, **dbt_vars: object) -> set[str]:
    """Names of the dbt data tests of `select` that fail on `warehouse`."""
    options = ("--select", select, "--exclude-resource-type", "unit_test")
    result = _invoke("test", warehouse, work, *options, as_of=AS_OF.isoformat(), **dbt_vars)
    assert result.exception is None, result.exception
    return {r.node.name for r in result.result if r.status == "fail"}


def _broken_rules(warehouse: Path, work: Path, model: str, **dbt_vars: object) -> set[tuple]:
    """(column, rule, failing rows) of the `column_rules` test of `model` on `warehouse`.

    `--store-failures` keeps the rows the failing test returned in a table named after it.
    """
    options = ("--select", model, "--exclude-resource-type", "unit_test", "--store-failures")
    result = _invoke("test", warehouse, work, *options, as_of=AS_OF.isoformat(), **dbt_vars)
    assert result.exception is None, result.exception
    name = f"column_rules_{model}"
    if name not in {r.node.name for r in result.result if r.status == "fail"}:
        return set()
    with duckdb.connect(str(warehouse)) as con:
        (schema,) = con.execute(
            "select table_schema from information_schema.tables where table_name = ?", [name]
        ).fetchone()
        rows = con.execute(f'select column_name, rule, failing_rows from "{schema}"."{name}"')
        return {tuple(row) for row in rows.fetchall()}


@pytest.fixture
def tampered(runs, tmp_path: Path) -> Path:
    """A copy of the built warehouse, free to break."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(runs["warehouse"])) as con:
        con.execute("checkpoint")  # everything in the file itself, nothing left in its WAL
    shutil.copyfile(runs["warehouse"], path)
    return path


def test_segment_map_rules_are_dbt_tests_that_fail_on_missing_or_repeated_codes(
    runs, tampered, tmp_path
):
    """dbt owns the seed's rules (docs/quality.md): every code 111..555 mapped exactly once."""
    assert _failing_dbt_tests(tampered, tmp_path, "segment_map") == set()
    with duckdb.connect(str(tampered)) as con:
        con.execute("delete from marts.segment_map where rfm_code in ('111', '345')")
    failing = _failing_dbt_tests(tampered, tmp_path, "segment_map")
    assert "assert_segment_map_covers_every_code_once" in failing
    # The scored codes refer to the map too: a customer scored 111 has no segment.
    assert any(name.startswith("relationships_customer_rfm_rfm_code") for name in failing)
    with duckdb.connect(str(tampered)) as con:
        con.execute("insert into marts.segment_map select * from marts.segment_map limit 1")
    assert "unique_segment_map_rfm_code" in _failing_dbt_tests(tampered, tmp_path, "segment_map")


def test_customer_rfm_scores_outside_the_scale_and_unsegmented_customers_fail_dbt_tests(
    runs, tampered, tmp_path
):
    """The model's rules moved from the GX gate to its YAML; the scale follows score_buckets."""
    customers = runs["rank"]["customer_rfm"]["customer_id"].sort_values().tolist()
    with duckdb.connect(str(tampered)) as con:
        con.execute(
            "update marts.customer_rfm set r_score = 6 where customer_id = ?", [customers[0]]
        )
        con.execute(
            "update marts.customer_rfm set segment = null where customer_id = ?", [customers[1]]
        )
    # One test holds the model's column rules; its rows name each broken rule and its count.
    assert _broken_rules(tampered, tmp_path, "customer_rfm") == {
        ("segment", "not_null", 1),
        ("r_score", "between 1 and 5", 1),
    }
    # On a 1..7 scale a score of 6 is fine.
    assert _broken_rules(tampered, tmp_path, "customer_rfm", score_buckets=7) == {
        ("segment", "not_null", 1)
    }
