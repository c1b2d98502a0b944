"""How a dbt step hands its settings to dbt without making dbt re-parse the project.

dbt keeps the parsed project in `partial_parse.msgpack` and re-uses it only when the
command-line vars, the profile's connection values (the DuckDB path) and the target are those of
the previous parse. Passing each refresh's as-of date with `--vars` therefore re-parsed the whole
project at every dbt step: 5-10 s each, two or three steps per refresh. So:

- the settings travel in the environment (SEGMENTS_DBT_VARS, JSON), and the models read them
  through the `run_var()` macro only while executing (dbt_project/macros/segments_settings.sql):
  the parse never depends on them;
- the warehouse path travels in SEGMENTS_WAREHOUSE, which the profile reads;
- the parse state is kept per warehouse and target (a different DuckDB path is a different
  profile to dbt), under `dbt_project/target/partial_parse/`, and handed to each invocation's own
  target folder. dbt still checks the state itself and re-parses whatever changed (a model edited
  between two refreshes, another dbt version), so a stale state costs time, never correctness.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PARSE_STATE_FILE = "partial_parse.msgpack"
#: States kept, the most recently used (one per warehouse path and target, about 1.6 MB each):
#: a deployment has a few warehouses, a test run dozens at a time.
KEPT_STATES = 64


def dbt_environment(warehouse_path: Path, dbt_vars: Mapping[str, Any]) -> dict[str, str]:
    """Environment variables a dbt invocation of this run needs (profile path and settings)."""
    return {
        "SEGMENTS_WAREHOUSE": str(warehouse_path),
        "SEGMENTS_DBT_VARS": json.dumps(dict(dbt_vars), sort_keys=True),
    }


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set `values` in os.environ for the block (dagster-dbt starts dbt with a copy of it)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def invocation_target(target_root: Path, step: str, run_id: str) -> Path:
    """A target folder of its own for one dbt invocation (artifacts never mix between runs)."""
    return target_root / f"{step}-{run_id[:7]}-{uuid.uuid4().hex[:7]}"


def _state_path(target_root: Path, warehouse_path: Path, target: str) -> Path:
    key = hashlib.sha256(f"{Path(warehouse_path).resolve()}\0{target}".encode()).hexdigest()
    return target_root / "partial_parse" / f"{key[:20]}.msgpack"


@contextmanager
def kept_parse_state(
    target_root: Path, invocation_dir: Path, warehouse_path: Path, target: str
) -> Iterator[None]:
    """Hand the warehouse's last parse state to the invocation, keep its new one afterwards."""
    state = _state_path(target_root, warehouse_path, target)
    if state.exists():
        invocation_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(state, invocation_dir / PARSE_STATE_FILE)
        os.utime(state)  # used: the last to be pruned
    try:
        yield
    finally:
        produced = invocation_dir / PARSE_STATE_FILE
        if produced.exists():
            state.parent.mkdir(parents=True, exist_ok=True)
            # Another run may be reading the same state: replace it in one rename.
            partial = state.with_name(f"{state.name}.{uuid.uuid4().hex[:8]}.tmp")
            shutil.copyfile(produced, partial)
            os.replace(partial, state)
            _prune(state.parent)


def _prune(folder: Path) -> None:
    """Keep the KEPT_STATES most recently used states (tests create many warehouses)."""
    written = []
    for state in folder.glob("*.msgpack"):
        try:
            written.append((state.stat().st_mtime, state))
        except FileNotFoundError:  # pruned by a concurrent run meanwhile
            continue
    for _, old in sorted(written, reverse=True)[KEPT_STATES:]:
        old.unlink(missing_ok=True)
