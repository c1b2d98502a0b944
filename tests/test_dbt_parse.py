"""The dbt parse state kept per warehouse (pipeline/segments/dbt_parse.py), without dbt."""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path

from pipeline.segments import dbt_parse
from pipeline.segments.dbt_parse import (
    PARSE_STATE_FILE,
    dbt_environment,
    environment,
    invocation_target,
    kept_parse_state,
)


def _invoke(root: Path, warehouse: Path, produced: bytes | None, target: str = "duckdb") -> bytes:
    """One fake invocation: returns the state it was handed, writes `produced` as dbt would."""
    folder = invocation_target(root, "segment_dbt_assets", "0123456789abcdef")
    with kept_parse_state(root, folder, warehouse, target):
        handed = folder / PARSE_STATE_FILE
        seen = handed.read_bytes() if handed.exists() else b""
        if produced is not None:
            folder.mkdir(parents=True, exist_ok=True)
            handed.write_bytes(produced)
    return seen


def test_each_warehouse_gets_back_the_state_its_last_invocation_left(tmp_path: Path) -> None:
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    assert _invoke(tmp_path, one, b"parse of one") == b""
    assert _invoke(tmp_path, two, b"parse of two") == b""
    assert _invoke(tmp_path, one, b"parse of one, again") == b"parse of one"
    assert _invoke(tmp_path, one, None) == b"parse of one, again"
    # The Spark target is another profile to dbt: its own state.
    assert _invoke(tmp_path, one, b"spark", target="spark") == b""
    assert _invoke(tmp_path, two, None) == b"parse of two"


def test_a_failed_invocation_still_keeps_what_dbt_parsed(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    folder = invocation_target(tmp_path, "segment_dbt_assets", "run")
    try:
        with kept_parse_state(tmp_path, folder, warehouse, "duckdb"):
            folder.mkdir(parents=True)
            (folder / PARSE_STATE_FILE).write_bytes(b"parsed before the model failed")
            raise RuntimeError("dbt failed")
    except RuntimeError:
        pass
    assert _invoke(tmp_path, warehouse, None) == b"parsed before the model failed"


def test_only_the_most_recently_used_states_are_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(dbt_parse, "KEPT_STATES", 3)
    for number in range(5):
        _invoke(tmp_path, tmp_path / f"w{number}.duckdb", f"state {number}".encode())
        # Distinct modification times even on a coarse-grained file system.
        for state in (tmp_path / "partial_parse").glob("*.msgpack"):
            os.utime(state, (state.stat().st_atime, state.stat().st_mtime - 1))
    kept = sorted(p.read_bytes() for p in (tmp_path / "partial_parse").glob("*.msgpack"))
    assert kept == [b"state 2", b"state 3", b"state 4"]
    assert not list((tmp_path / "partial_parse").glob("*.tmp"))


def test_a_state_handed_over_counts_as_used(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(dbt_parse, "KEPT_STATES", 2)

    def age_all() -> None:
        for state in (tmp_path / "partial_parse").glob("*.msgpack"):
            os.utime(state, (state.stat().st_atime, state.stat().st_mtime - 10))

    zero, one, two = (tmp_path / f"w{n}.duckdb" for n in range(3))
    _invoke(tmp_path, zero, b"zero")
    age_all()
    _invoke(tmp_path, one, b"one")
    age_all()
    assert _invoke(tmp_path, zero, None) == b"zero"  # read now: the most recently used
    _invoke(tmp_path, two, b"two")  # over the limit: the least recently used one goes
    assert _invoke(tmp_path, one, None) == b""
    assert _invoke(tmp_path, zero, None) == b"zero"


def test_settings_reach_dbt_in_the_environment_and_leave_it_afterwards(monkeypatch) -> None:
    monkeypatch.delenv("SEGMENTS_DBT_VARS", raising=False)
    monkeypatch.setenv("SEGMENTS_WAREHOUSE", "/the/user's/own.duckdb")
    values = dbt_environment(Path("/data/w.duckdb"), {"score_buckets": 7, "as_of": "2026-10-01"})
    with environment(values):
        assert os.environ["SEGMENTS_WAREHOUSE"] == "/data/w.duckdb"
        assert json.loads(os.environ["SEGMENTS_DBT_VARS"]) == {
            "as_of": "2026-10-01",
            "score_buckets": 7,
        }
    assert "SEGMENTS_DBT_VARS" not in os.environ
    assert os.environ["SEGMENTS_WAREHOUSE"] == "/the/user's/own.duckdb"


def test_the_dbt_resource_runs_dbt_without_dagster_dbts_probes(tmp_path: Path, monkeypatch) -> None:
    """A real `dbt parse` through the project's resource: no `dbt --version` subprocess and no
    in-process adapter before it (pipeline/segments/project.SegmentsDbtCliResource)."""
    import dagster_dbt.core.resource as dagster_dbt_resource
    import dbt.adapters.factory

    from pipeline.segments.project import dbt_resource

    probes: list[str] = []

    def version_probe(*args, **kwargs):
        probes.append("dbt --version")
        raise AssertionError("dagster-dbt asked dbt for its version")

    def adapter_probe(*args, **kwargs):
        probes.append("adapter")
        raise AssertionError("dagster-dbt built a dbt adapter")

    monkeypatch.setattr(dagster_dbt_resource, "check_output", version_probe)
    monkeypatch.setattr(dbt.adapters.factory, "register_adapter", adapter_probe)
    monkeypatch.setenv("SEGMENTS_WAREHOUSE", str(tmp_path / "w.duckdb"))
    invocation = dbt_resource().cli(["parse", "--quiet"], target_path=tmp_path / "target")
    invocation.wait()
    assert invocation.is_successful()
    assert (tmp_path / "target" / "manifest.json").exists()
    assert probes == []
    # What dagster-dbt would have asked `dbt --version`: the dbt-core of this environment.
    assert str(dbt_resource()._cli_version) == importlib.metadata.version("dbt-core")
