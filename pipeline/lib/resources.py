"""Resources shared by every domain: the build warehouse and the refresh settings.

One DuckDB path serves Dagster and dbt: the `Warehouse` resource owns it and the dbt assets pass it
to dbt as the `warehouse_path` var, which `dbt_project/profiles.yml` reads.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
from pydantic import Field

from pipeline.lib.dbt_vars import dbt_var_default

#: Every Python asset that writes the warehouse runs in this pool: DuckDB has a single writer.
WAREHOUSE_POOL = "duckdb_warehouse"

DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
DEFAULT_LANDING = "data/demo/landing"
DEFAULT_STATE_DIR = "data/state"
#: Measured at 10M orders: 19.8 GB peak without a limit, 4.7 GB with 4GB (docs/benchmarks.md).
DEFAULT_MEMORY_LIMIT = "4GB"


def _from_env(value: str, env_name: str, default: str) -> Path:
    """An explicit value, else the environment variable, else the default; read at run time.

    Reading the environment here (not at import) keeps one path for Dagster, dbt and the CLI
    while letting `dagster dev`, the daemon and tests point elsewhere without code changes.
    """
    chosen = value or os.environ.get(env_name) or default
    return Path(chosen).expanduser().resolve()


class Warehouse(dg.ConfigurableResource):
    """The private build warehouse: a DuckDB file only the pipeline opens, as its one writer."""

    path: str = Field(
        default="",
        description="DuckDB file the pipeline builds; "
        f"empty = $SEGMENTS_WAREHOUSE or {DEFAULT_WAREHOUSE}.",
    )
    threads: int = Field(default=0, description="DuckDB threads (0 = DuckDB's default).")
    memory_limit: str = Field(
        default="",
        description="DuckDB memory_limit; empty = $SEGMENTS_DUCKDB_MEMORY_LIMIT or "
        f"{DEFAULT_MEMORY_LIMIT} (DuckDB's own default, 80% of RAM, starves a shared machine).",
    )

    def resolved_path(self) -> Path:
        """Absolute path of the warehouse file (relative paths are taken from the working dir)."""
        return _from_env(self.path, "SEGMENTS_WAREHOUSE", DEFAULT_WAREHOUSE)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the warehouse, creating its folder on first use; always closes the connection."""
        path = self.resolved_path()
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {}
        if self.threads:
            config["threads"] = self.threads
        config["memory_limit"] = self.memory_limit or os.environ.get(
            "SEGMENTS_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT
        )
        con = duckdb.connect(str(path), read_only=read_only, config=config)
        try:
            yield con
        finally:
            con.close()


class RefreshSettings(dg.ConfigurableResource):
    """What one refresh reads and how it scores: the knobs a data engineer sets per deployment.

    The scoring knobs are handed to dbt as vars (`dbt_vars`), so SQL and Python agree.
    """

    landing_dir: str = Field(
        default="",
        description=f"Landing directory; empty = $SEGMENTS_LANDING or {DEFAULT_LANDING}.",
    )
    as_of: str = Field(default="", description="As-of date YYYY-MM-DD; empty = today in timezone.")
    mapping_file: str = Field(default="", description="Optional column-mapping YAML.")
    currency: str = Field(default="EUR", description="Currency of amounts without one.")
    timezone: str = Field(default="Europe/Paris", description="Timezone of 'today' and schedules.")
    state_dir: str = Field(
        default="",
        description="Folder for validation results, Data Docs, exports and sensor state; "
        f"empty = $SEGMENTS_STATE_DIR or {DEFAULT_STATE_DIR}.",
    )
    identity_overrides_file: str = Field(
        default="config/identity_overrides.yaml",
        description="Data stewards' never_merge / force_merge pairs (missing file = none).",
    )
    engine: str = Field(
        default="duckdb",
        description="Engine of the dbt models: 'duckdb' (default) or 'spark' (docs/spark.md).",
    )
    spark_dir: str = Field(
        default="",
        description="Spark warehouse/metastore folder; empty = <warehouse dir>/spark. Keep it: "
        "the history tables are incremental.",
    )
    report_language: str = Field(default="fr", description="Insight report language: fr | en.")
    score_buckets: int = Field(default=5, ge=3, le=10, description="Score scale 1..N (3..10).")
    score_method: str = Field(default="rank", description="'rank' (tie-consistent) or 'ntile'.")
    monetary_mode: str = Field(default="net", description="'net' (minus refunds) or 'gross'.")
    lookback_days: int = Field(default=0, ge=0, description="Order lookback; 0 = all history.")
    cohort_grain: str = Field(default="month", description="'month' or 'quarter'.")
    churn_days: int = Field(default=180, gt=0, description="No order for this long = churned.")
    nps_window_days: int = Field(default=365, gt=0, description="NPS window before as-of.")
    serial_returner_rate: float = Field(default=0.5, description="Return rate of serial returners.")
    support_heavy_ratio: float = Field(default=1.0, description="Tickets per order: support heavy.")
    # Marketing marts: defaults live in dbt_project.yml (vars), read once by dbt_var_default.
    attribution_window_days: int = Field(
        default=dbt_var_default("attribution_window_days"),
        ge=0,
        description="Days after a campaign contact an order counts as its conversion.",
    )
    star_min_customers: int = Field(
        default=dbt_var_default("star_min_customers"),
        ge=1,
        description="Buyers a product needs in a segment to rank as a star.",
    )
    persona_min_customers: int = Field(
        default=dbt_var_default("persona_min_customers"),
        ge=1,
        description="Persona cells with fewer customers are suppressed.",
    )
    nps_min_responses: int = Field(
        default=dbt_var_default("nps_min_responses"),
        ge=1,
        description="An NPS on fewer answers is flagged unreliable (the report hides it).",
    )
    priority_impact_weight: float = Field(
        default=dbt_var_default("priority_impact_weight"),
        ge=0,
        le=1,
        description="Weight of impact against the seed's pertinence in segment_priority.",
    )

    quality_min_date: str = Field(
        default="2000-01-01", description="Earliest plausible date in clean tables."
    )
    quality_max_row_drop: float = Field(
        default=0.9, description="Row drop against the previous load that blocks (0.9 = 90%)."
    )
    quality_quarantine_ceiling: float = Field(
        default=0.1, description="Share of rejected rows per file above which the gate blocks."
    )
    quality_drift_warn_points: float = Field(
        default=5.0, description="Segment share move (points) against the last publication: warn."
    )
    quality_drift_block_points: float = Field(
        default=25.0, description="Segment share move (points) against the last publication: block."
    )

    def as_of_date(self) -> dt.date:
        """The refresh's as-of date: the configured one, or today in the configured timezone."""
        if self.as_of:
            try:
                return dt.date.fromisoformat(self.as_of)
            except ValueError as exc:
                raise ValueError(f"as_of must be YYYY-MM-DD, got {self.as_of!r}") from exc
        return dt.datetime.now(ZoneInfo(self.timezone)).date()

    def landing_path(self) -> Path:
        """Absolute landing directory."""
        return _from_env(self.landing_dir, "SEGMENTS_LANDING", DEFAULT_LANDING)

    def state_path(self) -> Path:
        """Absolute state directory (created on demand)."""
        path = _from_env(self.state_dir, "SEGMENTS_STATE_DIR", DEFAULT_STATE_DIR)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def mapping_path(self) -> Path | None:
        """The mapping file, or None when the defaults are used."""
        return Path(self.mapping_file).expanduser().resolve() if self.mapping_file else None

    def dbt_vars(self) -> dict[str, Any]:
        """The vars every dbt invocation receives (see `dbt_project/dbt_project.yml`)."""
        if self.score_method not in ("rank", "ntile"):
            raise ValueError(f"score_method must be 'rank' or 'ntile', got {self.score_method!r}")
        if self.monetary_mode not in ("net", "gross"):
            raise ValueError(f"monetary_mode must be 'net' or 'gross', got {self.monetary_mode!r}")
        if self.cohort_grain not in ("month", "quarter"):
            raise ValueError(
                f"cohort_grain must be 'month' or 'quarter', got {self.cohort_grain!r}"
            )
        return {
            "as_of": self.as_of_date().isoformat(),
            "score_buckets": self.score_buckets,
            "score_method": self.score_method,
            "monetary_mode": self.monetary_mode,
            "lookback_days": self.lookback_days,
            "cohort_grain": self.cohort_grain,
            "churn_days": self.churn_days,
            "nps_window_days": self.nps_window_days,
            "serial_returner_rate": self.serial_returner_rate,
            "support_heavy_ratio": self.support_heavy_ratio,
            "attribution_window_days": self.attribution_window_days,
            "star_min_customers": self.star_min_customers,
            "persona_min_customers": self.persona_min_customers,
            "nps_min_responses": self.nps_min_responses,
            "priority_impact_weight": self.priority_impact_weight,
            # Language of the recommended actions in the marts, the same as the report's.
            "segment_language": self.report_language,
        }


def refresh_run_config(
    settings: RefreshSettings | None = None,
    warehouse: Warehouse | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A complete run config for the refresh job with some settings overridden.

    Dagster replaces a resource's whole config when a run config names it, so partial overrides
    would silently reset the other fields: this helper always sends every field.
    `overrides` may hold any `RefreshSettings` field and `warehouse_path`.
    """
    base = (settings or RefreshSettings()).model_dump()
    wh = (warehouse or Warehouse()).model_dump()
    if "warehouse_path" in overrides:
        wh["path"] = str(overrides.pop("warehouse_path"))
    unknown = set(overrides) - set(base)
    if unknown:
        raise ValueError(f"unknown refresh settings: {sorted(unknown)}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    return {"resources": {"settings": {"config": base}, "warehouse": {"config": wh}}}
