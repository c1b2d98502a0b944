"""Tests of the deterministic demo data generator (pipeline.demo)."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.demo import DemoSummary, generate_demo, main
from pipeline.demo.faults import KEPT, QUARANTINED, REASON_CODES
from pipeline.demo.generator import MESSY_FILE
from pipeline.ingest.rules import REASONS as INGEST_REASONS

AS_OF = date(2026, 10, 1)
CUSTOMERS = 500
ORDERS = 2500
SEED = 11
STATUSES = {"completed", "cancelled", "returned"}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
AMOUNT_RE = re.compile(r"^\d+\.\d{2}$")
REASONS = {
    "missing_required",
    "unparsable_date",
    "implausible_date",
    "deferred",
    "extra_fields",
    "missing_fields",
    "invalid_amount",
    "negative_amount",
    "unknown_status",
    "duplicate_order_id",
    "unknown_customer",
    "invalid_email",
}


# ---------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    """The small demo every test reads."""
    return generate_demo(
        tmp_path_factory.mktemp("demo"), customers=CUSTOMERS, orders=ORDERS, seed=SEED, as_of=AS_OF
    )


@pytest.fixture(scope="module")
def cohort_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    """A larger demo (still ~1 s) for statistics that need a few hundred persons per month."""
    return generate_demo(
        tmp_path_factory.mktemp("cohort"), customers=3000, orders=15000, seed=5, as_of=AS_OF
    )


def read_landing(summary: DemoSummary, name: str) -> pd.DataFrame:
    """A landing file as strings ('' for empty), with its 1-based data row number."""
    path = summary.landing_dir / name
    if path.suffix == ".parquet":
        frame = pq.read_table(path).to_pandas().fillna("")
        frame["_fields"] = len(frame.columns)
    else:
        messy = name == MESSY_FILE
        text = path.read_bytes().decode("cp1252" if messy else "utf-8")
        # Read row by row: shifted rows (a field too many or too few) must keep their place.
        header, *rows = csv.reader(io.StringIO(text, newline=""), delimiter=";" if messy else ",")
        width = len(header)
        frame = pd.DataFrame([(r + [""] * width)[:width] for r in rows], columns=header, dtype=str)
        frame["_fields"] = [len(r) for r in rows]
    frame["_row"] = np.arange(1, len(frame) + 1)
    frame["_file"] = name
    return frame


def landing_names(summary: DemoSummary, prefix: str) -> list[str]:
    return sorted(
        rel.removeprefix("landing/") for rel in summary.files if rel.startswith(f"landing/{prefix}")
    )


def orders_of(summary: DemoSummary) -> pd.DataFrame:
    return pd.concat(
        [read_landing(summary, n) for n in landing_names(summary, "orders_")], ignore_index=True
    )


def customers_of(summary: DemoSummary) -> pd.DataFrame:
    frames = []
    for name in landing_names(summary, "customers"):
        frame = read_landing(summary, name)
        if name == MESSY_FILE:
            # Bring the day-first dates to ISO so that both sources compare.
            frame["birth_date"] = [_day_first_to_iso(v) for v in frame["birth_date"]]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _day_first_to_iso(value: str) -> str:
    try:
        return datetime.strptime(value, "%d/%m/%Y").date().isoformat()
    except ValueError:
        return value


def faults_of(summary: DemoSummary) -> pd.DataFrame:
    frame = pd.read_csv(summary.faults_path, dtype={"row": int}, keep_default_na=False)
    return frame


def fault_keys(summary: DemoSummary) -> set[tuple[str, int]]:
    faults = faults_of(summary)
    return set(zip(faults["file"], faults["row"], strict=True))


def valid_only(frame: pd.DataFrame, summary: DemoSummary) -> pd.DataFrame:
    bad = fault_keys(summary)
    keep = [(f, r) not in bad for f, r in zip(frame["_file"], frame["_row"], strict=True)]
    return frame[keep]


def identity_of(summary: DemoSummary) -> pd.DataFrame:
    return pd.read_csv(summary.identity_path, dtype=str, keep_default_na=False)


def parse_day(value: str, day_first: bool) -> date | None:
    """The date in a date or timestamp value, None when unparsable."""
    text = value.split(" ")[0]
    try:
        if day_first:
            return datetime.strptime(text, "%d/%m/%Y").date()
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def checksums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def digits(phone: str) -> str:
    """National significant number of a French phone in any of the demo formats."""
    raw = re.sub(r"\D", "", phone)
    return raw[2:] if raw.startswith("33") else raw[1:]


# ---------------------------------------------------------------------------------------------
# determinism and counts


def test_same_arguments_give_identical_bytes(demo: DemoSummary, tmp_path: Path) -> None:
    again = generate_demo(
        tmp_path / "again", customers=CUSTOMERS, orders=ORDERS, seed=SEED, as_of=AS_OF
    )
    first, second = checksums(demo.out_dir), checksums(again.out_dir)
    assert len(first) == 15
    assert first == second
    other = generate_demo(
        tmp_path / "other", customers=CUSTOMERS, orders=ORDERS, seed=SEED + 1, as_of=AS_OF
    )
    changed = checksums(other.out_dir)
    assert changed["landing/orders_2025.csv"] != first["landing/orders_2025.csv"]


def test_files_and_counts(demo: DemoSummary) -> None:
    expected = {
        "customers.csv",
        MESSY_FILE,
        "orders_2023.csv",
        "orders_2024.csv",
        "orders_2025.csv",
        "orders_2026.csv",
        "refunds.csv",
        "order_lines.csv",
        "nps_responses.csv",
        "support_tickets.csv",
        "campaign_contacts.csv",
        "marketing_spend.csv",
    }
    assert {p.name for p in demo.landing_dir.iterdir()} == expected
    for rel, rows in demo.files.items():
        assert (
            len(
                read_landing(demo, rel.removeprefix("landing/"))
                if rel.startswith("landing/")
                else pd.read_csv(demo.out_dir / rel)
            )
            == rows
        ), rel
    assert demo.rows("customers") == CUSTOMERS
    assert demo.customer_records == CUSTOMERS
    assert demo.orders == ORDERS
    duplicates = (faults_of(demo)["expected_reason_code"] == "duplicate_order_id").sum()
    assert demo.rows("orders") == ORDERS + duplicates
    assert demo.rows("order_lines") >= ORDERS
    assert demo.faults == len(faults_of(demo))
    # ~9% of persons have 2-6 records, so persons are ~89% of the records.
    assert 0.85 * CUSTOMERS < demo.persons < 0.95 * CUSTOMERS


def test_orders_span_three_years_with_seasonal_peaks(demo: DemoSummary) -> None:
    orders = valid_only(orders_of(demo), demo)
    days = pd.to_datetime(orders["order_date"])
    assert days.min() >= pd.Timestamp("2023-10-01")
    assert days.max() <= pd.Timestamp(AS_OF)
    by_month = days.dt.month.value_counts()
    # Sales peaks: December/January and July beat the quiet spring months.
    assert by_month[12] + by_month[1] > 2 * (by_month[3] + by_month[4]) * 0.8
    assert by_month[7] > by_month[4]


# ---------------------------------------------------------------------------------------------
# faults


def _is_bad(reason: str, value: str, day_first: bool, context: dict) -> bool:
    if reason == "missing_required":
        return value == ""
    if reason == "unparsable_date":
        return value != "" and parse_day(value, day_first) is None
    if reason == "deferred":
        parsed = parse_day(value, day_first)
        return parsed is not None and AS_OF < parsed <= AS_OF + timedelta(days=60)
    if reason == "implausible_date":
        parsed = parse_day(value, day_first)
        return parsed is not None and parsed < date(1900, 1, 1)
    if reason == "extra_fields":
        return context["fields"] > context["width"]
    if reason == "missing_fields":
        return context["fields"] < 4
    if reason == "invalid_amount":
        try:
            float(value)
        except ValueError:
            return True
        return False
    if reason == "negative_amount":
        return float(value) < 0
    if reason == "unknown_status":
        return value not in STATUSES
    if reason == "invalid_email":
        return value != "" and not EMAIL_RE.match(value)
    if reason == "unknown_customer":
        return value != "" and value not in context["customer_ids"]
    if reason == "duplicate_order_id":
        return value in context["earlier_ids"][context["file"]]
    raise AssertionError(reason)


def test_every_fault_is_where_ground_truth_says(demo: DemoSummary) -> None:
    faults = faults_of(demo)
    assert set(faults["expected_reason_code"]) == REASONS
    # The demo plants only quarantine reasons the ingest emits, plus the rows it must keep.
    assert set(REASON_CODES) == REASONS
    assert set(QUARANTINED) <= set(INGEST_REASONS)
    assert not set(KEPT) & set(INGEST_REASONS)
    assert not faults.duplicated(["file", "row"]).any()  # one fault per row
    customer_ids = set(customers_of(demo)["customer_id"]) - {""}
    order_names = landing_names(demo, "orders_")
    earlier: dict[str, set[str]] = {}
    seen: set[str] = set()
    for name in order_names:
        earlier[name] = set(seen)
        seen |= set(read_landing(demo, name)["order_id"])
    frames = {name: read_landing(demo, name) for name in set(faults["file"])}
    for fault in faults.itertuples(index=False):
        row = frames[fault.file].iloc[fault.row - 1]
        assert row["_row"] == fault.row
        context = {
            "customer_ids": customer_ids,
            "earlier_ids": earlier,
            "file": fault.file,
            "fields": row["_fields"],
            "width": len(frames[fault.file].columns) - 3,
        }
        value = row[fault.column] if fault.column else ""
        assert _is_bad(fault.expected_reason_code, value, fault.file == MESSY_FILE, context), (
            fault,
            value,
        )


def test_rows_without_faults_are_valid(demo: DemoSummary) -> None:
    customers = customers_of(demo)
    customer_ids = set(customers["customer_id"]) - {""}
    clean_customers = valid_only(customers, demo)
    assert (clean_customers["customer_id"] != "").all()
    emails = clean_customers["email"]
    assert all(EMAIL_RE.match(e) for e in emails if e)
    for frame in (read_landing(demo, "customers.csv"), read_landing(demo, MESSY_FILE)):
        ok = valid_only(frame, demo)
        day_first = frame["_file"].iloc[0] == MESSY_FILE
        assert all(parse_day(v, day_first) is not None for v in ok["birth_date"] if v)
        assert all(parse_day(v, day_first) <= AS_OF for v in ok["created_at"])

    orders = valid_only(orders_of(demo), demo)
    assert orders["order_id"].is_unique
    assert orders["customer_id"].isin(customer_ids).all()
    assert all(AMOUNT_RE.match(v) for v in orders["amount"])
    assert all(AMOUNT_RE.match(v) for v in orders["discount_amount"])
    assert set(orders["status"]) == STATUSES
    assert all(parse_day(v, False) <= AS_OF for v in orders["order_date"])
    assert set(orders["channel"]) == {"web", "store", "app", "phone"}
    assert (orders["currency"] == "EUR").all()

    refunds = valid_only(read_landing(demo, "refunds.csv"), demo)
    assert all(AMOUNT_RE.match(v) and float(v) > 0 for v in refunds["amount"])
    assert all(parse_day(v, False) <= AS_OF for v in refunds["refunded_at"])
    lines = valid_only(read_landing(demo, "order_lines.csv"), demo)
    assert (lines["order_id"] != "").all()
    assert all(AMOUNT_RE.match(v) for v in lines["unit_price"])
    nps = valid_only(read_landing(demo, "nps_responses.csv"), demo)
    assert nps["customer_id"].isin(customer_ids).all()
    assert nps["score"].astype(int).between(0, 10).all()
    assert all(parse_day(v, False) <= AS_OF for v in nps["responded_at"])
    tickets = valid_only(read_landing(demo, "support_tickets.csv"), demo)
    assert (tickets["ticket_id"] != "").all() and tickets["ticket_id"].is_unique
    assert tickets["customer_id"].isin(customer_ids).all()
    assert all(parse_day(v, False) <= AS_OF for v in tickets["created_at"])


def test_duplicate_order_ids_carry_different_content(demo: DemoSummary) -> None:
    faults = faults_of(demo)
    dups = faults[faults["expected_reason_code"] == "duplicate_order_id"]
    assert len(dups) >= 2
    orders = orders_of(demo)
    for fault in dups.itertuples(index=False):
        row = orders[(orders["_file"] == fault.file) & (orders["_row"] == fault.row)].iloc[0]
        originals = orders[(orders["order_id"] == row["order_id"]) & (orders["_file"] < fault.file)]
        assert len(originals) == 1
        assert originals.iloc[0]["amount"] != row["amount"]
        assert originals.iloc[0]["customer_id"] == row["customer_id"]


def test_no_faults_option(tmp_path: Path) -> None:
    summary = generate_demo(tmp_path, customers=200, orders=800, seed=3, faults=False)
    assert summary.faults == 0
    assert summary.faults_path.read_text().strip() == "file,row,column,expected_reason_code"
    assert summary.rows("customers") == 200
    assert summary.rows("orders") == 800
    assert (identity_of(summary)["in_customer_file"] == "true").all()


# ---------------------------------------------------------------------------------------------
# identity ground truth


def test_identity_covers_every_customer_id(demo: DemoSummary) -> None:
    identity = identity_of(demo)
    assert identity["customer_id"].is_unique
    known = set(identity["customer_id"])
    referenced: set[str] = set()
    for prefix in ("customers", "orders_", "refunds", "nps_responses", "support_tickets"):
        for name in landing_names(demo, prefix):
            referenced |= set(read_landing(demo, name)["customer_id"]) - {""}
    assert referenced <= known
    in_files = set(customers_of(demo)["customer_id"])
    outside = set(identity.loc[identity["in_customer_file"] == "false", "customer_id"])
    faults = faults_of(demo)
    unknown = faults[faults["expected_reason_code"] == "unknown_customer"]
    orders = orders_of(demo).set_index(["_file", "_row"])
    unknown_ids = {
        orders.loc[(f, r), "customer_id"]
        for f, r in zip(unknown["file"], unknown["row"], strict=True)
    }
    assert outside == unknown_ids
    assert len(outside) >= 3 and not outside & in_files
    types = set(identity["person_type"])
    assert types == {
        "loyal",
        "regular",
        "occasional",
        "promo_one_time",
        "one_time",
        "serial_returner",
        "churner",
        "new",
        "prospect",
    }


def test_duplicate_records_of_one_person(demo: DemoSummary) -> None:
    identity = identity_of(demo)
    per_person = identity.groupby("person_id")["customer_id"].nunique()
    duplicated = per_person[per_person >= 2]
    assert 0.05 < len(duplicated) / len(per_person) < 0.15
    # Up to 5 duplicates per person, most persons having one.
    assert 4 <= per_person.max() <= 6
    assert (duplicated == 2).sum() > 0.6 * len(duplicated)
    # A person's first three records come from different source systems.
    multi = identity[identity["person_id"].isin(duplicated[duplicated <= 3].index)]
    assert not multi.duplicated(["person_id", "source_system"]).any()
    customers = customers_of(demo).merge(identity[["customer_id", "person_id"]], on="customer_id")
    differing_names = differing_phones = same_folded = 0
    for _, group in customers[customers["person_id"].isin(duplicated.index)].groupby("person_id"):
        names = {(f, la) for f, la in zip(group["first_name"], group["last_name"], strict=True)}
        differing_names += len(names) > 1
        phones = {p for p in group["phone"] if p}
        differing_phones += len(phones) > 1 and len({digits(p) for p in phones}) == 1
        upper = {str(v).upper() for v in pd.concat([group["first_name"], group["last_name"]])}
        same_folded += len(upper) <= 2
    assert differing_names >= 0.6 * len(duplicated)  # typos, case, accents, swaps
    assert differing_phones >= 3  # same number, other format
    assert same_folded >= 3  # case-only differences, e.g. HELENE vs Hélène


def test_lookalikes_are_distinct_persons(demo: DemoSummary) -> None:
    identity = identity_of(demo)
    customers = customers_of(demo).merge(identity, on="customer_id")
    groups = customers[customers["lookalike_group"] != ""]
    kinds = groups["lookalike_group"].str.split("-").str[0]
    assert kinds.value_counts().to_dict() == {"household": 6, "twin": 6, "homonym": 6}
    for label, group in groups.groupby("lookalike_group"):
        assert len(group) == 2 and group["person_id"].nunique() == 2, label
        a, b = group.iloc[0], group.iloc[1]
        assert a["email"].lower() != b["email"].lower()
        if label.startswith("household"):
            assert (a["address_line"], a["postal_code"], a["city"]) == (
                b["address_line"],
                b["postal_code"],
                b["city"],
            )
            assert digits(a["phone"]) == digits(b["phone"])
            assert digits(a["phone"])[0] in "12345"  # a landline
            assert a["first_name"] != b["first_name"]
        elif label.startswith("twin"):
            assert a["last_name"] == b["last_name"] and a["birth_date"] == b["birth_date"]
            assert a["address_line"] == b["address_line"]
            assert a["first_name"] != b["first_name"]
        else:
            assert (a["first_name"], a["last_name"], a["city"]) == (
                b["first_name"],
                b["last_name"],
                b["city"],
            )
            assert a["birth_date"] != b["birth_date"]


def test_contact_formats(demo: DemoSummary) -> None:
    phones = [p for p in customers_of(demo)["phone"] if p]
    patterns = {
        r"^0\d( \d\d){4}$",
        r"^\+33\d{9}$",
        r"^0\d{9}$",
        r"^\+33 \d( \d\d){4}$",
    }
    for pattern in patterns:
        assert any(re.match(pattern, p) for p in phones), pattern
    assert all(any(re.match(p, phone) for p in patterns) for phone in phones)
    names = " ".join(customers_of(demo)["first_name"])
    assert re.search(r"[éèçëï]", names)


def test_messy_file_format(demo: DemoSummary) -> None:
    raw = (demo.landing_dir / MESSY_FILE).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("cp1252")
    header = text.split("\r\n")[0]
    assert header.split(";")[:2] == ['"customer_id"', '"email"'] and "," not in header
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    store = read_landing(demo, MESSY_FILE)
    assert (store["source_system"] == "store").all()
    births = [v for v in store["birth_date"] if v]
    assert all(re.match(r"^\d\d/\d\d/\d{4}$", v) for v in births if parse_day(v, True))
    assert any(int(v[:2]) > 12 for v in births)  # unambiguously day-first


# ---------------------------------------------------------------------------------------------
# behaviour


def _orders_by_person(summary: DemoSummary) -> pd.DataFrame:
    orders = valid_only(orders_of(summary), summary)
    identity = identity_of(summary)
    orders = orders.merge(identity[["customer_id", "person_id", "person_type"]], on="customer_id")
    orders["order_date"] = pd.to_datetime(orders["order_date"])
    return orders


def test_most_persons_buy_exactly_once(demo: DemoSummary) -> None:
    orders = _orders_by_person(demo)
    per_person = orders.groupby("person_id").size()
    persons = identity_of(demo)["person_id"].nunique()
    assert (per_person == 1).sum() / persons >= 0.5
    types = orders.groupby("person_id")["person_type"].first()
    assert (per_person[types == "promo_one_time"] == 1).all()
    promo = orders[orders["person_type"] == "promo_one_time"]
    assert (promo["promo_code"] != "").all()
    loyal = per_person[types == "loyal"].median()
    assert loyal > 5 * per_person[types == "occasional"].median()


def test_churners_stop_buying(demo: DemoSummary) -> None:
    orders = _orders_by_person(demo)
    last = orders.groupby("person_id").agg(
        last=("order_date", "max"), kind=("person_type", "first")
    )
    gap = (pd.Timestamp(AS_OF) - last["last"]).dt.days
    assert gap[last["kind"] == "churner"].between(183, 548).all()
    assert gap[last["kind"] == "loyal"].median() < 60
    first = orders.groupby("person_id")["order_date"].min()
    new_gap = (pd.Timestamp(AS_OF) - first[last["kind"] == "new"]).dt.days
    assert (new_gap < 120).all()


def test_january_cohorts_retain_worse_than_july(cohort_demo: DemoSummary) -> None:
    orders = _orders_by_person(cohort_demo)
    first = orders.groupby("person_id")["order_date"].min().rename("first")
    orders = orders.join(first, on="person_id")
    repeat = orders[
        (orders["order_date"] > orders["first"])
        & (orders["order_date"] <= orders["first"] + pd.Timedelta(days=365))
    ]
    cohort = first[first < pd.Timestamp(AS_OF) - pd.Timedelta(days=400)].to_frame()
    cohort["repeat"] = cohort.index.isin(repeat["person_id"])
    cohort["month"] = cohort["first"].dt.month
    january = cohort.loc[cohort["month"] == 1, "repeat"]
    july = cohort.loc[cohort["month"] == 7, "repeat"]
    assert len(january) > 100 and len(july) > 100
    assert july.mean() - january.mean() > 0.1


def test_returns_and_refunds(demo: DemoSummary) -> None:
    orders = valid_only(orders_of(demo), demo)
    refunds = valid_only(read_landing(demo, "refunds.csv"), demo)
    refund_faults = (faults_of(demo)["file"] == "refunds.csv").sum()
    returned = orders[orders["status"] == "returned"]
    # One refund per returned order (fault rows aside).
    assert len(refunds) + refund_faults == len(returned) + (
        orders_of(demo)["status"].eq("returned").sum() - len(returned)
    )
    unlinked = refunds[refunds["order_id"] == ""]
    assert 0.03 <= len(unlinked) / len(refunds) <= 0.2
    linked = refunds[refunds["order_id"] != ""].merge(
        orders, on="order_id", suffixes=("_refund", "_order")
    )
    assert len(linked) == (refunds["order_id"] != "").sum()
    assert (linked["status"] == "returned").all()
    assert (linked["customer_id_refund"] == linked["customer_id_order"]).all()
    assert (pd.to_datetime(linked["refunded_at"]) > pd.to_datetime(linked["order_date"])).all()
    assert (linked["amount_refund"].astype(float) <= linked["amount_order"].astype(float)).all()
    assert (linked["amount_refund"].astype(float) < linked["amount_order"].astype(float)).any()
    # Every returned order without a linked refund has an unlinked one from the same customer.
    orphan = returned[~returned["order_id"].isin(linked["order_id"])]
    missing = orphan.groupby("customer_id").size()
    offered = unlinked.groupby("customer_id").size()
    assert (missing.sub(offered, fill_value=0) <= refund_faults).all()
    # Serial returners return far more often than everybody else.
    by_person = _orders_by_person(demo)
    rate = by_person.groupby("person_type")["status"].apply(lambda s: (s == "returned").mean())
    assert rate["serial_returner"] > 0.4 > 0.15 > rate["loyal"]


def test_order_lines_add_up_to_order_total(demo: DemoSummary) -> None:
    orders = valid_only(orders_of(demo), demo)
    lines = valid_only(read_landing(demo, "order_lines.csv"), demo)
    lines["value"] = lines["quantity"].astype(int) * lines["unit_price"].astype(float)
    totals = lines.groupby("order_id")["value"].sum().round(2)
    gross = (
        orders.set_index("order_id")["amount"].astype(float)
        + orders.set_index("order_id")["discount_amount"].astype(float)
    ).round(2)
    both = pd.concat([totals, gross], axis=1, join="inner")
    assert len(both) > 0.95 * len(orders)
    assert (both.iloc[:, 0] - both.iloc[:, 1]).abs().le(0.01).mean() > 0.97
    assert set(lines["category"]) == {
        "mode",
        "chaussures",
        "beaute",
        "maison",
        "sport",
        "enfants",
        "high-tech",
        "epicerie",
    }


def test_nps_and_tickets_follow_types(cohort_demo: DemoSummary) -> None:
    identity = identity_of(cohort_demo)[["customer_id", "person_type"]]
    nps = valid_only(read_landing(cohort_demo, "nps_responses.csv"), cohort_demo)
    scores = (
        nps.merge(identity, on="customer_id")
        .groupby("person_type")["score"]
        .apply(lambda s: s.astype(int).mean())
    )
    assert scores["loyal"] > 8.5
    assert scores["serial_returner"] < 5
    assert scores["churner"] < 6
    tickets = valid_only(read_landing(cohort_demo, "support_tickets.csv"), cohort_demo)
    per_type = tickets.merge(identity, on="customer_id").groupby("person_type").size()
    records = identity.groupby("person_type").size()
    rate = per_type / records
    assert rate["serial_returner"] > 5 * rate["one_time"]


# ---------------------------------------------------------------------------------------------
# formats, arguments and CLI


def test_parquet_has_the_same_content(demo: DemoSummary, tmp_path: Path) -> None:
    summary = generate_demo(
        tmp_path, customers=CUSTOMERS, orders=ORDERS, seed=SEED, as_of=AS_OF, file_format="parquet"
    )
    names = {p.name for p in summary.landing_dir.iterdir()}
    assert "orders_2025.parquet" in names and MESSY_FILE in names
    assert not any(n.endswith(".csv") for n in names - {MESSY_FILE})
    csv_orders = read_landing(demo, "orders_2025.csv").drop(columns=["_file"])
    pq_orders = read_landing(summary, "orders_2025.parquet").drop(columns=["_file"])
    pd.testing.assert_frame_equal(csv_orders, pq_orders)
    shape = faults_of(demo)["expected_reason_code"].isin(["extra_fields", "missing_fields"])
    assert shape.sum() >= 4  # CSV only: Parquet has no row shape to break
    assert summary.faults == demo.faults - shape.sum()
    faults = faults_of(summary)
    assert (
        faults["file"].str.endswith(".parquet").sum()
        == ((faults_of(demo)["file"] != MESSY_FILE) & ~shape).sum()
    )


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file_format"):
        generate_demo(tmp_path, file_format="xlsx")
    with pytest.raises(ValueError, match="customers"):
        generate_demo(tmp_path, customers=10)


def test_cli_writes_the_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--out",
            str(tmp_path),
            "--customers",
            "300",
            "--orders",
            "900",
            "--seed",
            "4",
            "--as-of",
            "2025-06-30",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "300 customer records, 900 orders" in out
    # Three years of history before 2025-06-30.
    names = sorted(p.name for p in (tmp_path / "landing").glob("orders_*.csv"))
    assert names == ["orders_2022.csv", "orders_2023.csv", "orders_2024.csv", "orders_2025.csv"]
    assert len(pd.read_csv(tmp_path / "ground_truth" / "identity.csv")) >= 300


def test_duplicate_corruptions_are_the_benchmark_kinds() -> None:
    """Every corruption kind occurs, and each changes only what it names (seeded, no I/O)."""
    import random

    from pipeline.demo.people import VARIED_COLUMNS, corrupt_record

    r = random.Random(3)
    seen: dict[str, int] = {}
    for _ in range(400):
        cols = {c: np.array([None], dtype=object) for c in VARIED_COLUMNS}
        values = dict(
            first_name="Hélène", last_name="Martin", postal_code="75011", city="Paris",
            address_line="12, rue Victor Hugo", email="h.martin@free.fr", phone="0612345678",
            gender="F",
        )  # fmt: skip
        for column, value in values.items():
            cols[column][0] = value
        cols["birth_day"] = np.array([float((date(1980, 2, 3) - date(1970, 1, 1)).days)])
        kinds = corrupt_record(cols, 0, r)
        for kind in kinds:
            seen[kind.split(":")[0]] = seen.get(kind.split(":")[0], 0) + 1
            if kind == "birth_date" and kinds.count(kind) == 1 and "missing:birth_day" not in kinds:
                changed = date(1970, 1, 1) + pd.Timedelta(days=int(cols["birth_day"][0]))
                old, new = "19800203", changed.strftime("%Y%m%d")
                swapped = new == "19800302"
                assert swapped or 1 <= sum(a != b for a, b in zip(old, new, strict=True)) <= 2
            if kind == "missing:postal_code":
                assert cols["postal_code"][0] is None
        assert cols["email"][0] == "h.martin@free.fr"  # contacts are varied elsewhere
    assert set(seen) == {
        "typo", "ocr", "phonetic", "swap_names", "missing", "birth_date", "postal_code",
        "house_number",
    }  # fmt: skip
