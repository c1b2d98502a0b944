"""Tests of the demo written in parts (`generate_demo(..., parts=K)`, pipeline/demo/parts.py)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipeline.demo import DemoSummary, generate_demo, main
from pipeline.demo.generator import MESSY_DELIMITER, MESSY_ENCODING
from pipeline.demo.parts import part_seed, part_size
from pipeline.ingest.extract import _entity_for_name
from pipeline.lib.sql import sql_literal

CUSTOMERS = 600
ORDERS = 3000
PARTS = 3
SEED = 5
PART_RE = re.compile(r"_p(\d{3})\.[a-z]+$")
#: Id column of each landing entity that has one (campaign contacts get theirs in the pipeline).
ID_COLUMNS = {
    "customers": "customer_id",
    "orders": "order_id",
    "refunds": "refund_id",
    "support_tickets": "ticket_id",
    "marketing_spend": "spend_id",
}


@pytest.fixture(scope="module")
def parts_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    """A Parquet demo in three parts."""
    return generate_demo(
        tmp_path_factory.mktemp("parts"),
        customers=CUSTOMERS,
        orders=ORDERS,
        seed=SEED,
        file_format="parquet",
        parts=PARTS,
    )


def _files(summary: DemoSummary) -> list[Path]:
    return sorted(p for p in summary.landing_dir.iterdir() if p.is_file())


def _rows(path: Path, columns: str) -> pd.DataFrame:
    """A landing file's rows as strings (the messy customer file is a Windows-1252 CSV)."""
    if path.suffix == ".csv":
        frame = pd.read_csv(
            path, sep=MESSY_DELIMITER, encoding=MESSY_ENCODING, dtype=str, keep_default_na=False
        )
        return frame[[columns]].replace("", None)
    sql = f"SELECT {columns} FROM read_parquet({sql_literal(path.as_posix())})"
    return duckdb.sql(sql).df()


def test_part_sizes_and_seeds() -> None:
    """Shares add up exactly; one part keeps the seed, parts get distinct derived seeds."""
    assert [part_size(10, 3, k) for k in range(3)] == [4, 3, 3]
    assert sum(part_size(1_000_003, 7, k) for k in range(7)) == 1_000_003
    assert part_seed(SEED, 1, 0) == SEED
    seeds = {part_seed(SEED, PARTS, k) for k in range(PARTS)}
    assert len(seeds) == PARTS
    assert seeds == {part_seed(SEED, PARTS, k) for k in range(PARTS)}


def test_totals_are_the_requested_numbers(parts_demo: DemoSummary) -> None:
    """Customer records and orders add up to the requested numbers over the parts."""
    assert parts_demo.parts == PARTS
    assert parts_demo.customer_records == CUSTOMERS
    assert parts_demo.orders == ORDERS
    assert parts_demo.rows("customers") == CUSTOMERS
    customer_rows = sum(
        len(_rows(p, "customer_id")) for p in _files(parts_demo) if p.name.startswith("customers")
    )
    assert customer_rows == CUSTOMERS
    orders = pd.concat(
        _rows(p, "order_id") for p in _files(parts_demo) if re.match(r"orders_\d{4}_p", p.name)
    )
    numbers = orders["order_id"].dropna().str.removeprefix("ORD").astype(int)
    # Every order once (the duplicate-order faults repeat some, missing ids blank others).
    assert numbers.min() == 1 and numbers.max() == ORDERS
    assert numbers.nunique() > ORDERS * 0.99


def test_every_file_belongs_to_its_part_and_entity(parts_demo: DemoSummary) -> None:
    """The ingest maps every part file to the entity of its name, and each part has them all."""
    per_part: dict[str, set[str]] = {}
    for path in _files(parts_demo):
        match = PART_RE.search(path.name)
        assert match, path.name
        base = re.sub(r"_\d{4}$", "", path.name[: match.start()])  # orders_2025 -> orders
        expected = "customers" if base == "customers_store" else base
        assert _entity_for_name(path.name) == expected, path.name
        per_part.setdefault(match.group(1), set()).add(path.name[: match.start()])
    assert sorted(per_part) == [f"{k:03d}" for k in range(PARTS)]
    assert len({frozenset(names) for names in per_part.values()}) == 1


def test_ids_are_unique_across_parts(parts_demo: DemoSummary) -> None:
    """No id of one part appears in another part, for every entity with ids."""
    for path in _files(parts_demo):
        assert PART_RE.search(path.name)
    for entity, column in ID_COLUMNS.items():
        frames = []
        for path in _files(parts_demo):
            if _entity_for_name(path.name) == entity:
                rows = _rows(path, column).dropna()
                frames.append(rows.assign(part=PART_RE.search(path.name).group(1)))
        ids = pd.concat(frames)
        assert ids["part"].nunique() == PARTS, entity
        shared = ids.groupby(column)["part"].nunique()
        assert (shared == 1).all(), f"{entity}: {list(shared[shared > 1].index[:5])}"
        if entity != "orders":  # duplicate-order faults repeat an order id within its part
            assert ids[column].is_unique, entity


def test_ground_truth_covers_all_parts(parts_demo: DemoSummary) -> None:
    """One identity, faults and known-customers file for all parts, with unique ids."""
    truth = pd.read_csv(parts_demo.identity_path, dtype=str, keep_default_na=False)
    assert truth["customer_id"].is_unique
    assert len(truth) == parts_demo.files["ground_truth/identity.csv"]
    assert truth["person_id"].nunique() == parts_demo.persons
    groups = truth[truth["lookalike_group"] != ""].groupby("lookalike_group")["person_id"]
    assert (groups.nunique() == 2).all()
    exported = set(truth.loc[truth["in_customer_file"] == "true", "customer_id"])
    assert len(exported) == CUSTOMERS
    known = pd.read_csv(parts_demo.ground_truth_dir / "known_customers.csv", dtype=str)
    assert known["role"].value_counts().to_dict() == {
        "converted_contact": PARTS,
        "star_buyer": PARTS,
    }
    assert known["customer_id"].is_unique and set(known["customer_id"]) <= exported
    faults = pd.read_csv(parts_demo.faults_path, dtype=str)
    assert len(faults) == parts_demo.faults
    assert set(faults["file"]) <= {p.name for p in _files(parts_demo)}
    assert {PART_RE.search(f).group(1) for f in faults["file"]} == {
        f"{k:03d}" for k in range(PARTS)
    }


def test_same_arguments_same_bytes_in_parts(parts_demo: DemoSummary, tmp_path: Path) -> None:
    """The CLI's --parts writes the very same files again."""
    argv = ["--out", str(tmp_path), "--customers", str(CUSTOMERS), "--orders", str(ORDERS)]
    argv += ["--seed", str(SEED), "--format", "parquet", "--parts", str(PARTS)]
    assert main(argv) == 0
    for rel in parts_demo.files:
        assert (tmp_path / rel).read_bytes() == (parts_demo.out_dir / rel).read_bytes(), rel


def test_one_part_is_the_plain_demo(tmp_path: Path) -> None:
    """parts=1 writes the files of a demo without parts: same names, same bytes."""
    plain = generate_demo(tmp_path / "plain", customers=200, orders=800, seed=SEED)
    one = generate_demo(tmp_path / "one", customers=200, orders=800, seed=SEED, parts=1)
    assert one.files == plain.files
    assert "landing/orders_2026.csv" in one.files
    for rel in one.files:
        assert (one.out_dir / rel).read_bytes() == (plain.out_dir / rel).read_bytes(), rel


def test_invalid_parts(tmp_path: Path) -> None:
    """Zero parts, or parts too small for the demo population, are refused."""
    with pytest.raises(ValueError, match="parts"):
        generate_demo(tmp_path, parts=0)
    with pytest.raises(ValueError, match="per part"):
        generate_demo(tmp_path, customers=600, orders=3000, parts=7)
