"""Backfill: rebuild past refreshes from the order history so history exists from day one.

For each past as-of date, in chronological order, the dbt models of the marts and the history
(and the staging/intermediate models they read) are rebuilt with that as-of date. Nothing is
re-ingested: the clean tables of the latest load are reused and dbt keeps orders <= as_of.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import dagster as dg
import duckdb
from dagster_dbt import build_dbt_asset_selection

from pipeline.lib.reasons import RunReason
from pipeline.lib.resources import RefreshSettings, Warehouse, refresh_run_config
from pipeline.segments.assets import segment_dbt_assets, segment_history_dbt_assets

BACKFILL_JOB_NAME = "backfill_history"
#: Marts and history plus everything upstream of them inside dbt (staging, intermediate, seeds):
#: those depend on the as-of date too. Python assets (ingest, identity) are not dbt nodes. The
#: history models' own parents (e.g. stg_master_id_successors, which no mart reads) are selected
#: in the non-history dbt assets too, so they exist when the history models are built.
BACKFILL_DBT_SELECT = "+path:models/marts +path:models/history"

backfill_history_job = dg.define_asset_job(
    BACKFILL_JOB_NAME,
    selection=(
        build_dbt_asset_selection([segment_dbt_assets], dbt_select=BACKFILL_DBT_SELECT)
        | build_dbt_asset_selection([segment_history_dbt_assets])
    ),
    executor_def=dg.in_process_executor,
    description="Rebuild the marts and the segment history for one past as-of date (no ingest, "
    "no publication); `segments backfill` runs it once per date.",
    tags={"segments/kind": "backfill"},
)


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` shifted by `months`, clamped to the month's last day (31 Jan + 1 -> 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def backfill_as_of_dates(start: dt.date, end: dt.date, every_months: int) -> list[dt.date]:
    """As-of dates from `start` to `end` (both included when on the grid), `every_months` apart.

    Each date is computed from `start` (not from the previous date), so month-end clamping never
    drifts: 31 Jan every 1 month gives 29 Feb, 31 Mar, 30 Apr...
    """
    if every_months < 1:
        raise ValueError(f"every_months must be at least 1, got {every_months}")
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    dates = []
    step = 0
    while (day := add_months(start, step * every_months)) <= end:
        dates.append(day)
        step += 1
    return dates


@dataclass(frozen=True)
class BackfillStep:
    """The outcome of one as-of date of a backfill."""

    as_of: dt.date
    run_id: str
    success: bool


@cache
def _backfill_definitions() -> dg.Definitions:
    """The dbt assets, their resources and the backfill job (built once, on first use).

    Built here rather than from pipeline.definitions so a backfill loads only what it runs.
    """
    from pipeline.segments.definitions import defs as segments_defs

    # The resources are those of the run config every backfill run carries.
    return dg.Definitions.merge(
        segments_defs,
        dg.Definitions(
            jobs=[backfill_history_job],
            resources={"warehouse": Warehouse(), "settings": RefreshSettings()},
        ),
    )


def check_clean_tables(warehouse: Warehouse) -> None:
    """Fail early, with the fix, when the warehouse has no loaded orders to backfill from."""
    path = warehouse.resolved_path()
    if not path.exists():
        raise RuntimeError(
            f"no warehouse at {path}: run a refresh first (backfill reuses its load)"
        )
    with warehouse.connect(read_only=True) as con:
        try:
            con.execute("select 1 from clean.orders limit 1").fetchall()
        except duckdb.CatalogException as exc:
            raise RuntimeError(
                f"{path} has no clean.orders: run a refresh first (backfill reuses its load)"
            ) from exc


def run_backfill(
    as_of_dates: Sequence[dt.date],
    *,
    settings: RefreshSettings | None = None,
    warehouse: Warehouse | None = None,
    instance: dg.DagsterInstance | None = None,
    on_step: Callable[[BackfillStep], None] | None = None,
) -> list[BackfillStep]:
    """Run the backfill job once per as-of date, oldest first; stop at the first failure.

    Order matters: segment_transitions pairs consecutive refreshes, and a later date must not be
    computed on a half-built history. Each run is tagged segments/trigger=backfill and is visible
    in the Dagster UI when `instance` is the persistent one.
    """
    settings = settings or RefreshSettings()
    warehouse = warehouse or Warehouse()
    check_clean_tables(warehouse)
    reason = RunReason("backfill", "backfill of a past as-of date")
    job = _backfill_definitions().resolve_job_def(BACKFILL_JOB_NAME)
    steps: list[BackfillStep] = []
    for as_of in sorted(set(as_of_dates)):
        result = job.execute_in_process(
            run_config=refresh_run_config(settings, warehouse, as_of=as_of.isoformat()),
            instance=instance,
            tags=reason.tags(as_of=as_of.isoformat()),
            raise_on_error=False,
        )
        step = BackfillStep(as_of, result.run_id, result.success)
        steps.append(step)
        if on_step:
            on_step(step)
        if not result.success:
            break
    return steps
