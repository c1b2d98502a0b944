"""Sensors that fire only for a reason: new exports, KPI drops, business events; failure alerts.

* `new_data_sensor`: landing content (of the entities it watches) that the last successful refresh
  did not read. It compares with the refresh record every refresh writes, whoever started it, so
  a CLI refresh counts: at daemon start with nothing new, nothing runs.
* `kpi_monitor_sensor`: new content of the KPI feeds (NPS answers, tickets) runs the light
  monitoring job, which publishes nothing.
* `kpi_drop_sensor`: reads the monitoring job's figures and compares like with like
  (`pipeline.automation.monitor.evaluate_monitor`): a refresh only for a real drop.
* `business_event_sensor`: one refresh per event file (`segments trigger`).
* `refresh_failure_sensor`: failed runs go to the alerts table (and an optional webhook).

A refresh never triggers itself: it writes the record new_data compares with, and it makes the
monitoring figures of the previous refresh stale. Each event fires once: the sensors keep a
cursor (in the instance, so it survives restarts) and every run has a `run_key` derived from the
event, which Dagster never launches twice.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from pipeline.automation.alerts import (
    RefreshFailure,
    post_webhook,
    record_alert,
    set_webhook_status,
)
from pipeline.automation.monitor import (
    MONITOR_JOB_NAME,
    WarehouseUnavailable,
    drop_reason,
    evaluate_monitor,
    read_latest_monitor,
)
from pipeline.automation.record import LandingFile, landing_files
from pipeline.automation.requests import monitor_ops, run_request
from pipeline.automation.triggers import (
    TriggerFileError,
    list_trigger_files,
    read_trigger_file,
    triggers_dir,
)
from pipeline.lib.fingerprint import json_digest, read_record
from pipeline.lib.jobs import REFRESH_JOB_NAME
from pipeline.lib.reasons import TAG_AS_OF, RunReason, short
from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.lib.settings import (
    BusinessEventsSection,
    KpiDropSection,
    KpiMonitorSection,
    NewDataSection,
    RunFailureSection,
)
from pipeline.serving.options import ServingOptions

#: How many file names a run tag lists.
LISTED_FILES = 5


def _load_cursor(cursor: str | None) -> dict[str, Any]:
    """The sensor's JSON cursor; an unreadable one counts as empty (run keys still dedupe)."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _listed(names: Sequence[str]) -> str:
    more = f" (+{len(names) - LISTED_FILES} more)" if len(names) > LISTED_FILES else ""
    return ", ".join(names[:LISTED_FILES]) + more


# --- landing content the last refresh did not read ----------------------------------------------


def _cached_files(cursor: Mapping[str, Any]) -> dict[str, LandingFile]:
    return {rel: LandingFile(*entry) for rel, entry in (cursor.get("files") or {}).items()}


def _files_cursor(files: Mapping[str, LandingFile]) -> dict[str, list[Any]]:
    return {rel: [f.entity, f.size, f.mtime_ns, f.sha256] for rel, f in files.items()}


def unread_landing_files(
    settings: RefreshSettings,
    cursor: Mapping[str, Any],
    entities: Sequence[str],
    settle_seconds: float,
) -> tuple[dict[str, LandingFile], dict[str, LandingFile] | str]:
    """(all landing files, the watched ones whose content the last refresh did not read).

    The second item is a text instead when the sensor must wait: files still being written.
    Content is compared by sha256, so touching or renaming a file is not new data.
    """
    files = landing_files(settings.landing_path(), settings.mapping_path(), _cached_files(cursor))
    now = time.time()
    unsettled = [
        rel
        for rel, f in files.items()
        if f.entity in entities and now - f.mtime_ns / 1e9 < settle_seconds
    ]
    if unsettled:
        return files, f"waiting for files still being written: {_listed(sorted(unsettled))}"
    record = read_record(settings.state_path())
    read = set(record.landing.values()) if record else set()
    unread = {rel: f for rel, f in files.items() if f.entity in entities and f.sha256 not in read}
    return files, unread


@dataclass
class LandingLook:
    """One look at the landing: content the last refresh did not read, and of it the content
    this sensor has not acted on yet (kept in its cursor under `acted_key`)."""

    unread: dict[str, LandingFile]
    new: dict[str, LandingFile]
    cursor: dict[str, Any]
    acted_key: str

    def cursor_json(self, acted: bool = False) -> str:
        """The next cursor; `acted` adds the new content to what the sensor acted on."""
        cursor = dict(self.cursor)
        if acted:
            done = set(cursor[self.acted_key]) | {f.sha256 for f in self.new.values()}
            cursor[self.acted_key] = sorted(done)
        return json.dumps(cursor, sort_keys=True)


def look_at_landing(
    settings: RefreshSettings,
    cursor_text: str | None,
    entities: Sequence[str],
    settle_seconds: float,
    acted_key: str,
) -> LandingLook | str:
    """The landing compared with the refresh record and the sensor's cursor, or why to wait."""
    previous = _load_cursor(cursor_text)
    files, unread = unread_landing_files(settings, previous, entities, settle_seconds)
    if isinstance(unread, str):
        # Wait for the whole drop: acting now would read a partial export set.
        return unread
    acted = set(previous.get(acted_key) or [])
    new = {rel: f for rel, f in unread.items() if f.sha256 not in acted}
    present = {f.sha256 for f in files.values()}
    cursor = {"files": _files_cursor(files), acted_key: sorted(acted & present)}
    return LandingLook(unread, new, cursor, acted_key)


def build_new_data_sensor(
    config: NewDataSection,
    settle_seconds: float,
    *,
    job: Any = None,
    name: str = "new_data_sensor",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor requesting a refresh for landing content the last successful refresh did not read.

    Only files of `config.entities` count (the ingest decides which files are exports at all).
    The run key is the digest of the new checksums: one landing state fires at most one run, and
    content already requested (run queued, running or failed) is not requested again.
    """

    @dg.sensor(
        name=name,
        job_name=None if job is not None else REFRESH_JOB_NAME,
        job=job,
        minimum_interval_seconds=config.minimum_interval_seconds,
        default_status=default_status,
        description="Refresh when the landing holds exports of "
        f"{', '.join(config.entities)} the last successful refresh did not read.",
    )
    def _new_data_sensor(
        context: dg.SensorEvaluationContext,
        settings: RefreshSettings,
        warehouse: Warehouse,
        serving: ServingOptions,
    ) -> dg.SensorResult | dg.SkipReason:
        """Compare the landing with the refresh record; fire once per unread content."""
        landing = settings.landing_path()
        if not landing.is_dir():
            return dg.SkipReason(f"landing directory {landing} does not exist")
        look = look_at_landing(
            settings, context.cursor, config.entities, settle_seconds, "requested"
        )
        if isinstance(look, str):
            return dg.SkipReason(look)
        if not look.new:
            skip = (
                f"content of {_listed(sorted(look.unread))} already requested"
                if look.unread
                else "nothing new since the last successful refresh"
            )
            return dg.SensorResult(skip_reason=skip, cursor=look.cursor_json())
        names = sorted(look.new)
        digest = json_digest(sorted(f.sha256 for f in look.new.values()))
        context.log.info(f"exports not read by the last refresh: {_listed(names)}")
        request = run_request(
            job_name=REFRESH_JOB_NAME,
            run_key=f"new_data:{digest[:32]}",
            reason=RunReason(
                "new_data",
                f"{len(names)} new or changed export(s): {_listed(names)}",
                extra={"segments/new_files": _listed(names)},
            ),
            as_of=settings.today(),
            settings=settings,
            warehouse=warehouse,
            serving=serving,
        )
        return dg.SensorResult(run_requests=[request], cursor=look.cursor_json(acted=True))

    return _new_data_sensor


# --- KPI monitoring ---------------------------------------------------------------------------


def _before(moment: dt.datetime, iso: str) -> bool:
    """True when `moment` (naive = UTC) is earlier than the ISO timestamp `iso`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    other = dt.datetime.fromisoformat(iso)
    if other.tzinfo is None:
        other = other.replace(tzinfo=dt.UTC)
    return moment < other


def build_kpi_monitor_sensor(
    config: KpiMonitorSection,
    settle_seconds: float,
    *,
    name: str = "kpi_monitor_sensor",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor running the monitoring job for KPI-feed content no refresh or monitoring read."""

    @dg.sensor(
        name=name,
        job_name=MONITOR_JOB_NAME,
        minimum_interval_seconds=config.minimum_interval_seconds,
        default_status=default_status,
        description="Run the KPI monitoring job (nothing published) when the landing holds "
        f"{', '.join(config.entities)} content the last refresh did not read.",
    )
    def _kpi_monitor_sensor(
        context: dg.SensorEvaluationContext, settings: RefreshSettings, warehouse: Warehouse
    ) -> dg.SensorResult | dg.SkipReason:
        """Fire one monitoring run per new KPI-feed content, against the published refresh."""
        record = read_record(settings.state_path())
        if record is None:
            return dg.SkipReason("no successful refresh recorded yet: nothing to compare with")
        look = look_at_landing(
            settings, context.cursor, config.entities, settle_seconds, "monitored"
        )
        if isinstance(look, str):
            return dg.SkipReason(look)
        if not look.new:
            return dg.SensorResult(
                skip_reason="no KPI feed content since the last refresh or monitoring run",
                cursor=look.cursor_json(),
            )
        names = sorted(look.new)
        digest = json_digest([record.as_of, *sorted(f.sha256 for f in look.new.values())])
        request = run_request(
            job_name=MONITOR_JOB_NAME,
            run_key=f"kpi_monitor:{digest[:32]}",
            reason=RunReason(
                "kpi_monitor",
                f"KPI feed content not in the refresh as of {record.as_of}: {_listed(names)}",
                extra={"segments/new_files": _listed(names)},
            ),
            as_of=settings.today(),
            settings=settings,
            warehouse=warehouse,
            ops=monitor_ops(record.as_of, list(look.unread)),
        )
        return dg.SensorResult(run_requests=[request], cursor=look.cursor_json(acted=True))

    return _kpi_monitor_sensor


def build_kpi_drop_sensor(
    config: KpiDropSection,
    *,
    job: Any = None,
    name: str = "kpi_drop_sensor",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor requesting a refresh when the monitoring job measured a KPI drop.

    Each monitoring run is evaluated once (cursor = its id); figures measured against an older
    refresh than the last successful one are stale and never fire.
    """

    @dg.sensor(
        name=name,
        job_name=None if job is not None else REFRESH_JOB_NAME,
        job=job,
        minimum_interval_seconds=config.minimum_interval_seconds,
        default_status=default_status,
        description=(
            f"Refresh when NPS of the answers since the last refresh is >= "
            f"{config.nps_drop_points:g} points below the published one (n >= "
            f"{config.min_new_answers}) or churn at the published date rises by >= "
            f"{config.churn_rate_rise:g}, overall or in "
            f"{', '.join(config.watched_segments) or 'no other segment'}."
        ),
    )
    def _kpi_drop_sensor(
        context: dg.SensorEvaluationContext,
        settings: RefreshSettings,
        warehouse: Warehouse,
        serving: ServingOptions,
    ) -> dg.SensorResult | dg.SkipReason:
        """Read monitoring.kpi_monitor read-only; skip the tick while a run holds the warehouse."""
        record = read_record(settings.state_path())
        if record is None:
            return dg.SkipReason("no successful refresh recorded yet")
        try:
            rows = read_latest_monitor(warehouse)
        except WarehouseUnavailable as exc:
            return dg.SkipReason(str(exc))
        if not rows:
            return dg.SkipReason("the monitoring job has not run yet")
        monitor_id = rows[0].monitor_id
        if _load_cursor(context.cursor).get("monitor_id") == monitor_id:
            return dg.SkipReason(f"monitoring run {monitor_id} already evaluated")
        cursor = json.dumps({"monitor_id": monitor_id})
        published = rows[0].published_as_of.isoformat()
        if published != record.as_of or _before(rows[0].monitored_at, record.recorded_at):
            return dg.SensorResult(
                skip_reason=f"monitoring run {monitor_id} compares with the refresh as of "
                f"{published}, older than the last one (as of {record.as_of}, recorded "
                f"{record.recorded_at}): stale",
                cursor=cursor,
            )
        moves = evaluate_monitor(rows, config)
        if not moves:
            return dg.SensorResult(
                skip_reason=f"monitoring run {monitor_id}: no KPI moved past its threshold "
                f"against the refresh as of {published}",
                cursor=cursor,
            )
        reason = drop_reason(moves)
        context.log.info(f"monitoring run {monitor_id}: {reason.summary}")
        request = run_request(
            job_name=REFRESH_JOB_NAME,
            run_key=f"kpi_drop:{monitor_id}",
            reason=reason,
            as_of=settings.today(),
            settings=settings,
            warehouse=warehouse,
            serving=serving,
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return _kpi_drop_sensor


# --- Business events ----------------------------------------------------------------------------


def build_business_event_sensor(
    config: BusinessEventsSection,
    *,
    job: Any = None,
    name: str = "business_event_sensor",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor requesting one refresh per business-event file in `<state>/triggers/`.

    Files come from `segments trigger` or are dropped by hand. The run key is the event id; the
    cursor lists the events already fired that still have a file (bounded by the folder size).
    An invalid file is logged once per version and fires nothing until fixed.
    """
    job_name = getattr(job, "name", REFRESH_JOB_NAME)

    @dg.sensor(
        name=name,
        job_name=None if job is not None else REFRESH_JOB_NAME,
        job=job,
        minimum_interval_seconds=config.minimum_interval_seconds,
        default_status=default_status,
        description="Refresh once per business-event file (segments trigger) in <state>/triggers.",
    )
    def _business_event_sensor(
        context: dg.SensorEvaluationContext,
        settings: RefreshSettings,
        warehouse: Warehouse,
        serving: ServingOptions,
    ) -> dg.SensorResult:
        """Fire one run per new event file, tagged with its kind and note."""
        folder = triggers_dir(settings.state_path())
        previous = _load_cursor(context.cursor)
        done: set[str] = set(previous.get("done") or [])
        warned: dict[str, str] = previous.get("invalid") or {}
        seen_ids: set[str] = set()
        invalid: dict[str, str] = {}
        requests: list[dg.RunRequest] = []
        for path in list_trigger_files(folder):
            try:
                event = read_trigger_file(path)
            except TriggerFileError as exc:
                version = str(path.stat().st_mtime_ns)
                if warned.get(path.name) != version:
                    context.log.warning(f"ignoring trigger file: {exc}")
                invalid[path.name] = version
                continue
            seen_ids.add(event.event_id)
            if event.event_id in done:
                continue
            done.add(event.event_id)
            context.log.info(f"business event {event.event_id} ({event.kind}): {event.note}")
            requests.append(
                run_request(
                    job_name=job_name,
                    run_key=f"business_event:{event.event_id}",
                    reason=RunReason(
                        "business_event",
                        f"{event.kind}: {event.note}",
                        extra={
                            "segments/event_id": event.event_id,
                            "segments/event_kind": event.kind,
                            "segments/event_note": short(event.note),
                        },
                    ),
                    as_of=event.as_of or settings.today(),
                    settings=settings,
                    warehouse=warehouse,
                    serving=serving,
                    overrides=event.settings,
                )
            )
        # Forget events whose file is gone; if a file comes back its run key still blocks it.
        cursor = json.dumps({"done": sorted(done & seen_ids), "invalid": invalid}, sort_keys=True)
        if not requests:
            return dg.SensorResult(skip_reason="no new business event", cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _business_event_sensor


# --- Failed runs ----------------------------------------------------------------------------------


def failure_from_context(context: dg.RunFailureSensorContext) -> RefreshFailure:
    """Summarise a failed run: its reason (tags), the run error and each failed step's error."""
    run = context.dagster_run
    steps = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        # Dagster wraps user errors ("Error occurred while executing op"): the root cause is
        # what people need to read.
        while error is not None and error.cause is not None:
            error = error.cause
        message = error.message.strip() if error else "failed"
        steps.append(f"{event.step_key}: {short(message, 500)}")
    return RefreshFailure(
        run_id=run.run_id,
        job_name=run.job_name,
        as_of=run.tags.get(TAG_AS_OF, ""),
        reason=RunReason.from_tags(run.tags),
        message=(context.failure_event.message or "").strip(),
        failed_steps=steps,
    )


def build_refresh_failure_sensor(
    config: RunFailureSection,
    *,
    monitored_jobs: Sequence[Any],
    name: str = "refresh_failure_sensor",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A run-failure sensor recording each failed run in `<state>/alerts.duckdb`.

    It also logs the failure and, when a webhook URL is configured ($SEGMENTS_ALERT_WEBHOOK or
    `automation.run_failure.webhook_url`), POSTs it as JSON; an unreachable webhook is logged.
    """

    @dg.run_failure_sensor(
        name=name,
        monitored_jobs=list(monitored_jobs),
        default_status=default_status,
        description="Record failed runs in <state>/alerts.duckdb and notify the webhook.",
    )
    def _refresh_failure_sensor(
        context: dg.RunFailureSensorContext, settings: RefreshSettings
    ) -> None:
        """Record the alert once per run id, then notify the webhook if there is one."""
        failure = failure_from_context(context)
        state = settings.state_path()
        is_new = record_alert(state, failure)
        context.log.error(
            f"run failed: {failure.run_id} job {failure.job_name} as_of "
            f"{failure.as_of or '?'} trigger {failure.trigger}: {failure.message}"
        )
        if is_new and config.webhook_url:
            status = post_webhook(
                config.webhook_url, failure, config.webhook_timeout_seconds, context.log
            )
            set_webhook_status(state, failure.run_id, status)

    return _refresh_failure_sensor
