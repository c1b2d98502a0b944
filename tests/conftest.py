"""Shared fixtures: demo exports and one real refresh of them, built once per test worker."""

from __future__ import annotations

import datetime as dt
import os
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
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        from pipeline.segments.project import ensure_manifest

        ensure_manifest()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Deterministic demo exports (with faults and ground truth) for the integration tests."""
    from pipeline.demo.generator import generate_demo

    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, customers=DEMO_CUSTOMERS, orders=DEMO_ORDERS, seed=7, as_of=DEMO_AS_OF)
    return out


@pytest.fixture(scope="session")
def refreshed(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> dict[str, Path]:
    """One real run of the refresh job on the demo exports: warehouse and state paths."""
    from pipeline.cli import execute_refresh

    root = tmp_path_factory.mktemp("refresh")
    paths = {
        "warehouse": root / "warehouse.duckdb",
        "state": root / "state",
        "landing": demo_dir / "landing",
        "demo": demo_dir,
    }
    result = execute_refresh(
        landing=paths["landing"],
        as_of=DEMO_AS_OF,
        warehouse=paths["warehouse"],
        state_dir=paths["state"],
        trigger="test",
        extra_settings={"identity_overrides_file": str(root / "no_overrides.yaml")},
        raise_on_error=True,
    )
    assert result.success
    paths["run_id"] = result.run_id  # type: ignore[assignment]
    return paths
