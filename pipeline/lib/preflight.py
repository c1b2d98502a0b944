"""Pre-flight: the configuration a refresh can check before any work starts.

PII key present and long enough, folders writable, mapping file parsed and valid, settings values
that dbt would reject: each resource lists its own problems (`problems()`), one line each. The
checks run in two places:

* the `segments` CLI calls `pipeline.preflight.preflight()` on the run config before it starts
  Dagster, parses dbt or hashes the landing files, so a bad configuration is reported in about
  a second;
* runs started any other way (schedules, sensors, the UI) run them when Dagster initialises the
  resources, before the first step: `setup_for_execution` raises `ConfigurationError`.

The checks only read, except that missing folders are created (owner-only), as the run would.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class ConfigurationError(ValueError):
    """Settings a run cannot work with; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def folder_problem(path: Path, what: str) -> str | None:
    """None when `path` is (or can be created as) a folder this process can write to."""
    from pipeline.lib.permissions import ensure_private_dir

    try:
        ensure_private_dir(path)
    except OSError as exc:
        return f"{what} {path} cannot be created: {exc.strerror or exc}"
    if not path.is_dir():
        return f"{what} {path} is not a folder"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"{what} {path} is not writable by this user"
    return None


def raise_problems(context: Any, problems: list[str]) -> None:
    """Raise `ConfigurationError` at run start; resources built for sensors are not checked.

    Sensors and schedules also initialise resources; a bad mapping must not stop, e.g., the
    failure sensor from recording alerts, so only runs (which have a `dagster_run`) are refused.
    """
    if problems and getattr(context, "dagster_run", None) is not None:
        raise ConfigurationError(problems)
