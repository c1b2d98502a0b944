"""Defaults of the dbt vars, read from `dbt_project/dbt_project.yml`: the one place they are set.

`RefreshSettings` passes every business knob to dbt as a var; the knobs added for the marketing
marts take their default from the project file instead of restating it, so a default changes in
one place and dbt run by hand agrees with Dagster.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

DBT_PROJECT_FILE = Path(__file__).resolve().parents[2] / "dbt_project" / "dbt_project.yml"


@functools.cache
def dbt_var_defaults() -> dict[str, Any]:
    """The `vars:` block of dbt_project.yml."""
    with open(DBT_PROJECT_FILE, encoding="utf-8") as handle:
        return dict(yaml.safe_load(handle).get("vars") or {})


def dbt_var_default(name: str) -> Any:
    """The default of one var; a missing var is a programming error, named."""
    defaults = dbt_var_defaults()
    if name not in defaults:
        raise KeyError(f"var {name!r} has no default in {DBT_PROJECT_FILE}")
    return defaults[name]
