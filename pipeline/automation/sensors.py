"""Event-driven refreshes: KPI drops, new landing exports, business events; alerts on failures.

Every sensor keeps a Dagster cursor (persisted by the instance) so an event fires exactly one run,
and gives each run a `run_key` derived from the event, which Dagster also refuses to launch twice.
Run configs come from `refresh_run_config` with the deployment's resources, only the as-of date
changing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb

from pipeline.automation.alerts import (
    RefreshFailure,
    post_webhook,
    record_alert,
    set_webhook_status,
)
from pipeline.automation.config import (
    BusinessEventsConfig,
    KpiDropConfig,
    NewDataConfig,
    RunFailureConfig,
)
from pipeline.automation.schedules import TAG_AS_OF, TAG_TRIGGER
from pipeline.automation.triggers import (
    TriggerFileError,
    list_trigger_files,
    read_trigger_file,
    triggers_dir,
)
from pipeline.lib.codes import OVERALL
from pipeline.lib.jobs import refresh_segments_job
from pipeline.lib.resources import RefreshSettings, Warehouse, refresh_run_config

if TYPE_CHECKING:
    # Not exported by dagster's top level; only needed for the annotations below.
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

    JobTarget = UnresolvedAssetJobDefinition | dg.JobDefinition

#: The overall row of `segment_kpis` / `kpi_history`.
OVERALL_SEGMENT = OVERALL
#: Landing files the ingest reads (pipeline/ingest); anything else there is ignored by it too.
LANDING_SUFFIXES = (".csv", ".csv.gz", ".parquet")
#: Run tags hold short labels: long notes or file lists are cut.
MAX_TAG_CHARS = 200


def _today(settings: RefreshSettings) -> dt.date:
    """Today in the deployment's timezone: the as-of date of an event-triggered refresh."""
    return dt.datetime.now(ZoneInfo(settings.timezone)).date()


def _short(text: str, limit: int = MAX_TAG_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _load_cursor(cursor: str | None) -> dict[str, Any]:
    """The sensor's JSON cursor; an unreadable one counts as empty (run keys still dedupe)."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _refresh_request(
    run_key: str,
    settings: RefreshSettings,
    warehouse: Warehouse,
    as_of: dt.date,
    trigger: str,
    tags: dict[str, str],
) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key,
        run_config=refresh_run_config(settings, warehouse, as_of=as_of.isoformat()),
        tags={TAG_AS_OF: as_of.isoformat(), TAG_TRIGGER: trigger, **tags},
    )


# --- KPI drop ---------------------------------------------------------------------------------


class WarehouseUnavailable(RuntimeError):
    """The warehouse cannot be read right now (missing, locked by a refresh, no history yet)."""


@dataclass(frozen=True)
class KpiMove:
    """One watched KPI that moved past its threshold between the two windows."""

    segment: str
    kpi: str
    before: float
    after: float

    def describe(self) -> str:
        """`Champions nps 42 -> 30.5` (values rounded for people)."""
        return f"{self.segment} {self.kpi} {self.before:.4g} -> {self.after:.4g}"


@dataclass(frozen=True)
class KpiEvaluation:
    """The comparison of the latest window of refreshes with the one before."""

    previous_as_of: dt.date
    latest_as_of: dt.date
    moves: list[KpiMove]

    @property
    def pair_key(self) -> str:
        """Identifies the comparison: the last as-of of each window."""
        return f"{self.previous_as_of.isoformat()}..{self.latest_as_of.isoformat()}"


KpiRow = tuple[dt.date, str, float | None, float | None]


def read_kpi_history(warehouse: Warehouse, segments: Iterable[str]) -> list[KpiRow]:
    """(as_of, segment, nps, churn_rate) rows of the watched segments from history.kpi_history.

    Opens the warehouse read-only and only for the query: DuckDB lets a single process write, so
    while a refresh runs the file is locked and this raises WarehouseUnavailable instead.
    """
    path = warehouse.resolved_path()
    if not path.exists():
        raise WarehouseUnavailable(f"no warehouse at {path} yet")
    wanted = sorted(set(segments))
    placeholders = ", ".join("?" for _ in wanted)
    try:
        with warehouse.connect(read_only=True) as con:
            rows = con.execute(
                "select cast(as_of as date), segment, cast(nps as double),"
                " cast(churn_rate as double) from history.kpi_history"
                f" where segment in ({placeholders})",
                wanted,
            ).fetchall()
    except duckdb.IOException as exc:
        raise WarehouseUnavailable(f"warehouse busy (a refresh is writing it): {exc}") from exc
    except duckdb.CatalogException as exc:
        raise WarehouseUnavailable("history.kpi_history does not exist yet") from exc
    return [(r[0], str(r[1]), r[2], r[3]) for r in rows]


def evaluate_kpi_history(rows: Sequence[KpiRow], config: KpiDropConfig) -> KpiEvaluation | None:
    """Compare the mean KPIs of the latest `window_refreshes` refreshes with the window before.

    A move counts when NPS falls by at least `nps_drop_points` or churn rate rises by at least
    `churn_rate_rise`, overall or in a watched segment. None when history is too short.
    """
    window = config.window_refreshes
    as_ofs = sorted({row[0] for row in rows})
    if len(as_ofs) < 2 * window:
        return None
    latest, previous = set(as_ofs[-window:]), set(as_ofs[-2 * window : -window])
    segments = [OVERALL_SEGMENT, *[s for s in config.watched_segments if s != OVERALL_SEGMENT]]
    # (name, column index in KpiRow, +1 when a rise is bad / -1 when a fall is, threshold)
    kpis = (("nps", 2, -1, config.nps_drop_points), ("churn_rate", 3, 1, config.churn_rate_rise))
    moves: list[KpiMove] = []
    for segment in segments:
        for kpi, index, bad_direction, threshold in kpis:
            before = [r[index] for r in rows if r[1] == segment and r[0] in previous]
            after = [r[index] for r in rows if r[1] == segment and r[0] in latest]
            before_values = [v for v in before if v is not None]
            after_values = [v for v in after if v is not None]
            if not before_values or not after_values:
                continue
            mean_before, mean_after = fmean(before_values), fmean(after_values)
            # The epsilon keeps e.g. 0.15 - 0.10 (0.04999...) at the 0.05 threshold.
            if (mean_after - mean_before) * bad_direction >= threshold - 1e-9:
                moves.append(KpiMove(segment, kpi, mean_before, mean_after))
    return KpiEvaluation(max(previous), max(latest), moves)


def build_kpi_drop_sensor(
    config: KpiDropConfig,
    *,
    job: JobTarget = refresh_segments_job,
    name: str = "kpi_drop_sensor",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor requesting a refresh when NPS drops or churn rises past the configured thresholds.

    Each pair of compared refreshes is evaluated once (cursor = that pair): the same drop seen
    again fires nothing, while a recovery followed by a new drop is a new pair and fires again.
    """

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=config.minimum_interval_seconds,
        default_status=default_status,
        description=(
            f"Refresh when NPS falls by >= {config.nps_drop_points:g} points or churn rate rises "
            f"by >= {config.churn_rate_rise:g} over {config.window_refreshes} refresh(es), "
            f"overall or in {', '.join(config.watched_segments) or 'no other segment'}."
        ),
    )
    def _kpi_drop_sensor(
        context: dg.SensorEvaluationContext, settings: RefreshSettings, warehouse: Warehouse
    ) -> dg.SensorResult | dg.SkipReason:
        """Read history.kpi_history read-only; skip the tick while a refresh holds the warehouse."""
        segments = {OVERALL_SEGMENT, *config.watched_segments}
        try:
            rows = read_kpi_history(warehouse, segments)
        except WarehouseUnavailable as exc:
            return dg.SkipReason(str(exc))
        evaluation = evaluate_kpi_history(rows, config)
        if evaluation is None:
            return dg.SkipReason(
                f"history.kpi_history needs {2 * config.window_refreshes} refreshes to compare"
            )
        if _load_cursor(context.cursor).get("pair") == evaluation.pair_key:
            return dg.SkipReason(f"refreshes {evaluation.pair_key} already evaluated")
        cursor = json.dumps({"pair": evaluation.pair_key})
        if not evaluation.moves:
            return dg.SensorResult(
                skip_reason=f"no KPI moved past its threshold between {evaluation.pair_key}",
                cursor=cursor,
            )
        summary = "; ".join(move.describe() for move in evaluation.moves)
        moved_segments = dict.fromkeys(move.segment for move in evaluation.moves)
        context.log.info(f"KPI moves between {evaluation.pair_key}: {summary}")
        request = _refresh_request(
            f"kpi_drop:{evaluation.pair_key}",
            settings,
            warehouse,
            _today(settings),
            "kpi_drop",
            {
                "segments/kpi": ",".join(sorted({m.kpi for m in evaluation.moves})),
                "segments/kpi_segments": ",".join(moved_segments),
                "segments/kpi_change": _short(summary),
                "segments/kpi_compared": evaluation.pair_key,
            },
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return _kpi_drop_sensor


# --- New data in the landing directory --------------------------------------------------------


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (exports can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_digest(checksums: Iterable[str]) -> str:
    """One digest for a set of file checksums: the identity of a landing state."""
    joined = "\n".join(sorted(set(checksums)))
    return hashlib.sha256(joined.encode()).hexdigest()


def landing_files(landing: Path) -> list[Path]:
    """Export files in the landing directory (any depth), hidden files and folders skipped."""
    if not landing.is_dir():
        return []
    found = []
    for path in landing.rglob("*"):
        rel = path.relative_to(landing)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.name.lower().endswith(LANDING_SUFFIXES):
            found.append(path)
    return sorted(found)


@dataclass(frozen=True)
class LandingScan:
    """Files seen in the landing directory: `{relative path: [size, mtime_ns, sha256]}`."""

    files: dict[str, list[Any]]
    unsettled: list[str]


def scan_landing(
    landing: Path, known: dict[str, list[Any]], settle_seconds: float, now: float | None = None
) -> LandingScan:
    """Checksum the landing files, re-hashing only files whose size or mtime changed.

    Files modified less than `settle_seconds` ago are reported as unsettled: a copy in progress
    would otherwise trigger a refresh on half a file.
    """
    now = time.time() if now is None else now
    files: dict[str, list[Any]] = {}
    unsettled: list[str] = []
    for path in landing_files(landing):
        rel = path.relative_to(landing).as_posix()
        stat = path.stat()
        if now - stat.st_mtime < settle_seconds:
            unsettled.append(rel)
            continue
        previous = known.get(rel)
        if previous and previous[0] == stat.st_size and previous[1] == stat.st_mtime_ns:
            files[rel] = previous
        else:
            files[rel] = [stat.st_size, stat.st_mtime_ns, sha256_file(path)]
    return LandingScan(files, unsettled)


def build_new_data_sensor(
    config: NewDataConfig,
    *,
    job: JobTarget = refresh_segments_job,
    name: str = "new_data_sensor",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor requesting a refresh when the landing directory holds a new or changed export.

    Changes are detected by sha256: touching or renaming a file fires nothing, new content does.
    The run key is the digest of the checksum set, so one landing state fires at most one run.
    """

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=config.minimum_interval_seconds,
        default_status=default_status,
        description="Refresh when a new or changed export (by sha256) lands in the landing dir.",
    )
    def _new_data_sensor(
        context: dg.SensorEvaluationContext, settings: RefreshSettings, warehouse: Warehouse
    ) -> dg.SensorResult | dg.SkipReason:
        """Compare the landing checksums with the cursor's and fire once per new landing state."""
        landing = settings.landing_path()
        if not landing.is_dir():
            return dg.SkipReason(f"landing directory {landing} does not exist")
        known = _load_cursor(context.cursor).get("files") or {}
        scan = scan_landing(landing, known, config.settle_seconds)
        if scan.unsettled:
            # Wait for the whole drop: firing now would refresh on a partial export set.
            return dg.SkipReason(f"waiting for files still being written: {scan.unsettled[:5]}")
        old_checksums = {entry[2] for entry in known.values()}
        new_files = sorted(rel for rel, e in scan.files.items() if e[2] not in old_checksums)
        cursor = json.dumps({"files": scan.files}, sort_keys=True)
        if not new_files:
            return dg.SensorResult(skip_reason="no new or changed export", cursor=cursor)
        digest = checksum_digest(e[2] for e in scan.files.values())
        more = f" (+{len(new_files) - 5} more)" if len(new_files) > 5 else ""
        listed = ", ".join(new_files[:5]) + more
        context.log.info(f"new or changed exports in {landing}: {listed}")
        request = _refresh_request(
            f"new_data:{digest}",
            settings,
            warehouse,
            _today(settings),
            "new_data",
            {"segments/new_files": _short(listed), "segments/landing_digest": digest[:16]},
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return _new_data_sensor


# --- Business events ----------------------------------------------------------------------------


def build_business_event_sensor(
    config: BusinessEventsConfig,
    *,
    job: JobTarget = refresh_segments_job,
    name: str = "business_event_sensor",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor requesting one refresh per business-event file in `<state>/triggers/`.

    Files come from `segments trigger` or are dropped by hand. The run key is the event id; the
    cursor lists the events already fired that still have a file (bounded by the folder size).
    An invalid file is logged once per version and fires nothing until fixed.
    """

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=config.minimum_interval_seconds,
        default_status=default_status,
        description="Refresh once per business-event file (segments trigger) in <state>/triggers.",
    )
    def _business_event_sensor(
        context: dg.SensorEvaluationContext, settings: RefreshSettings, warehouse: Warehouse
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
            as_of = event.as_of or _today(settings)
            context.log.info(f"business event {event.event_id} ({event.kind}): {event.note}")
            requests.append(
                _refresh_request(
                    f"business_event:{event.event_id}",
                    settings,
                    warehouse,
                    as_of,
                    "business_event",
                    {
                        "segments/event_id": event.event_id,
                        "segments/event_kind": event.kind,
                        "segments/event_note": _short(event.note),
                    },
                )
            )
        # Forget events whose file is gone; if a file comes back its run key still blocks it.
        cursor = json.dumps({"done": sorted(done & seen_ids), "invalid": invalid}, sort_keys=True)
        if not requests:
            return dg.SensorResult(skip_reason="no new business event", cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _business_event_sensor


# --- Failed refreshes -----------------------------------------------------------------------------


def failure_from_context(context: dg.RunFailureSensorContext) -> RefreshFailure:
    """Summarise a failed run: its refresh tags, the run error and each failed step's error."""
    run = context.dagster_run
    steps = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        # Dagster wraps user errors ("Error occurred while executing op"): the root cause is
        # what people need to read.
        while error is not None and error.cause is not None:
            error = error.cause
        reason = error.message.strip() if error else "failed"
        steps.append(f"{event.step_key}: {_short(reason, 500)}")
    return RefreshFailure(
        run_id=run.run_id,
        job_name=run.job_name,
        as_of=run.tags.get(TAG_AS_OF, ""),
        trigger=run.tags.get(TAG_TRIGGER, "manual"),
        message=(context.failure_event.message or "").strip(),
        failed_steps=steps,
    )


def build_refresh_failure_sensor(
    config: RunFailureConfig,
    *,
    monitored_jobs: Sequence[JobTarget] = (refresh_segments_job,),
    name: str = "refresh_failure_sensor",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A run-failure sensor recording each failed refresh in `<state>/alerts.duckdb`.

    It also logs the failure and, when a webhook URL is configured ($SEGMENTS_ALERT_WEBHOOK or
    `run_failure.webhook_url`), POSTs it as JSON; an unreachable webhook is logged, not raised.
    """

    @dg.run_failure_sensor(
        name=name,
        monitored_jobs=list(monitored_jobs),
        default_status=default_status,
        description="Record failed refreshes in <state>/alerts.duckdb and notify the webhook.",
    )
    def _refresh_failure_sensor(
        context: dg.RunFailureSensorContext, settings: RefreshSettings
    ) -> None:
        """Record the alert once per run id, then notify the webhook if there is one."""
        failure = failure_from_context(context)
        state = settings.state_path()
        is_new = record_alert(state, failure)
        context.log.error(
            f"refresh failed: run {failure.run_id} job {failure.job_name} as_of "
            f"{failure.as_of or '?'} trigger {failure.trigger}: {failure.message}"
        )
        url = config.resolved_webhook_url()
        if is_new and url:
            status = post_webhook(url, failure, config.webhook_timeout_seconds, context.log)
            set_webhook_status(state, failure.run_id, status)

    return _refresh_failure_sensor
