"""Every setting of the pipeline, in one typed model: `config/segments.yaml` is its rendering.

Each key is declared once, here, with its default, its limits and the sentence that documents it
(the comment above the key in `config/segments.yaml`, which `segments config defaults` renders
and a test keeps equal). Everything else is derived from this model:

* the Dagster run config of a refresh (`SegmentsSettings.run_config`): the `settings`,
  `warehouse` and `serving` resources are built from their sections;
* the dbt vars (fields marked `dbt_var`), whose standalone defaults in `dbt_project.yml` a test
  keeps equal to the ones here;
* the quality-gate parameters (fields marked `gate`);
* the automation definitions (section `automation`, read when the code location loads).

Values come, lowest first, from the defaults, the settings file (`--config PATH`, else
`$SEGMENTS_CONFIG`, else `config/segments.yaml`), a few environment variables (marked `env`),
the CLI's dedicated options (`--landing`...) and `--set section.key=value`; `load_settings` keeps
where each value came from (`segments config show`). Adding a setting is one `setting(...)` line
in its section.
"""

from __future__ import annotations

import datetime as dt
import os
import textwrap
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

from pipeline.lib.paths import DEFAULT_SETTINGS_FILE

#: The environment variable naming another settings file.
CONFIG_ENV = "SEGMENTS_CONFIG"

# --- declaring a setting ------------------------------------------------------------------------


def setting(
    default: Any,
    description: str,
    *,
    env: str | None = None,
    dbt_var: str | None = None,
    gate: bool = False,
    **limits: Any,
) -> Any:
    """One key of the settings file: default, documentation and where else it is used.

    `env`: an environment variable that overrides the file; `dbt_var`: the dbt var that receives
    the value; `gate`: the value is a quality-gate parameter of the same name; `limits`: pydantic
    constraints (`ge`, `le`, `gt`...), refused with the key's path when violated.
    """
    extra: dict[str, Any] = {}
    if env:
        extra["env"] = env
    if dbt_var:
        extra["dbt_var"] = dbt_var
    if gate:
        extra["gate"] = True
    return Field(default=default, description=description, json_schema_extra=extra, **limits)


def _marker(info: FieldInfo, name: str) -> Any:
    extra = info.json_schema_extra
    return extra.get(name) if isinstance(extra, dict) else None


class Section(dg.Config):
    """A block of the settings file. Unknown keys are refused: a typo must not keep a default."""

    model_config = ConfigDict(extra="forbid")


def _check_date(value: str, *, empty_ok: bool) -> str:
    if value == "" and empty_ok:
        return value
    try:
        dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"expected a date YYYY-MM-DD, got {value!r}") from exc
    return value


def check_timezone(timezone: str) -> str:
    """Return `timezone` if it is an IANA timezone name (e.g. Europe/Paris), else raise."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown timezone {timezone!r} (use an IANA name such as Europe/Paris)"
        ) from exc
    return timezone


# --- sections read by every refresh -------------------------------------------------------------


class PathsSection(Section):
    """Where a refresh reads and writes (relative paths start at the working directory)."""

    landing_dir: str = setting(
        "data/demo/landing",
        "Landing directory holding the exports (docs/input_contract.md).",
        env="SEGMENTS_LANDING",
    )
    state_dir: str = setting(
        "data/state",
        "Serving file, exports, reports, quality results, alerts, sensor state.",
        env="SEGMENTS_STATE_DIR",
    )
    mapping_file: str = setting("", "Column-mapping YAML of your CRM exports; empty = none.")
    identity_overrides_file: str = setting(
        "config/identity_overrides.yaml",
        "Data stewards' never_merge / force_merge pairs (a missing file means none).",
    )


class WarehouseSection(Section):
    """The private build warehouse (one DuckDB file, one writer): the `warehouse` resource."""

    path: str = setting(
        "data/warehouse.duckdb",
        "DuckDB file the pipeline builds; BI tools never open it.",
        env="SEGMENTS_WAREHOUSE",
    )
    threads: int = setting(0, "DuckDB threads; 0 = DuckDB's default (all cores).", ge=0)
    memory_limit: str = setting(
        "4GB",
        "DuckDB memory_limit of every connection a refresh opens (warehouse, dbt, gates, the "
        "identity scratch database, the serving file's build); each spills to disk beyond it. "
        "DuckDB's own default (80% of RAM) starves a shared machine; 4GB held 10M orders at a "
        "4.9 GB peak (docs/benchmarks.md).",
        env="SEGMENTS_DUCKDB_MEMORY_LIMIT",
    )


class RefreshSection(Section):
    """What one refresh computes: as-of date, scoring, cohorts, churn, NPS (docs/segments.md)."""

    as_of: str = setting(
        "", "As-of date YYYY-MM-DD (rows after it are left out); empty = today in `timezone`."
    )
    currency: str = setting(
        "EUR", "Currency of amounts exported without one (ISO 4217).", pattern=r"^[A-Z]{3}$"
    )
    timezone: str = setting(
        "Europe/Paris", "IANA timezone of 'today' (empty as_of) and of the schedule's ticks."
    )
    lookback_days: int = setting(
        0,
        "Orders older than this many days are not scored; 0 = all history.",
        ge=0,
        dbt_var="lookback_days",
        gate=True,
    )
    score_buckets: int = setting(
        5,
        "Scores run from 1 to this number (3..10).",
        ge=3,
        le=10,
        dbt_var="score_buckets",
        gate=True,
    )
    score_method: Literal["rank", "ntile"] = setting(
        "rank",
        "rank: tie-consistent (equal customers, equal scores); ntile: equal-sized buckets.",
        dbt_var="score_method",
    )
    monetary_mode: Literal["net", "gross"] = setting(
        "net",
        "net: order amounts minus refunds; gross: refunds ignored.",
        dbt_var="monetary_mode",
        gate=True,
    )
    cohort_grain: Literal["month", "quarter"] = setting(
        "month",
        "Acquisition cohorts by month or quarter of the first order.",
        dbt_var="cohort_grain",
    )
    churn_days: int = setting(
        180,
        "A customer without a qualifying order for this many days is churned.",
        gt=0,
        dbt_var="churn_days",
    )
    nps_window_days: int = setting(
        365,
        "NPS counts the answers of this many days up to the as-of date.",
        gt=0,
        dbt_var="nps_window_days",
    )
    nps_min_responses: int = setting(
        20,
        "An NPS on fewer answers is flagged unreliable (is_nps_reliable); the report hides it.",
        ge=1,
        dbt_var="nps_min_responses",
    )
    engine: Literal["duckdb", "spark"] = setting(
        "duckdb", "Engine of the dbt models: duckdb, or spark to scale out (docs/spark.md)."
    )
    spark_dir: str = setting(
        "",
        "Spark warehouse and metastore folder; empty = <warehouse dir>/spark. Keep it: the "
        "history tables are incremental.",
    )

    @field_validator("as_of")
    @classmethod
    def _as_of_is_a_date(cls, value: str) -> str:
        return _check_date(value, empty_ok=True)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value)


class ExclusionsSection(Section):
    """Who `campaign_exclusions` lists besides lost customers (docs/segments.md)."""

    serial_returner_rate: float = setting(
        0.5,
        "Share of returned orders from which a customer is a serial returner.",
        gt=0,
        le=1,
        dbt_var="serial_returner_rate",
    )
    support_heavy_ratio: float = setting(
        1.0,
        "Support tickets per order from which a customer is support heavy.",
        gt=0,
        dbt_var="support_heavy_ratio",
    )


class MarketingSection(Section):
    """The marketing marts: campaigns, star products, personas, priorities (docs/segments.md)."""

    attribution_window_days: int = setting(
        30,
        "Days after a campaign contact an order counts as its conversion (0 = same day only).",
        ge=0,
        dbt_var="attribution_window_days",
    )
    star_min_customers: int = setting(
        10,
        "Buyers a product or category needs in a segment to be ranked in segment_star_products.",
        ge=1,
        dbt_var="star_min_customers",
    )
    persona_min_customers: int = setting(
        10,
        "Persona breakdown cells (and segments) with fewer customers are suppressed.",
        ge=1,
        dbt_var="persona_min_customers",
    )
    priority_impact_weight: float = setting(
        0.5,
        "Weight of impact against the seed's pertinence in segment_priority (0..1).",
        ge=0,
        le=1,
        dbt_var="priority_impact_weight",
    )


class QualitySection(Section):
    """Thresholds of the quality gates (docs/quality.md) and the Data Docs kept."""

    date_floor: str = setting(
        "1900-01-01",
        "Plausibility floor YYYY-MM-DD: older dates are quarantined row by row "
        "(implausible_date), and the gates accept dates from it to the as-of date.",
    )
    max_history_loss: float = setting(
        0.01,
        "Exports are cumulative: share of the rows not dated after the last accepted load's "
        "as-of that may go missing since that load; a larger loss blocks (0.01 = 1%).",
        ge=0,
        le=1,
        gate=True,
    )
    max_volume_drop: float = setting(
        0.5,
        "A total raw row count falling by this share or more against the last accepted load "
        "blocks the refresh (0.5 = a drop of 50% or more).",
        gt=0,
        le=1,
        gate=True,
    )
    quarantine_ceiling: float = setting(
        0.1,
        "Highest share of rejected rows per landing file before the gate blocks.",
        ge=0,
        le=1,
        gate=True,
    )
    # A file lying mostly after a past as-of leaves a handful of rows in the refresh, while its
    # rows without a usable date (unparsable dates, shifted rows) cannot be deferred: measured
    # on the demo as of 2025-06-30, 22 such rows against 4 accepted blocked the refresh (0.85).
    quarantine_min_rows: int = setting(
        100,
        "Rows of a landing file within the as-of (read minus deferred) from which its quarantine "
        "rate is taken over them; with fewer, it is taken over every row read.",
        ge=1,
        gate=True,
    )
    drift_warn_points: float = setting(
        5.0,
        "Segment share move (percentage points) against the last publication: warn.",
        ge=0,
        le=100,
        gate=True,
    )
    drift_block_points: float = setting(
        25.0,
        "Segment share move (percentage points) against the last publication: block.",
        ge=0,
        le=100,
        gate=True,
    )
    engine: Literal["sql", "pandas"] = setting(
        "sql", "How GX validates: sql (in DuckDB, faster) or pandas (docs/quality.md)."
    )
    data_docs_keep_runs: int = setting(
        20,
        "Runs whose validation results and Data Docs pages are kept; older ones are pruned.",
        ge=1,
    )

    @field_validator("date_floor")
    @classmethod
    def _date_floor_is_a_date(cls, value: str) -> str:
        return _check_date(value, empty_ok=False)

    @model_validator(mode="after")
    def _warn_before_block(self) -> QualitySection:
        if self.drift_warn_points > self.drift_block_points:
            raise ValueError(
                f"drift_warn_points ({self.drift_warn_points:g}) must not exceed "
                f"drift_block_points ({self.drift_block_points:g})"
            )
        return self


class ServingSection(Section):
    """What the publication produces (docs/serving.md). Secrets stay in the environment:
    $SEGMENTS_PII_KEY (pseudonymous keys) and $SEGMENTS_PG_DSN (PostgreSQL)."""

    schemas: list[str] = setting(
        ["marts", "history"], "Warehouse schemas whose tables and views are published."
    )
    exclude_tables: list[str] = setting([], "Table names (or schema.table) never published.")
    extra_pii_columns: list[str] = setting(
        [], "More column names (regex, case-insensitive) to drop as personal data."
    )
    generate_dev_pii_key: bool = setting(
        False,
        "Development only: without $SEGMENTS_PII_KEY, create (once) and reuse a random key in "
        "<state_dir>/serving/pii_key.dev.",
    )
    export_parquet: bool = setting(True, "Write <table>.parquet exports.")
    export_csv: bool = setting(True, "Write <table>.csv exports.")
    csv_delimiter: str = setting(";", "CSV delimiter (';' for French Excel).")
    csv_bom: bool = setting(True, "Start CSV files with a UTF-8 BOM (Excel).")
    csv_decimal_comma: bool = setting(True, "Write decimals with a comma in CSV (French Excel).")
    keep_refreshes: int = setting(
        5, "Published refresh folders kept under exports/ (and campaign/).", ge=1
    )
    campaign_export: bool = setting(
        False,
        "Also write campaign/<refresh>/campaign_contacts.* WITH e-mails of opted-in customers "
        "(minus campaign_exclusions). Off by default: it holds personal data.",
    )
    pg_schema: str = setting("segments", "Live PostgreSQL schema BI tools read.")
    pg_reader_role: str = setting(
        "", "PostgreSQL role granted USAGE and SELECT on each new schema."
    )
    pg_lock_timeout_seconds: int = setting(
        300, "How long the schema swap waits for open reader transactions.", ge=1
    )


class ReportSection(Section):
    """The insight report (docs/report.md)."""

    language: Literal["fr", "en"] = setting(
        "fr",
        "Language of the report and of customer_rfm.recommended_action.",
        env="SEGMENTS_REPORT_LANGUAGE",
        dbt_var="segment_language",
    )


class PredictionSection(Section):
    """Predicted orders, CLV and churn per customer (docs/predictions.md)."""

    horizon_days: int = setting(
        365, "Horizon of expected orders and predicted CLV, in days.", ge=30, le=1825
    )
    discount_rate: float = setting(
        0.0,
        "Yearly discount rate of predicted CLV (0 = not discounted; 0.1 = 10% a year).",
        ge=0.0,
        lt=1.0,
    )
    fit_sample: int = setting(
        50_000,
        "Customers (a deterministic sample) the models are fitted on; every customer is scored.",
        ge=1_000,
    )


class ClusteringSection(Section):
    """Behaviour clusters found in the data and their drift (docs/predictions.md)."""

    k_min: int = setting(3, "Fewest clusters tried.", ge=2, le=20)
    k_max: int = setting(8, "Most clusters tried.", ge=2, le=20)
    sample: int = setting(
        50_000,
        "Customers (a deterministic sample) k-means is fitted on; every customer is assigned.",
        ge=1_000,
    )
    drift_min_ari: float = setting(
        0.6,
        "Adjusted Rand index against the previous refresh below which the clusters drift.",
        ge=0.0,
        le=1.0,
    )
    drift_max_shift: float = setting(
        0.5, "Centroid move (standard deviations) above which a cluster drifts.", gt=0.0
    )

    @model_validator(mode="after")
    def _k_range(self) -> ClusteringSection:
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) must not exceed k_max ({self.k_max})")
        return self


# --- automation (read when the code location loads) ---------------------------------------------

MIN_CADENCE_MONTHS = 3
MAX_CADENCE_MONTHS = 6


def check_cadence(cadence_months: int) -> int:
    """Return `cadence_months` if it is an allowed refresh cadence (3..6), else raise ValueError.

    Segments move slowly: refreshing more often than quarterly mostly shows noise, and less often
    than half-yearly lets campaigns run on stale segments.
    """
    if isinstance(cadence_months, bool) or not isinstance(cadence_months, int):
        raise ValueError(f"cadence_months must be an integer, got {cadence_months!r}")
    if not MIN_CADENCE_MONTHS <= cadence_months <= MAX_CADENCE_MONTHS:
        raise ValueError(
            f"cadence_months must be between {MIN_CADENCE_MONTHS} and {MAX_CADENCE_MONTHS} "
            f"(a refresh every 3 to 6 months), got {cadence_months}"
        )
    return cadence_months


class ScheduleSection(Section):
    """The periodic refresh: every `cadence_months` months on the 1st at `hour`."""

    enabled: bool = setting(True, "Status when the daemon starts (a UI toggle wins afterwards).")
    cadence_months: int = setting(
        3, "Months between scheduled refreshes: 3 (quarterly) to 6; counted from January."
    )
    hour: int = setting(6, "Hour of the tick, in refresh.timezone.", ge=0, le=23)

    @field_validator("cadence_months")
    @classmethod
    def _valid_cadence(cls, value: int) -> int:
        return check_cadence(value)


class NewDataSection(Section):
    """Refresh when an export the last refresh did not read lands (docs/automation.md)."""

    enabled: bool = setting(True, "Status when the daemon starts (a UI toggle wins afterwards).")
    minimum_interval_seconds: int = setting(60, "Seconds between two looks.", ge=1)
    entities: list[str] = setting(
        ["orders", "customers", "refunds", "order_lines"],
        "Entities whose new content triggers a refresh. KPI feeds (nps_responses, "
        "support_tickets) go through kpi_monitor: they refresh only when a KPI drops.",
    )


class KpiMonitorSection(Section):
    """The light monitoring job: ingest and KPIs at two as-of bases, nothing published."""

    enabled: bool = setting(True, "Status when the daemon starts (a UI toggle wins afterwards).")
    minimum_interval_seconds: int = setting(
        86400,
        "Seconds between two looks (daily); a look runs the job only for new content.",
        ge=1,
    )
    entities: list[str] = setting(
        ["nps_responses", "support_tickets"],
        "Entities whose new content (not read by the last refresh) runs the monitoring job.",
    )


class KpiDropSection(Section):
    """When the monitoring job's figures justify a refresh (like with like, docs/automation.md)."""

    enabled: bool = setting(True, "Status when the daemon starts (a UI toggle wins afterwards).")
    minimum_interval_seconds: int = setting(300, "Seconds between two looks.", ge=1)
    nps_drop_points: float = setting(
        10.0,
        "NPS (-100..100) of the answers received since the last refresh this many points "
        "below the published NPS triggers a refresh.",
        gt=0,
    )
    min_new_answers: int = setting(
        30, "Fewest answers since the last refresh for an NPS comparison (noise guard).", ge=1
    )
    churn_rate_rise: float = setting(
        0.05,
        "Churn rate (a fraction) at the published as-of date, recomputed on today's data, "
        "this much above the published one triggers a refresh.",
        gt=0,
        le=1,
    )
    watched_segments: list[str] = setting(
        ["Champions"], "Segments watched besides the overall row 'All'."
    )


class BusinessEventsSection(Section):
    """Refresh once per business-event file (`segments trigger`)."""

    enabled: bool = setting(True, "Status when the daemon starts (a UI toggle wins afterwards).")
    minimum_interval_seconds: int = setting(30, "Seconds between two looks.", ge=1)


class RunFailureSection(Section):
    """Alerts on failed runs (table `alerts` in <state_dir>/alerts.duckdb)."""

    enabled: bool = setting(True, "Status when the daemon starts (a UI toggle wins afterwards).")
    webhook_url: str = setting(
        "",
        "POST a JSON alert here on every failed run; empty = none. Keep secret URLs in the "
        "environment.",
        env="SEGMENTS_ALERT_WEBHOOK",
    )
    webhook_timeout_seconds: float = setting(
        10.0, "Seconds before the webhook call gives up.", gt=0
    )


class AutomationSection(Section):
    """Schedule and sensors (docs/automation.md). Read when the code location loads."""

    settle_seconds: float = setting(
        60.0,
        "Landing files modified less than this many seconds ago may still be copying: the "
        "new_data and kpi_monitor sensors wait for them.",
        ge=0,
    )
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    new_data: NewDataSection = Field(default_factory=NewDataSection)
    kpi_monitor: KpiMonitorSection = Field(default_factory=KpiMonitorSection)
    kpi_drop: KpiDropSection = Field(default_factory=KpiDropSection)
    business_events: BusinessEventsSection = Field(default_factory=BusinessEventsSection)
    run_failure: RunFailureSection = Field(default_factory=RunFailureSection)


#: Sections carried by the `settings` resource of every run (the others have their resource).
RUN_SECTIONS = (
    "paths",
    "refresh",
    "exclusions",
    "marketing",
    "quality",
    "report",
    "prediction",
    "clustering",
)


class SegmentsSettings(BaseModel):
    """The whole settings file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    paths: PathsSection = Field(default_factory=PathsSection)
    warehouse: WarehouseSection = Field(default_factory=WarehouseSection)
    refresh: RefreshSection = Field(default_factory=RefreshSection)
    exclusions: ExclusionsSection = Field(default_factory=ExclusionsSection)
    marketing: MarketingSection = Field(default_factory=MarketingSection)
    quality: QualitySection = Field(default_factory=QualitySection)
    serving: ServingSection = Field(default_factory=ServingSection)
    report: ReportSection = Field(default_factory=ReportSection)
    prediction: PredictionSection = Field(default_factory=PredictionSection)
    clustering: ClusteringSection = Field(default_factory=ClusteringSection)
    automation: AutomationSection = Field(default_factory=AutomationSection)

    def run_config(self, as_of: str | None = None) -> dict[str, Any]:
        """The run config of a refresh: the `settings`, `warehouse` and `serving` resources.

        Every field is sent (Dagster replaces a resource's whole config when a run names it).
        `as_of` replaces `refresh.as_of` (runs carry a resolved date, so they are reproducible).
        """
        settings = {name: getattr(self, name).model_dump() for name in RUN_SECTIONS}
        if as_of is not None:
            settings["refresh"]["as_of"] = as_of
        return {
            "resources": {
                "settings": {"config": settings},
                "warehouse": {"config": self.warehouse.model_dump()},
                "serving": {"config": self.serving.model_dump()},
            }
        }

    def with_values(self, values: Mapping[str, Any]) -> SegmentsSettings:
        """A copy with dotted keys replaced (`{"refresh.score_buckets": 3}`), validated."""
        data = self.model_dump()
        for key, value in values.items():
            _put(data, key.split("."), value)
        return validate_settings(data, {key: "override" for key in values})


# --- walking the model --------------------------------------------------------------------------


def _section_type(info: FieldInfo) -> type[BaseModel] | None:
    annotation = info.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def iter_fields(
    model: type[BaseModel] = SegmentsSettings, prefix: str = ""
) -> Iterator[tuple[str, FieldInfo]]:
    """(dotted key, field) of every leaf setting, in declaration order."""
    for name, info in model.model_fields.items():
        section = _section_type(info)
        if section is not None:
            yield from iter_fields(section, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", info


def field_for(key: str) -> FieldInfo | None:
    """The field declaring a dotted key, or None when there is no such key."""
    return dict(iter_fields()).get(key)


def get_value(model: BaseModel, key: str) -> Any:
    """The value of a dotted key in a settings model."""
    value: Any = model
    for part in key.split("."):
        value = getattr(value, part)
    return value


def marked_values(section: BaseModel, marker: str) -> dict[str, Any]:
    """{marker value or field name: value} of the fields of `section` carrying `marker`."""
    found = {}
    for name, info in type(section).model_fields.items():
        mark = _marker(info, marker)
        if mark:
            found[mark if isinstance(mark, str) else name] = getattr(section, name)
    return found


def env_variables() -> dict[str, str]:
    """{environment variable: dotted key} of the keys an environment variable may set."""
    return {
        _marker(info, "env"): key for key, info in iter_fields() if _marker(info, "env") is not None
    }


# --- loading ------------------------------------------------------------------------------------


class SettingsError(ValueError):
    """Settings refused; the message holds one line per bad key, naming the key."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


@dataclass(frozen=True)
class LoadedSettings:
    """Effective settings and, per dotted key, where the value came from."""

    settings: SegmentsSettings
    sources: dict[str, str] = field(default_factory=dict)
    file: Path | None = None

    def source(self, key: str) -> str:
        """`default`, `file <path>`, `env <VAR>`, `option --x` or `--set`."""
        return self.sources.get(key, "default")

    def rows(self) -> list[tuple[str, Any, str, bool]]:
        """(key, value, source, equals the default) for every key."""
        defaults = SegmentsSettings()
        return [
            (
                key,
                get_value(self.settings, key),
                self.source(key),
                get_value(self.settings, key) == get_value(defaults, key),
            )
            for key, _ in iter_fields()
        ]


def config_file_in_use(explicit: Path | str | None = None, env: Mapping[str, str] | None = None):
    """The settings file: `explicit`, else $SEGMENTS_CONFIG, else config/segments.yaml.

    Returns None when the repository file is absent (defaults only); a file named explicitly or
    by the environment must exist.
    """
    env = os.environ if env is None else env
    named = explicit or env.get(CONFIG_ENV)
    if named:
        path = Path(named).expanduser().resolve()
        if not path.is_file():
            origin = "--config" if explicit else f"${CONFIG_ENV}"
            raise SettingsError([f"settings file {path} ({origin}) not found"])
        return path
    return DEFAULT_SETTINGS_FILE if DEFAULT_SETTINGS_FILE.is_file() else None


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{dotted}.")
        else:
            yield dotted, value


def _put(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            # `refresh=3` then `refresh.score_buckets=5`: let validation report `refresh`.
            return
        node = child
    node[parts[-1]] = value


def _is_text(info: FieldInfo | None) -> bool:
    """True when the key holds text: its values are taken verbatim, never parsed as YAML."""
    if info is None:
        return True
    annotation = info.annotation
    if annotation is str:
        return True
    return typing.get_origin(annotation) is Literal and all(
        isinstance(arg, str) for arg in typing.get_args(annotation)
    )


def parse_value(key: str, text: str) -> Any:
    """A value given as text (`--set`, environment): verbatim for text keys, else YAML
    (`3`, `0.5`, `true`, `[Champions, Loyal]`), so types are checked by the model."""
    if _is_text(field_for(key)):
        return text
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def parse_set(item: str) -> tuple[str, Any]:
    """`section.key=value` -> (dotted key, value); raises SettingsError naming the item."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or "." not in key or not all(key.split(".")):
        raise SettingsError([f"--set {item!r}: expected section.key=value"])
    return key, parse_value(key, text)


def _plain(value: Any) -> Any:
    """YAML dates (an unquoted 2026-10-01) become the text the model expects."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def validate_settings(
    data: Mapping[str, Any], sources: Mapping[str, str] | None = None
) -> SegmentsSettings:
    """Validate nested settings; errors become one line each, naming the key and its source."""
    sources = sources or {}
    try:
        return SegmentsSettings.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            origin = sources.get(key) or _source_below(sources, key) or "default"
            if error["type"] == "extra_forbidden":
                lines.append(f"{key}: unknown key (from {origin})")
                continue
            message = error["msg"].removeprefix("Value error, ")
            got = f"got {error['input']!r}, " if error["type"] != "model_type" else ""
            lines.append(f"{key}: {message} ({got}from {origin})")
        raise SettingsError(lines) from None


def _source_below(sources: Mapping[str, str], key: str) -> str | None:
    """Source of a key inside `key` (a section-level error: name where its values came from)."""
    below = sorted({src for k, src in sources.items() if k.startswith(f"{key}.")})
    return ", ".join(below) or None


def load_settings(
    config_file: Path | str | None = None,
    sets: Iterable[str] = (),
    *,
    options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Effective settings: defaults < file < environment < `options` < `--set` items.

    `options` are dotted keys set by a command's dedicated options (`--landing` ...), given as
    {dotted key: (option name, value)}; None values are skipped. Raises SettingsError.
    """
    env = os.environ if env is None else env
    file = config_file_in_use(config_file, env)
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def put(key: str, value: Any, source: str) -> None:
        _put(data, key.split("."), _plain(value))
        sources[key] = source

    if file is not None:
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise SettingsError([f"{file}: not valid YAML ({exc})".replace("\n", " ")]) from None
        if raw is not None and not isinstance(raw, Mapping):
            raise SettingsError([f"{file}: expected sections (paths:, refresh:...) at the top"])
        for key, value in _flatten(raw or {}):
            put(key, value, f"file {file}")
    for var, key in env_variables().items():
        if env.get(var):
            put(key, parse_value(key, env[var]), f"env {var}")
    for key, (option, value) in (options or {}).items():
        if value is not None:
            put(key, value, f"option {option}")
    errors = []
    for item in sets:
        try:
            key, value = parse_set(item)
        except SettingsError as exc:
            errors.extend(exc.lines)
            continue
        put(key, value, "--set")
    try:
        settings = validate_settings(data, sources)
    except SettingsError as exc:
        errors.extend(exc.lines)
    if errors:
        raise SettingsError(errors)
    return LoadedSettings(settings, sources, file)


# --- rendering ----------------------------------------------------------------------------------


def yaml_value(value: Any) -> str:
    """One value as it is written in the settings file (`''`, `[Champions]`, `0.5`...)."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1000)
    return text.removesuffix("\n").removesuffix("\n...").strip()


_HEADER = """\
# Customer segments: every setting, at its default.
#
# One file for the whole pipeline: the CLI (`segments refresh`, `backfill`, `trigger`), Dagster
# (`make dev`, the daemon) and dbt read it. Use another file with `--config PATH` or
# $SEGMENTS_CONFIG; change one key for one command with `--set section.key=value`.
# `segments config show` prints the effective values and where each came from. Unknown keys,
# wrong types and out-of-range values are refused, naming the key (docs/settings.md).
#
# Generated from pipeline/lib/settings.py by `segments config defaults`; a test keeps it equal.
"""


def render_defaults() -> str:
    """The settings file with every key at its default, each under its description."""
    lines = [_HEADER.rstrip("\n")]

    def section(model: type[BaseModel], indent: int) -> None:
        pad = "  " * indent
        for name, info in model.model_fields.items():
            sub = _section_type(info)
            if sub is not None:
                doc = " ".join((sub.__doc__ or "").split())
                if indent == 0:
                    lines.append("")
                lines.extend(f"{pad}# {line}" for line in textwrap.wrap(doc, 98 - len(pad)) if doc)
                lines.append(f"{pad}{name}:")
                section(sub, indent + 1)
                continue
            doc = info.description or ""
            env = _marker(info, "env")
            if env:
                doc += f" ${env} overrides it."
            lines.extend(f"{pad}# {line}" for line in textwrap.wrap(doc, 98 - len(pad)))
            lines.append(f"{pad}{name}: {yaml_value(info.get_default(call_default_factory=True))}")

    section(SegmentsSettings, 0)
    return "\n".join(lines) + "\n"
