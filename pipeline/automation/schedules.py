"""The periodic refresh: every 3 to 6 months, on the 1st of the month, at a set hour."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from pipeline.automation.requests import run_request
from pipeline.lib.jobs import REFRESH_JOB_NAME, refresh_segments_job
from pipeline.lib.reasons import RunReason
from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.lib.settings import check_cadence, check_timezone
from pipeline.serving.options import ServingOptions


def refresh_months(cadence_months: int) -> list[int] | None:
    """Calendar months of the refreshes when the cadence divides the year, else None.

    Counting starts in January: 3 -> [1, 4, 7, 10], 4 -> [1, 5, 9], 6 -> [1, 7]. A 5-month cadence
    falls on different months every year, which no cron month list can express.
    """
    check_cadence(cadence_months)
    if 12 % cadence_months:
        return None
    return list(range(1, 13, cadence_months))


def is_refresh_month(day: dt.date, cadence_months: int) -> bool:
    """True when `day`'s month is a refresh month of the cadence.

    Months are counted from January 2000, so every cadence (5 included) has a fixed, documented
    phase, and cadences dividing 12 agree with `refresh_months`.
    """
    check_cadence(cadence_months)
    return ((day.year - 2000) * 12 + day.month - 1) % cadence_months == 0


def refresh_cron(cadence_months: int, hour: int = 6) -> str:
    """The cron string of the schedule: the refresh months when they repeat yearly, else monthly.

    Monthly ticks of a 5-month cadence are filtered by `is_refresh_month` in the schedule itself.
    """
    if not 0 <= hour <= 23:
        raise ValueError(f"hour must be between 0 and 23, got {hour}")
    months = refresh_months(cadence_months)
    month_field = ",".join(str(m) for m in months) if months else "*"
    return f"0 {hour} 1 {month_field} *"


def build_refresh_schedule(
    cadence_months: int,
    timezone: str,
    hour: int = 6,
    *,
    job: Any = refresh_segments_job,
    name: str = "refresh_segments_schedule",
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> dg.ScheduleDefinition:
    """A schedule refreshing the segments every `cadence_months` months (3..6).

    Ticks fall on the 1st of the month at `hour` in `timezone`; the as-of date of each run is the
    tick's date in that timezone. Values outside 3..6 or an unknown timezone raise ValueError
    before any definition is built.
    """
    check_cadence(cadence_months)
    check_timezone(timezone)
    cron = refresh_cron(cadence_months, hour)
    job_name = getattr(job, "name", REFRESH_JOB_NAME)

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        execution_timezone=timezone,
        job=job,
        default_status=default_status,
        description=(
            f"Refresh the segments every {cadence_months} months on the 1st at {hour:02d}:00 "
            f"({timezone}); the run's as-of date is the tick date."
        ),
        tags={"segments/cadence_months": str(cadence_months)},
    )
    def _refresh_schedule(
        context: dg.ScheduleEvaluationContext,
        settings: RefreshSettings,
        warehouse: Warehouse,
        serving: ServingOptions,
    ) -> dg.RunRequest | dg.SkipReason:
        """Request one refresh whose as-of date is the tick date (in the schedule timezone)."""
        # The daemon passes the tick time; a hand-built context may leave it empty (= now).
        tick = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        if tick.tzinfo is None:
            tick = tick.replace(tzinfo=dt.UTC)
        as_of = tick.astimezone(ZoneInfo(timezone)).date()
        if not is_refresh_month(as_of, cadence_months):
            return dg.SkipReason(
                f"{as_of:%Y-%m} is not a refresh month of the {cadence_months}-month cadence"
            )
        return run_request(
            job_name=job_name,
            run_key=f"schedule:{as_of.isoformat()}",
            reason=RunReason(
                "schedule",
                f"scheduled refresh every {cadence_months} months",
                extra={"segments/cadence_months": str(cadence_months)},
            ),
            as_of=as_of,
            settings=settings,
            warehouse=warehouse,
            serving=serving,
        )

    return _refresh_schedule
