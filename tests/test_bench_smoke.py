"""Smoke run of bench/run_benchmark.py at a tiny scale (2,000 orders).

Checks the benchmark's own machinery, not the pipeline's speed: the stage table covers every
stage of the refresh, and both yardsticks (the bare DuckDB floor query and the pandas approach)
give the same recency, frequency, monetary and scores as marts.customer_rfm for every customer.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import run_benchmark  # noqa: E402
import yardsticks  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One benchmark scale of 2,000 orders, without the (slow) timed dbt yardstick."""
    work = tmp_path_factory.mktemp("bench")
    result = run_benchmark.bench_scale(2_000, 0.2, work, dbt=False)
    result["warehouse"] = work / "orders_2000" / "warehouse.duckdb"
    return result


def test_table_has_every_stage(smoke: dict[str, object]) -> None:
    """Both refreshes succeed and the stage table and the rendered Markdown show every stage.

    The no-op refresh (nothing changed) is skipped by its fingerprint: no step runs at all.
    """
    full = smoke["refresh"]
    assert full["success"] and smoke["noop"]["success"]
    assert list(full["stages"]) == list(run_benchmark.STAGE_NAMES)
    assert all(stage["seconds"] > 0 for stage in full["stages"].values())
    assert smoke["noop"]["stages"] == {} and smoke["noop"]["steps"] == {}
    assert full["peak_rss"] >= full["baseline_rss"] > 0
    assert sum(step["seconds"] for step in full["steps"].values()) <= full["seconds"]
    host = run_benchmark.machine()
    text = run_benchmark.render([smoke], host)
    for name in run_benchmark.STAGE_NAMES:
        assert f"| {name} |" in text
    assert "| **total** |" in text and "bare DuckDB floor" in text


def test_yardsticks_agree_with_marts(smoke: dict[str, object]) -> None:
    """The floor query and pandas compute the marts' R, F, M and scores for every customer."""
    yard = smoke["yardsticks"]
    zero = {
        "missing": 0,
        "extra": 0,
        "recency_days": 0,
        "frequency": 0,
        "monetary": 0,
        "r_score": 0,
        "f_score": 0,
        "m_score": 0,
    }
    assert yard["floor_diffs"] == zero
    assert yard["pandas_diffs"] == zero
    marts = yardsticks.marts_rfm(smoke["warehouse"])
    assert len(marts) == smoke["counts"]["scored_customers"] > 100
    floor = yardsticks.floor_rfm(smoke["warehouse"], run_benchmark.AS_OF).rfm
    assert floor["customer_id"].tolist() == marts["customer_id"].tolist()
    assert (floor["monetary"] == marts["monetary"]).all()  # decimals, to the cent


def test_markdown_keeps_text_around_results(tmp_path: Path) -> None:
    """Re-writing docs/benchmarks.md replaces only the block between the result markers."""
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        f"# B\n\nintro\n\n{run_benchmark.MARK_START}\nold\n{run_benchmark.MARK_END}\n\nanalysis\n"
    )
    run_benchmark.write_markdown(doc, "new table\n")
    text = doc.read_text()
    assert "intro" in text and "analysis" in text and "new table" in text
    assert "old" not in text


def test_profile_ingest_times_every_statement(smoke: dict[str, object], tmp_path: Path) -> None:
    """bench/profile_ingest.py runs extract + clean and lists the statements it timed."""
    landing = Path(str(smoke["warehouse"])).parent / "demo" / "landing"
    warehouse = tmp_path / "profiled.duckdb"
    script = Path(__file__).resolve().parents[1] / "bench" / "profile_ingest.py"
    out = subprocess.run(
        [sys.executable, str(script), str(landing), str(warehouse), "--top", "500"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    phases = re.findall(r"^(extract|clean): .* in (\d+) SQL statements", out, re.MULTILINE)
    assert [name for name, _ in phases] == ["extract", "clean"]
    assert all(int(n) > 10 for _, n in phases)
    assert "INSERT INTO raw.orders" in out and "peak RSS" in out
    con = duckdb.connect(str(warehouse), read_only=True)
    assert (
        con.execute("SELECT count(*) FROM clean.orders").fetchone()[0]
        == (smoke["counts"]["clean_orders"])
    )


def test_month_cut_comparison_and_table(smoke: dict[str, object], tmp_path: Path) -> None:
    """The "+1 month" machinery without its three refreshes (minutes even at a tiny scale).

    The cut splits the last year's orders and the customers in two, no row lost or repeated;
    a warehouse's marts equal themselves and last-bit float noise is no difference; the
    section renders from a result shaped as `bench_month` returns it.
    """
    landing = Path(str(smoke["warehouse"])).parent / "demo" / "landing"
    cut = run_benchmark.cut_month(landing, tmp_path / "month", share=0.01)
    assert cut["month_orders"] >= 0.01 * cut["total_orders"] and cut["orders_share"] < 0.05
    con = duckdb.connect()
    for entity, whole in (("orders", "orders_2026"), ("customers", "customers")):
        (name,) = [f for f in cut["files"] if f.startswith(f"{entity}_since_")]
        count = "select count(*) from read_parquet(?)"
        parts = [
            tmp_path / "month" / "landing" / f"{whole}.parquet",
            tmp_path / "month" / "month" / name,
        ]
        assert (
            sum(con.execute(count, [str(p)]).fetchone()[0] for p in parts)
            == (con.execute(count, [str(landing / f"{whole}.parquet")]).fetchone()[0])
        )
    diffs = run_benchmark.marts_differences(smoke["warehouse"], smoke["warehouse"])
    assert diffs["customer_rfm"]["rows"] == smoke["counts"]["scored_customers"]
    assert sum(t["differences"] for t in diffs.values()) == 0
    assert {name for name, t in diffs.items() if t.get("model")} == run_benchmark.model_tables()
    rows = [("a", 1.0, (1, 2)), ("b", 2.0, (3,))]
    assert run_benchmark.row_differences([("b", 2.0 + 1e-13, (3,)), ("a", 1.0, (1, 2))], rows) == 0
    assert run_benchmark.row_differences([("a", 1.5, (1, 2)), ("b", 2.0, (3,))], rows) == 2
    noisy = [("a", 1.0 + 1e-8, (1, 2)), ("b", 2.0, (3,))]
    assert run_benchmark.row_differences(noisy, rows) == 2
    assert run_benchmark.row_differences(noisy, rows, rel_tol=run_benchmark.MODEL_REL_TOL) == 0
    refresh = smoke["refresh"]
    month = {
        "cut": cut,
        "base": refresh,
        "incremental": refresh,
        "full": refresh,
        "read": {name: "new file" for name in cut["files"]},
        "ratio": 1.0,
        "marts": diffs,
        "differences": 0,
        "model_differences": 0,
    }
    text = run_benchmark.render([{**smoke, "month": month}], run_benchmark.machine())
    assert "### +1 month at 2,000 orders" in text and "**0 differing rows**" in text
    assert "| 0.002M: +1 month <= 10% of full | 100.00 % | **no** |" in text
    assert "| 0.002M: +1 month marts (dbt) = full refresh marts | 0 rows differ | yes |" in text
