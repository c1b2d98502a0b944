"""Automation domain: schedule, sensors, failure alerts, the monitoring and backfill jobs, and the
refresh record every refresh ends with.

Cadence, thresholds and on/off statuses come from the `automation:` section of the settings file
(`config/segments.yaml`, or `$SEGMENTS_CONFIG`), read when the code location loads; see
docs/automation.md.
"""

import dagster as dg

from pipeline.automation.assets import refresh_record
from pipeline.automation.backfill import backfill_history_job
from pipeline.automation.monitor import kpi_monitor_job
from pipeline.automation.schedules import build_refresh_schedule
from pipeline.automation.sensors import (
    build_business_event_sensor,
    build_kpi_drop_sensor,
    build_kpi_monitor_sensor,
    build_new_data_sensor,
    build_refresh_failure_sensor,
)
from pipeline.ingest.entities import ENTITIES
from pipeline.lib.jobs import refresh_segments_job
from pipeline.lib.resources import deployment_settings
from pipeline.lib.settings import SettingsError

_settings = deployment_settings().settings
config = _settings.automation

_unknown = [
    f"automation.{section}.entities: unknown entity {entity!r} (entities: {', '.join(ENTITIES)})"
    for section, entities in (
        ("new_data", config.new_data.entities),
        ("kpi_monitor", config.kpi_monitor.entities),
    )
    for entity in entities
    if entity not in ENTITIES
]
if _unknown:
    raise SettingsError(_unknown)


def _sensor_status(enabled: bool) -> dg.DefaultSensorStatus:
    """Status before anyone toggles the sensor in the UI (the UI toggle wins afterwards)."""
    return dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED


defs = dg.Definitions(
    assets=[refresh_record],
    schedules=[
        build_refresh_schedule(
            config.schedule.cadence_months,
            _settings.refresh.timezone,
            config.schedule.hour,
            default_status=(
                dg.DefaultScheduleStatus.RUNNING
                if config.schedule.enabled
                else dg.DefaultScheduleStatus.STOPPED
            ),
        )
    ],
    sensors=[
        build_new_data_sensor(
            config.new_data,
            config.settle_seconds,
            default_status=_sensor_status(config.new_data.enabled),
        ),
        build_kpi_monitor_sensor(
            config.kpi_monitor,
            config.settle_seconds,
            default_status=_sensor_status(config.kpi_monitor.enabled),
        ),
        build_kpi_drop_sensor(
            config.kpi_drop, default_status=_sensor_status(config.kpi_drop.enabled)
        ),
        build_business_event_sensor(
            config.business_events, default_status=_sensor_status(config.business_events.enabled)
        ),
        build_refresh_failure_sensor(
            config.run_failure,
            monitored_jobs=[refresh_segments_job, backfill_history_job, kpi_monitor_job],
            default_status=_sensor_status(config.run_failure.enabled),
        ),
    ],
    jobs=[backfill_history_job, kpi_monitor_job],
)
