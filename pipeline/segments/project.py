"""The dbt project as Dagster sees it: one `DbtProject`, one translator."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster_dbt import (
    DBT_PYTHON_VERSION,
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
)
from packaging.version import Version

from pipeline.lib.paths import DBT_PROJECT_DIR


def dbt_executable() -> str:
    """The dbt CLI of this Python environment, so a non-activated virtualenv works too."""
    beside_python = Path(sys.executable).parent / "dbt"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("dbt") or "dbt"


class SegmentsDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt resource without the two probes it makes before running dbt.

    dagster-dbt runs `dbt --version` in a subprocess (once per resource instance, i.e. per run)
    and, before each `cli()` call, builds an in-process dbt adapter (profile, project, base
    macros) that only serves `fetch_row_counts()` / `fetch_column_metadata()`. This project uses
    neither (row counts and distributions are read once dbt has exited and released the
    warehouse), and runs the dbt of its own environment (`dbt_executable`), whose version is
    the installed dbt-core's. Measured on the demo refresh (1,500 records): the probes cost
    5-10 s of a 76 s run. Both hooks are private to dagster-dbt (pinned in pyproject.toml);
    tests/test_dbt_parse.py fails if a dagster-dbt upgrade makes them run again.
    """

    @property
    def _cli_version(self) -> Version:  # type: ignore[override]
        """The version of the dbt-core installed beside this Python (the dbt we run)."""
        return DBT_PYTHON_VERSION

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        """No adapter handle: nothing here fetches metadata through dagster-dbt."""
        return None


def dbt_resource() -> SegmentsDbtCliResource:
    """The dbt resource of the project: its dbt, its project directory."""
    return SegmentsDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# `dagster dev` rebuilds the manifest on load; the CLI and tests call `ensure_manifest()` first.
dbt_project.prepare_if_dev()


def _manifest_is_current() -> bool:
    """True when target/manifest.json is newer than every file of the dbt project."""
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        sources.extend(p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    return all(p.stat().st_mtime < built for p in sources if p.exists())


def ensure_manifest(force: bool = False) -> Path:
    """Parse the dbt project (writes target/manifest.json) unless it is current; return its path.

    The manifest is build output, never committed: every entry point that loads the definitions
    outside `dagster dev` calls this first. A parse costs seconds, so it is skipped when no file
    of the project changed since. Uses this environment's dbt, so it works from a virtualenv that
    is not activated (the stock preparer looks dbt up on $PATH).
    """
    if not force and _manifest_is_current():
        return dbt_project.manifest_path
    dbt_resource().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
    return dbt_project.manifest_path


if not dbt_project.manifest_path.exists():
    # A fresh clone has no manifest (it is build output): parse once so the definitions can load.
    ensure_manifest()


class SegmentsDbtTranslator(DagsterDbtTranslator):
    """Groups come from the model's top folder (staging, intermediate, marts, history).

    Seeds are business rules read by the marts, so they join the marts group. Owners come from
    `meta.owner` in the models' YAML, never from Python lists of model names.
    """

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """The dbt folder under models/ names the Dagster group."""
        resource_type = dbt_resource_props["resource_type"]
        if resource_type == "seed":
            return "marts"
        if resource_type == "source":
            return None
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "marts"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        """Owners declared in dbt `meta.owner` (a string or a list)."""
        owner = (dbt_resource_props.get("meta") or {}).get("owner") or (
            dbt_resource_props.get("config", {}).get("meta") or {}
        ).get("owner")
        if not owner:
            return None
        owners = [owner] if isinstance(owner, str) else list(owner)
        # Dagster accepts emails or "team:<name>"; dbt YAML may just say the team's name.
        return [o if "@" in o or o.startswith("team:") else f"team:{o}" for o in owners]


translator = SegmentsDbtTranslator()
