"""Quality gates as blocking Dagster asset checks.

`evaluate_gate` does the work (open the warehouse, run the gate's suites, keep the results, keep
the load history); `build_gate_check` wraps it in a `@dg.asset_check(blocking=True)` on the asset
the gate protects. A failed expectation of severity `error` makes the check fail with severity
ERROR, which stops every downstream asset of the run; `warn` failures are reported as a WARN
check result and never block.
"""

# No `from __future__ import annotations` here: Dagster reads the check function's annotations
# (context and resource types) at definition time and needs real classes, not strings.
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from pipeline.ingest.entities import ORDER_STATUSES
from pipeline.lib.paths import serving_path
from pipeline.lib.resources import WAREHOUSE_POOL, RefreshSettings, Warehouse
from pipeline.quality import delta_scope
from pipeline.quality.runner import GateOutcome, QualityRunner
from pipeline.quality.suites import GateSpec, load_gate

LOAD_HISTORY_TABLE = "quality.load_history"
LOAD_VOLUME_TABLE = "quality.load_volume"
#: The business date of each landing entity with a volume gate: a row "dated on or before the
#: as-of" is one whose date column is; cumulative exports must keep those rows.
VOLUME_DATE_COLUMNS = {"orders": "order_date", "customers": "created_at", "refunds": "refunded_at"}
PUBLISHED_ATTACHMENT = "published"
_ENTITY = re.compile(r"^[a-z_]+$")


def gate_parameters(settings: RefreshSettings, run_id: str) -> dict[str, Any]:
    """Values the suites reference: SQL `$name` parameters and GX `{$PARAMETER: name}`.

    Every setting marked `gate` in `pipeline/lib/settings.py` is a parameter of the same name
    (the `quality:` thresholds, the score scale...): a threshold added there reaches the suites
    without code here.
    """
    values = settings.gate_values()
    as_of = settings.as_of_date()
    # GX bounds on date columns must be timestamps: GX compares date columns as pandas
    # timestamps, and a bare "YYYY-MM-DD" bound would be parsed as a `date`, which pandas refuses
    # to compare. Dates of the as-of day are valid: they are compared with the next midnight.
    as_of_end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    # Checked to be on or before the as-of date: GX would otherwise fail deep in a stack with
    # "min_value cannot be greater than max_value".
    min_date = dt.datetime.combine(settings.date_floor_date(), dt.time())
    return {
        **values,
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "as_of_end": as_of_end.isoformat(),
        "min_date": min_date.isoformat(),
        # Rules of the input contract the clean gates re-check, from their one home.
        "order_statuses": list(ORDER_STATUSES),
    }


def published_serving_file(settings: RefreshSettings) -> Path:
    """The last published serving file (drift baseline); it may not exist yet."""
    return serving_path(settings.state_path())


def ensure_load_history(con: Any) -> None:
    """Create `quality.load_history` and `quality.load_volume` if they are missing.

    `load_history` holds one row per raw entity and run (the audit trail and the baselines);
    `load_volume` one row per raw entity and run: the load measured against its baseline, which
    is the batch of the landing gates' volume suites.
    """
    con.execute("CREATE SCHEMA IF NOT EXISTS quality")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {LOAD_HISTORY_TABLE} (
            run_id VARCHAR NOT NULL,
            entity VARCHAR NOT NULL,
            as_of DATE,
            row_count BIGINT NOT NULL,
            gate_passed BOOLEAN NOT NULL,
            recorded_at TIMESTAMP NOT NULL,
            history_rows BIGINT
        )"""
    )
    # Warehouses of earlier versions lack the column: their loads have no history count, so the
    # first load after the upgrade is compared on its total only.
    con.execute(f"ALTER TABLE {LOAD_HISTORY_TABLE} ADD COLUMN IF NOT EXISTS history_rows BIGINT")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {LOAD_VOLUME_TABLE} (
            run_id VARCHAR NOT NULL,
            entity VARCHAR NOT NULL,
            as_of DATE NOT NULL,
            row_count BIGINT NOT NULL,
            history_rows BIGINT NOT NULL,
            baseline_run_id VARCHAR,
            baseline_as_of DATE,
            baseline_row_count BIGINT,
            baseline_history_rows BIGINT,
            rows_to_baseline_as_of BIGINT,
            volume_drop DOUBLE,
            history_loss DOUBLE,
            detail VARCHAR NOT NULL,
            recorded_at TIMESTAMP NOT NULL
        )"""
    )


def _columns(con: Any, schema: str, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return {r[0] for r in rows}


def row_dates_sql(con: Any, entity: str) -> str:
    """SQL of one `day` per row of `raw.<entity>`: its business date, NULL when it has none.

    Dates are parsed as the cleaning step parses them (ISO, or the file's detected or mapped
    format from the file registry), whatever the row's fate (accepted, deferred or rejected for
    another reason), so a count by date does not move when cleaning rules change.
    """
    from pipeline.ingest.extract import REGISTRY_TABLE
    from pipeline.ingest.sql_fragments import timestamp_sql  # the cleaning step's own date parser

    column = VOLUME_DATE_COLUMNS[entity]
    if column not in _columns(con, "raw", entity):
        return f"SELECT NULL::DATE AS day FROM raw.{entity}"
    registry_schema, registry_table = REGISTRY_TABLE.split(".")
    if _columns(con, registry_schema, registry_table):
        formats = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT date_format FROM {REGISTRY_TABLE} "
                "WHERE date_format <> 'iso' ORDER BY 1"
            ).fetchall()
        ]
        date_format = "coalesce(f.date_format, 'iso')"
        join = f"LEFT JOIN {REGISTRY_TABLE} f ON f.source_file = r._source_file"
    else:
        formats, date_format, join = [], "'iso'", ""
    return (
        f"SELECT CAST({timestamp_sql('_v', formats)} AS DATE) AS day FROM ("
        f"SELECT nullif(trim(CAST(r.\"{column}\" AS VARCHAR)), '') AS _v, "
        f"{date_format} AS _date_format FROM raw.{entity} r {join})"
    )


@dataclass(frozen=True)
class VolumeMeasure:
    """One load of a raw entity against its baseline (the last accepted load of another run).

    History rows are the rows *not dated after* an as-of date: dated on or before it, or
    without a usable date (such rows are never deferred, so every refresh sees them).
    """

    run_id: str
    entity: str
    as_of: dt.date
    row_count: int
    history_rows: int
    baseline_run_id: str | None = None
    baseline_as_of: dt.date | None = None
    baseline_row_count: int | None = None
    baseline_history_rows: int | None = None
    rows_to_baseline_as_of: int | None = None

    @property
    def volume_drop(self) -> float | None:
        """Share of the total row count lost since the baseline (negative = growth)."""
        if not self.baseline_row_count:
            return None
        return round(1 - self.row_count / self.baseline_row_count, 6)

    @property
    def history_loss(self) -> float | None:
        """Share of the baseline's history rows missing now (NULL without a comparable one)."""
        if not self.baseline_history_rows or self.rows_to_baseline_as_of is None:
            return None
        return round(1 - self.rows_to_baseline_as_of / self.baseline_history_rows, 6)

    @property
    def detail(self) -> str:
        """Both counts of both rules, for the failure message."""
        if self.baseline_run_id is None:
            return f"{self.entity}: {self.row_count} rows, first load (no baseline)"
        history = (
            f"rows not dated after {self.baseline_as_of}: {self.rows_to_baseline_as_of} now, "
            f"{self.baseline_history_rows} in the last accepted load"
            if self.baseline_history_rows is not None
            else "the last accepted load has no history count"
        )
        return (
            f"{self.entity}: {history}; all rows: {self.row_count} now, "
            f"{self.baseline_row_count} then (run {self.baseline_run_id[:8]}, "
            f"as of {self.baseline_as_of})"
        )


def measure_volume(con: Any, run_id: str, entity: str, as_of: dt.date) -> VolumeMeasure:
    """Count `raw.<entity>` by date against its baseline and store it in `quality.load_volume`."""
    if not _ENTITY.match(entity):
        raise ValueError(f"not an entity name: {entity!r}")
    baseline = con.execute(
        f"SELECT run_id, as_of, row_count, history_rows FROM {LOAD_HISTORY_TABLE} "
        "WHERE entity = ? AND gate_passed AND run_id <> ? ORDER BY recorded_at DESC LIMIT 1",
        [entity, run_id],
    ).fetchone()
    baseline_as_of = baseline[1] if baseline else None
    row_count, history_rows, to_baseline = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE day IS NULL OR day <= $as_of), "
        "count(*) FILTER (WHERE day IS NULL OR day <= $baseline) "
        f"FROM ({row_dates_sql(con, entity)})",
        {"as_of": as_of, "baseline": baseline_as_of or as_of},
    ).fetchone()
    measure = VolumeMeasure(
        run_id,
        entity,
        as_of,
        int(row_count),
        int(history_rows),
        *(baseline if baseline else (None, None, None, None)),
        rows_to_baseline_as_of=int(to_baseline) if baseline else None,
    )
    con.execute(
        f"DELETE FROM {LOAD_VOLUME_TABLE} WHERE run_id = ? AND entity = ?", [run_id, entity]
    )
    con.execute(
        f"INSERT INTO {LOAD_VOLUME_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            measure.run_id,
            measure.entity,
            measure.as_of,
            measure.row_count,
            measure.history_rows,
            measure.baseline_run_id,
            measure.baseline_as_of,
            measure.baseline_row_count,
            measure.baseline_history_rows,
            measure.rows_to_baseline_as_of,
            measure.volume_drop,
            measure.history_loss,
            measure.detail,
            _now(),
        ],
    )
    return measure


def record_load(con: Any, measure: VolumeMeasure, gate_passed: bool) -> None:
    """Append this load to the load history.

    Blocked loads are kept (with `gate_passed = false`) for the audit trail, but only accepted
    loads serve as the baseline of the next volume check, so one bad load cannot lower the bar.
    """
    con.execute(
        f"INSERT INTO {LOAD_HISTORY_TABLE} "
        "(run_id, entity, as_of, row_count, gate_passed, recorded_at, history_rows) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            measure.run_id,
            measure.entity,
            measure.as_of,
            measure.row_count,
            gate_passed,
            _now(),
            measure.history_rows,
        ],
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def evaluate_gate(
    gate: GateSpec,
    warehouse: Warehouse,
    settings: RefreshSettings,
    run_id: str,
    *,
    volume_entity: str | None = None,
    build_docs: bool = True,
    engine: str | None = None,
) -> GateOutcome:
    """Run one gate against the warehouse and keep its results under `<state>/quality`.

    The suites read the warehouse read-only. Gates with a `volume_entity` (the landing gates)
    also open it as writer, before the suites (measure the load against its baseline into
    `quality.load_volume`) and after them (append the load to `quality.load_history`): never
    while a suite runs, as DuckDB refuses a second connection with another configuration (the
    SQL engine's) to the same file in one process.

    `engine` is `sql` or `pandas` (see `pipeline.quality.runner`); unset, `quality.engine`.
    Gates whose suites declare `delta:` (the clean gates) validate only what a delta cleaning
    wrote when their last run passed on the tables it started from (`delta_scope.decide`), and
    record what they validated, as writer, after the suites.
    """
    runner = QualityRunner(
        settings.state_path(),
        run_id,
        build_docs=build_docs,
        engine=engine or settings.quality.engine,
        keep_runs=settings.quality.data_docs_keep_runs,
    )
    parameters = gate_parameters(settings, run_id)
    attachments = {PUBLISHED_ATTACHMENT: published_serving_file(settings)}
    measure = None
    if volume_entity:
        with warehouse.connect() as con:
            ensure_load_history(con)
            measure = measure_volume(con, run_id, volume_entity, settings.as_of_date())
    scope = None
    if any(suite.delta for suite in gate.suites):
        with warehouse.connect(read_only=True) as con:
            scope = delta_scope.decide(con, gate.name, parameters)
    outcome = runner.run_gate(gate, warehouse, parameters, attachments, scope)
    if measure is not None or scope is not None:
        with warehouse.connect() as con:
            if measure is not None:
                record_load(con, measure, outcome.passed)
            if scope is not None:
                delta_scope.record(con, gate.name, parameters, scope, outcome.passed)
    return outcome


def to_check_result(outcome: GateOutcome) -> dg.AssetCheckResult:
    """Dagster's verdict: ERROR when an `error` expectation failed, WARN for warnings only."""
    meta = outcome.metadata()
    metadata: dict[str, Any] = {
        "expectations_run": meta["expectations_run"],
        "expectations_failed": meta["expectations_failed"],
        "failed_expectations": dg.MetadataValue.json(meta["failed_expectations"]),
        "blocking_failures": dg.MetadataValue.json(meta["blocking_failures"]),
        "warning_expectations": dg.MetadataValue.json(meta["warning_expectations"]),
        "unexpected_counts": dg.MetadataValue.json(meta["unexpected_counts"]),
        "sample_keys": dg.MetadataValue.json(meta["sample_keys"]),
        "skipped_suites": dg.MetadataValue.json(meta["skipped_suites"]),
        "suite_seconds": dg.MetadataValue.json(meta["suite_seconds"]),
        "suite_rows": dg.MetadataValue.json(meta["suite_rows"]),
        "results_dir": dg.MetadataValue.path(meta["results_dir"]),
    }
    if meta["data_docs"]:
        metadata["data_docs"] = dg.MetadataValue.path(meta["data_docs"])
    if meta["scope"]:
        metadata["scope"] = meta["scope"]
    if outcome.errors:
        passed, severity = False, dg.AssetCheckSeverity.ERROR
    elif outcome.warnings:
        passed, severity = False, dg.AssetCheckSeverity.WARN
    else:
        passed, severity = True, dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        passed=passed, severity=severity, metadata=metadata, description=outcome.summary()
    )


def build_gate_check(
    gate_name: str,
    asset: dg.AssetKey | Iterable[str],
    *,
    additional_deps: Iterable[dg.AssetKey] = (),
    volume_entity: str | None = None,
) -> dg.AssetChecksDefinition:
    """A blocking asset check on `asset` that runs the gate `expectations/<gate_name>.yml`.

    The check is named `<gate_name>_gate`; its description is the gate file's description.
    """
    gate = load_gate(gate_name)
    key = asset if isinstance(asset, dg.AssetKey) else dg.AssetKey(list(asset))

    @dg.asset_check(
        asset=key,
        name=f"{gate_name}_gate",
        description=gate.description or f"Quality gate {gate_name}.",
        blocking=True,
        additional_deps=list(additional_deps),
        pool=WAREHOUSE_POOL,
        metadata={"gate_file": f"expectations/{gate_name}.yml", "level": gate.level},
    )
    def _gate_check(
        context: dg.AssetCheckExecutionContext, warehouse: Warehouse, settings: RefreshSettings
    ) -> dg.AssetCheckResult:
        """Run the gate's suites with Great Expectations; fail (blocking) on error severity."""
        outcome = evaluate_gate(
            gate, warehouse, settings, context.run.run_id, volume_entity=volume_entity
        )
        if outcome.errors:
            context.log.error(outcome.summary())
        elif outcome.warnings:
            context.log.warning(outcome.summary())
        else:
            context.log.info(outcome.summary())
        return to_check_result(outcome)

    return _gate_check
