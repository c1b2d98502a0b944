"""Automation domain: the refresh schedule, the event sensors, the failure alerts, the backfill job.

Cadence, thresholds and on/off defaults come from `config/automation.yaml`
(`$SEGMENTS_AUTOMATION_CONFIG` to use another file); see docs/automation.md.
"""

import dagster as dg

from pipeline.automation.backfill import backfill_history_job
from pipeline.automation.config import load_automation_config
from pipeline.automation.schedules import build_refresh_schedule
from pipeline.automation.sensors import (
    build_business_event_sensor,
    build_kpi_drop_sensor,
    build_new_data_sensor,
    build_refresh_failure_sensor,
)
from pipeline.lib.jobs import refresh_segments_job

config = load_automation_config()


def _sensor_status(enabled: bool) -> dg.DefaultSensorStatus:
    """Status before anyone toggles the sensor in the UI (the UI toggle wins afterwards)."""
    return dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED


defs = dg.Definitions(
    schedules=[
        build_refresh_schedule(
            config.schedule.cadence_months,
            config.schedule.timezone,
            config.schedule.hour,
            default_status=(
                dg.DefaultScheduleStatus.RUNNING
                if config.schedule.enabled
                else dg.DefaultScheduleStatus.STOPPED
            ),
        )
    ],
    sensors=[
        build_kpi_drop_sensor(
            config.kpi_drop, default_status=_sensor_status(config.kpi_drop.enabled)
        ),
        build_new_data_sensor(
            config.new_data, default_status=_sensor_status(config.new_data.enabled)
        ),
        build_business_event_sensor(
            config.business_events, default_status=_sensor_status(config.business_events.enabled)
        ),
        build_refresh_failure_sensor(
            config.run_failure,
            monitored_jobs=[refresh_segments_job, backfill_history_job],
            default_status=_sensor_status(config.run_failure.enabled),
        ),
    ],
    jobs=[backfill_history_job],
)
