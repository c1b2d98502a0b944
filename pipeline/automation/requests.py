"""Run requests of the schedule and the sensors: one place builds their run config and tags.

Every automated run carries its reason (`pipeline.lib.reasons.RunReason`) in its tags, and the
request is recorded in the alerts table (`alert_kind = 'trigger'`) when it is made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import dagster as dg

from pipeline.automation.alerts import record_trigger
from pipeline.lib.reasons import RunReason
from pipeline.lib.resources import RefreshSettings, Warehouse, refresh_run_config

#: The op of the monitoring dbt assets, which takes the published as-of date as config.
MONITOR_OP = "segment_monitoring_dbt_assets"


def run_request(
    *,
    job_name: str,
    run_key: str,
    reason: RunReason,
    as_of: dt.date,
    settings: RefreshSettings,
    warehouse: Warehouse,
    serving: Any = None,
    overrides: Mapping[str, Any] | None = None,
    ops: Mapping[str, Any] | None = None,
) -> dg.RunRequest:
    """A run request with the deployment's settings, `as_of` and the reason in its tags.

    `overrides` are dotted settings (a business event may carry some); `ops` op config (the
    monitoring run's published as-of date). Records the trigger in the alerts table.
    """
    run_config = refresh_run_config(settings, warehouse, serving, as_of=as_of, overrides=overrides)
    if ops:
        run_config["ops"] = dict(ops)
    record_trigger(
        settings.state_path(), reason, run_key=run_key, job_name=job_name, as_of=as_of.isoformat()
    )
    return dg.RunRequest(
        run_key=run_key,
        run_config=run_config,
        tags=reason.tags(as_of=as_of.isoformat()),
        job_name=job_name,
    )


def monitor_ops(published_as_of: str, new_files: list[str]) -> dict[str, Any]:
    """Op config of a monitoring run: the published refresh it compares with, and the landing
    files that refresh did not read (their answers are the ones received since)."""
    return {
        MONITOR_OP: {"config": {"published_as_of": published_as_of, "new_files": sorted(new_files)}}
    }
