"""The demo's marketing inputs: contacts, spend, star products and the planted customers."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from test_demo_generator import AS_OF, CUSTOMERS, ORDERS, SEED, faults_of, read_landing

from pipeline.demo import DemoSummary, generate_demo
from pipeline.demo.marketing import STAR_PRODUCT


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    """The small demo of test_demo_generator (same arguments, so the same bytes)."""
    return generate_demo(
        tmp_path_factory.mktemp("demo"), customers=CUSTOMERS, orders=ORDERS, seed=SEED, as_of=AS_OF
    )


def _valid(frame: pd.DataFrame, demo: DemoSummary) -> pd.DataFrame:
    faults = faults_of(demo)
    bad = set(zip(faults["file"], faults["row"], strict=True))
    keep = [(f, r) not in bad for f, r in zip(frame["_file"], frame["_row"], strict=True)]
    return frame[keep]


def test_contacts_reach_exported_customers_with_consent_before_as_of(demo: DemoSummary) -> None:
    contacts = _valid(read_landing(demo, "campaign_contacts.csv"), demo)
    customers = pd.concat(
        [read_landing(demo, "customers.csv"), read_landing(demo, "customers_store.csv")]
    ).drop_duplicates("customer_id")
    identity = pd.read_csv(demo.identity_path, dtype=str)
    exported = identity.loc[identity["in_customer_file"] == "true", "customer_id"]
    assert len(contacts) > CUSTOMERS  # about 1.4 contacts per customer record
    # Campaign tools are fed from the CRM: never a record missing from the customer exports.
    assert contacts["customer_id"].isin(set(exported)).all()
    assert set(contacts["channel"]) == {"email", "sms", "mail"}
    sent = pd.to_datetime(contacts["contacted_at"])
    assert (sent < datetime.combine(AS_OF + timedelta(days=1), datetime.min.time())).all()
    assert (sent > datetime.combine(AS_OF - timedelta(days=400), datetime.min.time())).all()
    # E-mails and SMS only to customers who opted in (store file writes booleans as 0/1).
    consent = customers.set_index("customer_id")["marketing_opt_in"].isin(["true", "1"])
    electronic = contacts[
        contacts["channel"].isin(["email", "sms"]) & contacts["customer_id"].isin(consent.index)
    ]
    assert consent.loc[electronic["customer_id"]].all()
    prefixes = {c.split("-")[0] for c in contacts["campaign_id"]}
    assert prefixes == {"REACTIVATION", "SOLDES", "VIP", "BIENVENUE", "PANIER"}
    # The welcome journey gives no cost; paid channels always do.
    welcome = contacts["campaign_id"].str.startswith("BIENVENUE")
    assert (contacts.loc[welcome, "cost"] == "").all()
    assert (contacts.loc[~welcome, "cost"] != "").all()


def test_spend_has_a_line_per_month_and_channel_and_two_for_web(demo: DemoSummary) -> None:
    spend = read_landing(demo, "marketing_spend.csv")
    months = pd.to_datetime(_valid(spend, demo)["month"])
    assert months.max() == pd.Timestamp(AS_OF.replace(day=1))
    # Counted on the month the spend id names (a fault may have broken the month column).
    spend["label"] = spend["spend_id"].str[-7:]
    per_month = spend.groupby(["label", "channel"]).size().unstack()
    assert len(per_month) == 37
    assert set(per_month.columns) == {"web", "store", "app", "phone"}
    assert (per_month["web"].dropna() == 2).all() and (per_month["store"].dropna() == 1).all()
    assert spend["spend_id"].is_unique
    faults = faults_of(demo)
    assert set(faults.loc[faults["file"] == "marketing_spend.csv", "expected_reason_code"]) == {
        "negative_amount",
        "unparsable_date",
    }
    assert set(faults.loc[faults["file"] == "campaign_contacts.csv", "expected_reason_code"]) == {
        "missing_required",
        "unparsable_date",
        "deferred",
    }


def test_planted_customers_are_in_the_files(demo: DemoSummary) -> None:
    known = pd.read_csv(
        demo.ground_truth_dir / "known_customers.csv", dtype=str, keep_default_na=False
    ).set_index("role")
    contacts = read_landing(demo, "campaign_contacts.csv")
    converted = known.loc["converted_contact"]
    mine = contacts[
        (contacts["customer_id"] == converted["customer_id"])
        & (contacts["campaign_id"] == converted["campaign_id"])
    ]
    assert len(mine) == 2
    first_contact = pd.to_datetime(mine["contacted_at"]).min().date()
    orders = pd.concat([read_landing(demo, f"orders_{y}.csv") for y in (2023, 2024, 2025, 2026)])
    theirs = orders[
        (orders["customer_id"] == converted["customer_id"]) & (orders["status"] == "completed")
    ]
    days = [(date.fromisoformat(d) - first_contact).days for d in theirs["order_date"]]
    assert sum(0 <= d <= 30 for d in days) >= 2

    star = known.loc["star_buyer"]
    assert star["product_id"].endswith(f"-{STAR_PRODUCT:04d}")
    lines = read_landing(demo, "order_lines.csv")
    bought = lines[
        lines["order_id"].isin(orders.loc[orders["customer_id"] == star["customer_id"], "order_id"])
    ]
    assert star["product_id"] in set(bought["product_id"])


def test_star_products_are_what_loyal_customers_buy(demo: DemoSummary) -> None:
    lines = read_landing(demo, "order_lines.csv")
    star = lines["product_id"].str.endswith(f"-{STAR_PRODUCT:04d}")
    # 8 star products out of 8 x 250: far above the 0.4% a uniform draw would give.
    assert star.mean() > 0.05
    assert lines.loc[star, "product_id"].nunique() == 8
