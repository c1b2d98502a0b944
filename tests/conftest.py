"""Shared fixtures: demo exports and one real refresh of them, built once per test worker."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

DEMO_AS_OF = dt.date(2026, 10, 1)
#: Small enough for a quick run, large enough to fill every segment.
DEMO_CUSTOMERS = 1500
DEMO_ORDERS = 7000


def pytest_configure(config: pytest.Config) -> None:
    """Environment for every test, and a fresh dbt manifest (parsed once, by the controller)."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    # A test-only secret for the pseudonymous customer keys (never a default in library code).
    os.environ.setdefault("SEGMENTS_PII_KEY", "test-secret-key")
    # Runs made by tests go to ephemeral instances, never to a developer's $DAGSTER_HOME.
    os.environ.pop("DAGSTER_HOME", None)
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        from pipeline.segments.project import ensure_manifest

        ensure_manifest()


#: Fixtures that start a real component: a test using one carries these markers.
FIXTURE_MARKERS = {"refreshed": ("integration",), "pg_dsn": ("integration", "postgres")}

#: The longest files of a CI run, longest first (seconds per file, summed from the JUnit report
#: of the CI run at f570606: Spark parity 845, refresh failures 604, daemon scenario 558, refresh
#: end to end 443, backfill history 323, settings 270, gates 242, RFM models 239, 1990s exports
#: 225, quality suites 215, PostgreSQL 192, past as-of 178, benchmark smoke 147, concurrency 138,
#: identity history 121; the incremental refresh scenarios, added later, ~300 on a busy
#: machine). CI hands whole files to its workers in collection order
#: (`--no-loadscope-reorder`), so the longest start first and none runs alone at the end.
LONGEST_FILES = (
    "test_spark_parity.py",
    "test_refresh_failures.py",
    "test_automation_reasons_daemon.py",
    "test_refresh_e2e.py",
    "test_refresh_incremental.py",
    "test_automation_history.py",
    "test_settings.py",
    "test_refresh_gates.py",
    "test_rfm_models.py",
    "test_real_export_1990s.py",
    "test_quality_suites.py",
    "test_refresh_postgres.py",
    "test_past_as_of.py",
    "test_bench_smoke.py",
    "test_refresh_concurrency.py",
    "test_identity_history.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers implied by fixtures, then the order: files with slow tests first, then files with
    integration tests, then the rest.

    CI runs whole files per worker (`--dist loadfile`) in this order: starting the long files
    (the daemon, Spark, backfill and refresh scenarios) first keeps one of them from starting last
    and running alone at the end. The order inside each file is kept.
    """

    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            for marker in FIXTURE_MARKERS.get(fixture, ()):
                if not item.get_closest_marker(marker):
                    item.add_marker(marker)

    def weight(item: pytest.Item) -> int:
        return (
            0
            if item.get_closest_marker("slow")
            else 1
            if item.get_closest_marker("integration")
            else 2
        )

    rank: dict[str, int] = {}
    for item in items:
        rank[str(item.path)] = min(rank.get(str(item.path), 2), weight(item))

    def order(item: pytest.Item) -> tuple[int, int]:
        name = item.path.name
        first = LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)
        return (first, rank[str(item.path)])

    items.sort(key=order)  # stable: file order kept


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Deterministic demo exports (with faults and ground truth) for the integration tests."""
    from pipeline.demo.generator import generate_demo

    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, customers=DEMO_CUSTOMERS, orders=DEMO_ORDERS, seed=7, as_of=DEMO_AS_OF)
    return out


def run_cli(*args: str) -> tuple[int, str]:
    """Run the `segments` CLI in-process; returns (exit code, output)."""
    from click.testing import CliRunner

    from pipeline.cli import cli

    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def run_refresh(landing: Path, root: Path, as_of: dt.date, *options: str) -> tuple[int, str, Path]:
    """`segments refresh` of `landing` as of `as_of` into `root` (warehouse and state dir there).

    Returns the exit code, the output and the warehouse path.
    """
    warehouse = root / "warehouse.duckdb"
    code, output = run_cli(
        "refresh",
        "--landing", str(landing),
        "--as-of", as_of.isoformat(),
        "--warehouse", str(warehouse),
        "--state-dir", str(root / "state"),
        *options,
    )  # fmt: skip
    return code, output, warehouse


@pytest.fixture(scope="session")
def refreshed(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> dict[str, object]:
    """One real run of the refresh job on the demo exports, through the `segments` CLI."""
    root = tmp_path_factory.mktemp("refresh")
    paths: dict[str, object] = {
        "warehouse": root / "warehouse.duckdb",
        "state": root / "state",
        "landing": demo_dir / "landing",
        "demo": demo_dir,
    }
    code, output = run_cli(
        "refresh",
        "--landing",
        str(paths["landing"]),
        "--as-of",
        DEMO_AS_OF.isoformat(),
        "--warehouse",
        str(paths["warehouse"]),
        "--state-dir",
        str(paths["state"]),
    )
    assert code == 0, output
    paths["output"] = output
    return paths


@pytest.fixture(scope="module")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a throwaway PostgreSQL server for the test module (tests/postgres_server.py)."""
    from postgres_server import postgres_server

    yield from postgres_server(tmp_path_factory.mktemp("pg"))
