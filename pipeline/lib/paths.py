"""Where the repository's own files are: the dbt project and the settings file.

Shared code needs these paths without importing a domain (the dbt project's Dagster side lives
in `pipeline.segments.project`, which imports `DBT_PROJECT_DIR` from here).
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
#: The settings file shipped with the repository (every key at its default, commented).
DEFAULT_SETTINGS_FILE = REPO_ROOT / "config" / "segments.yaml"

#: The published serving file BI tools open read-only, below the state directory. Shared code:
#: the publication writes it, and the CLI summary, the drift gate and the report read it.
SERVING_DIR = "serving"
SERVING_FILE = "segments.duckdb"


def serving_path(state_dir: Path) -> Path:
    """The published serving file of a state directory (it may not exist yet)."""
    return Path(state_dir) / SERVING_DIR / SERVING_FILE
