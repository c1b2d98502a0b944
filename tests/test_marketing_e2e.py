"""The marketing marts on a real refresh of the demo: published, described, and following the
planted customers of the demo's ground truth through the whole pipeline."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

pytestmark = [pytest.mark.integration]

MARKETING_MARTS = {
    "segment_support_themes",
    "segment_star_products",
    "segment_campaign_kpis",
    "acquisition_costs",
    "segment_personas",
    "segment_persona_breakdowns",
    "segment_priority",
    "customer_dimensions",
    "rfm_grid",
    "campaign_exclusion_summary",
}


def _known(refreshed: dict) -> dict[str, dict[str, str]]:
    path = Path(refreshed["demo"]) / "ground_truth" / "known_customers.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["role"]: row for row in csv.DictReader(handle)}


def _master_id(con: duckdb.DuckDBPyConnection, source_id: str) -> str:
    row = con.execute(
        "select customer_id from identity.customer_identity_map where source_customer_id = ?",
        [source_id],
    ).fetchone()
    assert row, f"{source_id} missing from the identity map"
    return row[0]


def _serving(refreshed: dict) -> Path:
    return Path(refreshed["state"]) / "serving" / "segments.duckdb"


def test_the_refresh_publishes_the_marketing_marts(refreshed: dict) -> None:
    with duckdb.connect(str(_serving(refreshed)), read_only=True) as con:
        counts = dict(con.execute("select table_name, row_count from refresh_tables").fetchall())
    assert MARKETING_MARTS <= set(counts)
    for table in MARKETING_MARTS:
        assert counts[table] > 0, table


def test_every_published_column_carries_its_description(refreshed: dict) -> None:
    """100% of the serving file's tables and columns have a comment (the dbt description)."""
    with duckdb.connect(str(_serving(refreshed)), read_only=True) as con:
        tables = con.execute(
            "select table_name, comment from duckdb_tables() "
            "where database_name = current_database() and schema_name = 'main'"
        ).fetchall()
        columns = con.execute(
            "select table_name, column_name, comment from duckdb_columns() "
            "where database_name = current_database() and schema_name = 'main'"
        ).fetchall()
        dictionary = con.execute("select count(*) from data_dictionary").fetchone()[0]
        published = con.execute("select table_count from refresh_info").fetchone()[0]
    # Every mart, seed and history table, plus refresh_info, refresh_tables, data_dictionary.
    assert len(tables) == published + 3 and published >= 24
    assert len(columns) >= 300
    assert [t for t, comment in tables if not comment] == []
    assert [(t, c) for t, c, comment in columns if not comment] == []
    assert dictionary == len(tables) + len(columns)


def test_bi_customer_dimensions_are_coarse_and_pseudonymous(refreshed: dict) -> None:
    with duckdb.connect(str(_serving(refreshed)), read_only=True) as con:
        columns = [
            name
            for (name,) in con.execute(
                "select column_name from duckdb_columns() where table_name = "
                "'customer_dimensions' order by column_index"
            ).fetchall()
        ]
        bands = {
            b
            for (b,) in con.execute("select distinct age_band from customer_dimensions").fetchall()
        }
        keys, rows = con.execute(
            "select count(distinct customer_key), count(*) from customer_dimensions"
        ).fetchone()
        scored = con.execute(
            "select count(*) from customer_dimensions where segment <> 'Unscored'"
        ).fetchone()[0]
        rfm = con.execute("select count(*) from customer_rfm").fetchone()[0]
        joined = con.execute(
            "select count(*) from customer_dimensions join customer_rfm using (customer_key)"
        ).fetchone()[0]
    assert columns[:2] == ["refresh_id", "customer_key"]
    assert not {"customer_id", "birth_date", "email", "phone", "first_name"} & set(columns)
    assert {"age_band", "gender", "region", "country", "acquisition_channel"} <= set(columns)
    assert {"acquisition_month", "marketing_opt_in"} <= set(columns)
    assert bands <= {"<25", "25-34", "35-44", "45-54", "55-64", "65+", "unknown"}
    assert keys == rows and scored == rfm == joined


def test_a_contact_converting_within_the_window_counts_once(refreshed: dict) -> None:
    """The planted customer got two basket reminders before two orders of the window: one
    conversion, both orders attributed once, and the campaign counts them once."""
    known = _known(refreshed)["converted_contact"]
    with duckdb.connect(str(refreshed["warehouse"]), read_only=True) as con:
        master = _master_id(con, known["customer_id"])
        contacts, converted, orders = con.execute(
            "select contacts, is_converted, attributed_orders "
            "from intermediate.int_campaign_contacts__conversions "
            "where campaign_id = ? and customer_id = ?",
            [known["campaign_id"], master],
        ).fetchone()
        rows_of_customer = con.execute(
            "select count(*) from intermediate.int_campaign_contacts__conversions "
            "where campaign_id = ? and customer_id = ?",
            [known["campaign_id"], master],
        ).fetchone()[0]
        campaign_converted, per_customer = con.execute(
            "select k.converted_customers, (select count(*) from "
            "intermediate.int_campaign_contacts__conversions c where c.campaign_id = ? "
            "and c.is_converted) from marts.segment_campaign_kpis k "
            "where k.campaign_id = ? and k.segment = 'All'",
            [known["campaign_id"], known["campaign_id"]],
        ).fetchone()
        segment = con.execute(
            "select segment from marts.customer_rfm where customer_id = ?", [master]
        ).fetchone()[0]
        segment_row = con.execute(
            "select converted_customers from marts.segment_campaign_kpis "
            "where campaign_id = ? and segment = ?",
            [known["campaign_id"], segment],
        ).fetchone()[0]
    assert (contacts, converted, rows_of_customer) == (2, True, 1)
    assert orders >= 2
    assert campaign_converted == per_customer
    assert segment_row >= 1


def test_a_champions_star_product_tops_the_champions_list(refreshed: dict) -> None:
    """The planted loyal customer is a Champion and their star product ranks in the Champions'
    top products, bought more by Champions than by customers in general."""
    known = _known(refreshed)["star_buyer"]
    with duckdb.connect(str(refreshed["warehouse"]), read_only=True) as con:
        master = _master_id(con, known["customer_id"])
        segment = con.execute(
            "select segment from marts.customer_rfm where customer_id = ?", [master]
        ).fetchone()[0]
        star = con.execute(
            "select revenue_rank, lift, customers from marts.segment_star_products "
            "where segment = 'Champions' and level = 'product' and item = ?",
            [known["product_id"]],
        ).fetchone()
    assert segment == "Champions"
    rank, lift, buyers = star
    assert rank is not None and rank <= 10, star
    assert lift > 1 and buyers >= 10


def test_priority_follows_the_seed_and_lost_ranks_last(refreshed: dict) -> None:
    with duckdb.connect(str(refreshed["warehouse"]), read_only=True) as con:
        ranks = dict(
            con.execute("select segment, priority_rank from marts.segment_priority").fetchall()
        )
        customers = dict(
            con.execute("select segment, customers from marts.segment_priority").fetchall()
        )
    populated = [s for s in ranks if customers[s] > 0 and s != "Lost"]
    assert all(ranks["Lost"] > ranks[s] for s in populated)
    assert ranks["Champions"] == 1
    assert ranks["Can't Lose Them"] < ranks["Hibernating"]
