"""The optional marketing inputs: campaign contacts and marketing spend, cleaned like the rest."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from test_ingest_support import assert_invariant, quarantine, run, write

from pipeline.ingest.clean import GENERATED_ID, KEYS, OUTPUT
from pipeline.ingest.entities import ENTITIES

CONTACTS = (
    "campaign_id,customer_id,contacted_at,channel,cost\n"
    "WINBACK-24,C1,2024-03-01 09:00:00,email,0.02\n"  # 1 ok
    "WINBACK-24,C1,2024-03-01 09:00:00,email,0.02\n"  # 2 exact copy of row 1 (row 2 kept)
    "WINBACK-24,C2,2024-03-01,sms,-1\n"  # 3 ok, cost nulled (negative_amount)
    "WINBACK-24,,2024-03-01,sms,0.05\n"  # 4 missing_required customer_id
    "WINBACK-24,C3,2024-02-30,sms,0.05\n"  # 5 unparsable_date
    "WINBACK-24,C3,2025-06-01,sms,0.05\n"  # 6 after the as-of 2024-12-31: deferred
    "VIP-24,C1,2024-06-01,mail,\n"  # 7 ok, no cost
)
SPEND = (
    "month;channel;spend\n"
    "2024-03-01;web;1 200,50\n"  # 1 ok (decimal comma, thousands space)
    "2024-03-15;web;300,00\n"  # 2 ok: a second line of the same month and channel
    "2024-03-01;store;-5,00\n"  # 3 negative_amount (spend is required: rejected)
    "2024-03-01;;10,00\n"  # 4 missing_required channel
    "mars 2024;app;10,00\n"  # 5 unparsable_date
    "2025-01-01;web;99,00\n"  # 6 a month after the as-of 2024-12-31: deferred
)
REJ = "rejected"
ORDERS = "order_id,customer_id,order_date,amount\nA1,C1,2024-01-05,10\n"


def test_marketing_entities_are_declared_once_with_key_and_generated_id() -> None:
    for name, column in (("campaign_contacts", "contact_id"), ("marketing_spend", "spend_id")):
        spec = ENTITIES[name]
        assert KEYS[name] == (column,)
        assert GENERATED_ID[name][0] == column
        # Output columns come from the EntitySpec, in its order, typed by kind.
        assert [c for c, _ in OUTPUT[name]] == list(spec.columns)
    assert dict(OUTPUT["marketing_spend"])["spend"] == "DECIMAL(18,2)"
    assert dict(OUTPUT["campaign_contacts"])["contacted_at"] == "TIMESTAMP"


def test_campaign_contacts_quarantine_and_generated_ids(tmp_path: Path) -> None:
    write(tmp_path / "orders.csv", ORDERS)
    write(tmp_path / "campaign_contacts.csv", CONTACTS)
    con, _, report = run(tmp_path)
    assert [q for q in quarantine(con) if q[0] == "campaign_contacts"] == [
        ("campaign_contacts", "campaign_contacts.csv", 1, None, "duplicate_row", "rejected"),
        (
            "campaign_contacts",
            "campaign_contacts.csv",
            3,
            "cost",
            "negative_amount",
            "field_nulled",
        ),
        (
            "campaign_contacts",
            "campaign_contacts.csv",
            4,
            "customer_id",
            "missing_required",
            "rejected",
        ),
        (
            "campaign_contacts",
            "campaign_contacts.csv",
            5,
            "contacted_at",
            "unparsable_date",
            "rejected",
        ),
    ]
    rows = con.execute(
        "SELECT contact_id, campaign_id, customer_id, contacted_at, channel, cost, _source_row "
        "FROM clean.campaign_contacts ORDER BY _source_row"
    ).fetchall()
    assert [r[1:] for r in rows] == [
        ("WINBACK-24", "C1", dt.datetime(2024, 3, 1, 9), "email", Decimal("0.02"), 2),
        ("WINBACK-24", "C2", dt.datetime(2024, 3, 1), "sms", None, 3),
        ("VIP-24", "C1", dt.datetime(2024, 6, 1), "mail", None, 7),
    ]
    # Generated ids: deterministic, distinct, prefixed.
    ids = [r[0] for r in rows]
    assert all(i.startswith("CC-") and len(i) == 19 for i in ids) and len(set(ids)) == 3
    again, _, _ = run(tmp_path)
    assert [
        r[0]
        for r in again.execute(
            "SELECT contact_id FROM clean.campaign_contacts ORDER BY _source_row"
        ).fetchall()
    ] == ids
    counts = report.entities["campaign_contacts"]
    assert (counts.rows_read, counts.accepted, counts.deferred, counts.rejected) == (7, 3, 1, 3)
    assert counts.fields_nulled == 1
    # Contacts never create customers: a contact is not a purchase nor a CRM record.
    assert "campaign_contacts" not in report.derived_by_entity
    assert_invariant(con)


def test_marketing_spend_lines_of_one_month_are_kept(tmp_path: Path) -> None:
    write(tmp_path / "orders.csv", ORDERS)
    write(tmp_path / "marketing_spend_2024.csv", SPEND)
    con, _, report = run(tmp_path)
    assert quarantine(con) == [
        ("marketing_spend", "marketing_spend_2024.csv", 3, "spend", "negative_amount", REJ),
        ("marketing_spend", "marketing_spend_2024.csv", 4, "channel", "missing_required", REJ),
        ("marketing_spend", "marketing_spend_2024.csv", 5, "month", "unparsable_date", REJ),
    ]
    assert con.execute(
        "SELECT month, channel, spend FROM clean.marketing_spend ORDER BY _source_row"
    ).fetchall() == [
        (dt.date(2024, 3, 1), "web", Decimal("1200.50")),
        (dt.date(2024, 3, 15), "web", Decimal("300.00")),
    ]
    spend = report.entities["marketing_spend"]
    assert (spend.rows_read, spend.accepted, spend.deferred, spend.rejected) == (6, 2, 1, 3)
    assert_invariant(con)


def test_absent_marketing_files_leave_empty_clean_tables(tmp_path: Path) -> None:
    write(tmp_path / "orders.csv", ORDERS)
    con, _, _ = run(tmp_path)
    for table in ("campaign_contacts", "marketing_spend"):
        assert con.execute(f"SELECT count(*) FROM clean.{table}").fetchone()[0] == 0
