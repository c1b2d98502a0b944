"""Resources shared by every domain: the build warehouse and the refresh settings.

Both are built from the settings model (`pipeline/lib/settings.py`): the `warehouse` resource is
the `warehouse:` section, the `settings` resource carries the sections every refresh reads
(`RUN_SECTIONS`: paths, refresh, exclusions, marketing, quality, report, prediction,
clustering). No default is written here.

One DuckDB path serves Dagster and dbt: the `Warehouse` resource owns it and the dbt assets pass it
to dbt as the `warehouse_path` var, which `dbt_project/profiles.yml` reads.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
from pydantic import ConfigDict, Field

from pipeline.lib.permissions import ensure_private_dir, make_private, private_by_default
from pipeline.lib.preflight import folder_problem, raise_problems
from pipeline.lib.settings import (
    RUN_SECTIONS,
    ClusteringSection,
    ExclusionsSection,
    LoadedSettings,
    MarketingSection,
    PathsSection,
    PredictionSection,
    QualitySection,
    RefreshSection,
    ReportSection,
    SegmentsSettings,
    ServingSection,
    WarehouseSection,
    load_settings,
    marked_values,
)
from pipeline.lib.writer_lock import acquire, release

#: Every Python asset that writes the warehouse runs in this pool: DuckDB has a single writer.
WAREHOUSE_POOL = "duckdb_warehouse"


def _absolute(path: str) -> Path:
    """Relative paths start at the working directory (the repository for `make` targets)."""
    return Path(path).expanduser().resolve()


class Warehouse(dg.ConfigurableResource, WarehouseSection):
    """The private build warehouse: a DuckDB file only the pipeline opens, as its one writer.

    Its fields are the `warehouse:` section of the settings file.
    """

    def resolved_path(self) -> Path:
        """Absolute path of the warehouse file (relative paths are taken from the working dir)."""
        return _absolute(self.path)

    def problems(self) -> list[str]:
        """Pre-flight (`pipeline.lib.preflight`): the warehouse can be created or written."""
        path = self.resolved_path()
        problem = folder_problem(path.parent, "warehouse folder")
        if problem:
            return [problem]
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            return [f"warehouse {path} is not readable and writable by this user"]
        return []

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """At run start: private file modes, the pre-flight checks, then the writer lock.

        The lock (`pipeline.lib.writer_lock`) is held until the run ends: a second run writing
        the same file, from any process or Dagster instance, waits for this one.
        """
        run = getattr(context, "dagster_run", None)
        if run is None:
            raise_problems(context, self.problems())
            return
        private_by_default()
        raise_problems(context, self.problems())

        def waiting(holder: str) -> None:
            context.log.warning(f"waiting for the warehouse writer lock, held by {holder}")

        acquire(
            self.resolved_path(),
            f"run {run.run_id} of job {run.job_name}",
            on_wait=waiting,
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """At run end (success or failure): give the writer lock back."""
        if getattr(context, "dagster_run", None) is not None:
            release(self.resolved_path())

    def duckdb_config(self) -> dict[str, Any]:
        """The settings of every DuckDB connection that works for this warehouse.

        The warehouse's own, the gates', the identity scratch database's and the serving file's
        build: each one left to DuckDB's defaults could take 80% of the machine's RAM (seen:
        23.4 GB resident for the identity scratch at 10M customer records).
        """
        config: dict[str, Any] = {}
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        if self.threads:
            config["threads"] = self.threads
        return config

    def scratch_config(self, purpose: str) -> dict[str, Any]:
        """`duckdb_config` for an in-memory scratch database, spilling beside the warehouse.

        In memory, DuckDB spills to `.tmp` in the current directory; `purpose` names the folder
        (`<warehouse>.<purpose>.tmp`), apart from the warehouse's own `<warehouse>.tmp`.
        """
        return {**self.duckdb_config(), "temp_directory": f"{self.resolved_path()}.{purpose}.tmp"}

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the warehouse, creating its folder on first use; always closes the connection.

        A writer makes the file owner-only: it holds personal data (emails, phones, raw rows).
        """
        path = self.resolved_path()
        if not read_only:
            ensure_private_dir(path.parent)
        con = duckdb.connect(str(path), read_only=read_only, config=self.duckdb_config())
        if not read_only:
            make_private(path)
        try:
            yield con
        finally:
            con.close()


def _flat_names() -> dict[str, str]:
    """{key name: section} for key names that appear in one run section only."""
    seen: dict[str, list[str]] = {}
    for section in RUN_SECTIONS:
        for name in SegmentsSettings.model_fields[section].annotation.model_fields:
            seen.setdefault(name, []).append(section)
    return {name: sections[0] for name, sections in seen.items() if len(sections) == 1}


def _nest_flat_keys(values: Mapping[str, Any]) -> dict[str, Any]:
    """Put section-less key names (`as_of=...`) into their section (`refresh={"as_of": ...}`)."""
    owners = _flat_names()
    nested: dict[str, Any] = {}
    for key, value in values.items():
        if key in RUN_SECTIONS:
            section = value.model_dump() if hasattr(value, "model_dump") else dict(value)
            nested.setdefault(key, {}).update(section)
        elif key in owners:
            nested.setdefault(owners[key], {})[key] = value
        else:
            nested[key] = value  # refused by validation, naming the key
    return nested


class RefreshSettings(dg.ConfigurableResource):
    """What one refresh reads and how it scores: the run-time sections of the settings file.

    Read a value by its section (`settings.refresh.score_buckets`). Python callers (tests,
    scripts) may construct it with key names that are unique across sections
    (`RefreshSettings(as_of="2026-10-01", state_dir=...)`): they are put in their section.
    """

    model_config = ConfigDict(extra="forbid")

    paths: PathsSection = Field(default_factory=PathsSection, description="paths: section.")
    refresh: RefreshSection = Field(default_factory=RefreshSection, description="refresh: section.")
    exclusions: ExclusionsSection = Field(
        default_factory=ExclusionsSection, description="exclusions: section."
    )
    marketing: MarketingSection = Field(
        default_factory=MarketingSection, description="marketing: section."
    )
    quality: QualitySection = Field(default_factory=QualitySection, description="quality: section.")
    report: ReportSection = Field(default_factory=ReportSection, description="report: section.")
    prediction: PredictionSection = Field(
        default_factory=PredictionSection, description="prediction: section."
    )
    clustering: ClusteringSection = Field(
        default_factory=ClusteringSection, description="clustering: section."
    )

    def __init__(self, **values: Any) -> None:
        # Dagster keeps the keyword arguments as the resource's config: sort them first.
        super().__init__(**_nest_flat_keys(values))

    @classmethod
    def from_settings(cls, settings: SegmentsSettings) -> RefreshSettings:
        """The resource for these effective settings."""
        return cls(**{name: getattr(settings, name) for name in RUN_SECTIONS})

    def as_of_date(self) -> dt.date:
        """The refresh's as-of date: the configured one, or today in the configured timezone."""
        if self.refresh.as_of:
            return dt.date.fromisoformat(self.refresh.as_of)
        return dt.datetime.now(ZoneInfo(self.refresh.timezone)).date()

    def today(self) -> dt.date:
        """Today in the deployment's timezone: the as-of date of event-triggered refreshes."""
        return dt.datetime.now(ZoneInfo(self.refresh.timezone)).date()

    def date_floor_date(self) -> dt.date:
        """The plausibility floor; an error when it is not on or before the as-of date."""
        floor = dt.date.fromisoformat(self.quality.date_floor)
        as_of = self.as_of_date()
        if floor > as_of:
            raise ValueError(
                f"date_floor {floor} is after the as-of date {as_of}: no date could pass; "
                "set a floor on or before the as-of date (--date-floor)"
            )
        return floor

    def landing_path(self) -> Path:
        """Absolute landing directory."""
        return _absolute(self.paths.landing_dir)

    def state_path(self) -> Path:
        """Absolute state directory (created on demand, owner-only: it holds run logs, quality
        samples and sensor state; BI outputs inside have their own modes)."""
        return ensure_private_dir(_absolute(self.paths.state_dir))

    def problems(self) -> list[str]:
        """Pre-flight (`pipeline.lib.preflight`): values dbt or a step would refuse, one line each.

        The typed settings model already refused unknown keys, wrong types, unknown engines,
        timezones and languages; this checks what depends on several values or on the machine:
        the as-of date and the date floor, the dbt vars and the state directory (created if
        missing). The mapping file is checked by `pipeline.preflight` (it belongs to ingest).
        """
        problems = []
        for check in (self.as_of_date, self.date_floor_date, self.dbt_vars):
            try:
                check()
            except ValueError as exc:
                if str(exc) not in problems:
                    problems.append(str(exc))
        problem = folder_problem(_absolute(self.paths.state_dir), "state directory")
        if problem:
            problems.append(problem)
        return problems

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """At run start: refuse the run, before any step, when `problems()` finds any."""
        raise_problems(context, self.problems())

    def mapping_path(self) -> Path | None:
        """The mapping file, or None when the defaults are used."""
        return _absolute(self.paths.mapping_file) if self.paths.mapping_file else None

    def dbt_vars(self) -> dict[str, Any]:
        """The vars every dbt invocation receives: every setting marked `dbt_var`.

        `dbt_project.yml` keeps the same defaults for people running dbt by hand (a test checks
        they are equal); the as-of date is resolved here, so a run never depends on "today".
        """
        found: dict[str, Any] = {}
        for name in RUN_SECTIONS:
            found |= marked_values(getattr(self, name), "dbt_var")
        return {"as_of": self.as_of_date().isoformat(), **found}

    def gate_values(self) -> dict[str, Any]:
        """Every setting marked `gate`, by name: the parameters the quality suites reference."""
        found: dict[str, Any] = {}
        for name in RUN_SECTIONS:
            found |= marked_values(getattr(self, name), "gate")
        return found


def serving_config(serving: Any) -> dict[str, Any]:
    """The `serving:` section's fields of a serving resource (never its secrets)."""
    return {name: getattr(serving, name) for name in ServingSection.model_fields}


def resource_configs(
    settings: RefreshSettings, warehouse: Warehouse, serving: Any = None
) -> dict[str, Any]:
    """{resource key: config} of configured resources, as a run config carries them."""
    configs: dict[str, Any] = {
        "settings": {name: getattr(settings, name).model_dump() for name in RUN_SECTIONS},
        "warehouse": warehouse.model_dump(),
    }
    if serving is not None:
        configs["serving"] = serving_config(serving)
    return configs


def refresh_run_config(
    settings: RefreshSettings,
    warehouse: Warehouse,
    serving: Any = None,
    *,
    as_of: str | dt.date | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete run config for the refresh job from configured resources.

    Dagster replaces a resource's whole config when a run config names it, so every field is
    sent. `as_of` replaces the as-of date; `overrides` are dotted keys (`refresh.score_buckets`)
    validated like `--set` values (a business event may carry some).
    """
    configs = resource_configs(settings, warehouse, serving)
    data: dict[str, Any] = {**configs.pop("settings"), **configs}
    effective = SegmentsSettings.model_validate(data)
    if overrides:
        effective = effective.with_values(overrides)
    config = effective.run_config(as_of=as_of.isoformat() if isinstance(as_of, dt.date) else as_of)
    if serving is None:
        del config["resources"]["serving"]
    return config


@cache
def deployment_settings() -> LoadedSettings:
    """The settings Dagster's code location uses (file and environment, read once at load)."""
    return load_settings()
