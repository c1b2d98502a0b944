"""What dbt gives a model at compile time, for sqlfluff's jinja templater (`.sqlfluff`).

sqlfluff renders the models without dbt (no warehouse, no `dbt parse`: seconds, not minutes).
Its `apply_dbt_builtins` covers ref/source/config/is_incremental/return; this package adds what
our models and macros use beyond that, rendered as dbt-duckdb would render it so the linted SQL
is the SQL DuckDB runs:

* `var(name)`: the project's default from dbt_project.yml (sqlfluff's own returns "item", which
  our validating macros reject);
* `execute` (False, as at parse time), `env_var`, `target`, `dbt.<cross-database macro>`,
  `adapter.dispatch`, `exceptions`.

Not product code: only the linter imports it (dbt reads no Python from this folder).
"""

from pathlib import Path as _Path

import yaml as _yaml

from . import adapter, dbt, exceptions  # noqa: F401  (names of the jinja context)

_PROJECT = _yaml.safe_load((_Path(__file__).parent.parent / "dbt_project.yml").read_text())
_VARS = _PROJECT.get("vars", {})


def var(name, default=None):
    """dbt's `var()`: the project default (an unknown var without default is an error in dbt)."""
    if name in _VARS:
        return _VARS[name]
    if default is not None:
        return default
    raise KeyError(f"var {name!r} has no default in dbt_project.yml")


#: dbt's `execute` is False while parsing: `run_var()` then reads `var()` (the defaults above),
#: never a run's SEGMENTS_DBT_VARS.
execute = False


def env_var(name, default=""):
    """dbt's `env_var()`: the default (the lint must not depend on the shell)."""
    return default


class _Target:
    name = "duckdb"
    type = "duckdb"
    schema = "main"
    database = "warehouse"


target = _Target()
