"""A tiny code location for the daemon test: the real business-event sensor, a marker-file job.

Loaded by `dagster-daemon run` in tests/test_automation_daemon.py; the job stands in for the
refresh so the test exercises the sensor, the cursor, the run queue and the run launcher without
building the warehouse.
"""

import time

import dagster as dg

from pipeline.automation.sensors import build_business_event_sensor
from pipeline.lib.resources import RefreshSettings, Warehouse, deployment_settings
from pipeline.lib.settings import BusinessEventsSection
from pipeline.serving.options import ServingOptions


@dg.op
def write_marker(context: dg.OpExecutionContext, settings: RefreshSettings) -> None:
    """Write `<state>/markers/<run id>.txt`: the as-of date the sensor put in the config, the
    event's note, and when the op started and ended (it lasts 3 s, so two runs let through
    together by the queue would overlap)."""
    folder = settings.state_path() / "markers"
    folder.mkdir(parents=True, exist_ok=True)
    note = context.run.tags.get("segments/event_note", "")
    started = time.time()
    time.sleep(3)
    (folder / f"{context.run_id}.txt").write_text(
        f"{settings.refresh.as_of}\n{note}\n{started}\n{time.time()}\n"
    )


@dg.job(name="marker_job")
def marker_job() -> None:
    """Stands in for refresh_segments: one op writing a marker file."""
    write_marker()


defs = dg.Definitions(
    jobs=[marker_job],
    sensors=[
        build_business_event_sensor(
            BusinessEventsSection(minimum_interval_seconds=2),
            job=marker_job,
            default_status=dg.DefaultSensorStatus.RUNNING,
        )
    ],
    # The settings file and environment of the daemon (SEGMENTS_STATE_DIR, SEGMENTS_WAREHOUSE).
    resources={
        "settings": RefreshSettings.from_settings(deployment_settings().settings),
        "warehouse": Warehouse(**deployment_settings().settings.warehouse.model_dump()),
        "serving": ServingOptions(),
    },
)
