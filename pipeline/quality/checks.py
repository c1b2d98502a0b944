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
from pathlib import Path
from typing import Any

import dagster as dg

from pipeline.lib.resources import WAREHOUSE_POOL, RefreshSettings, Warehouse
from pipeline.quality.runner import GateOutcome, QualityRunner
from pipeline.quality.suites import GateSpec, load_gate

LOAD_HISTORY_TABLE = "quality.load_history"
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
    }


def published_serving_file(settings: RefreshSettings) -> Path:
    """The last published serving file (drift baseline); it may not exist yet."""
    return settings.state_path() / "serving" / "segments.duckdb"


def ensure_load_history(con: Any) -> None:
    """Create `quality.load_history` (one row per raw entity and run) if it is missing."""
    con.execute("CREATE SCHEMA IF NOT EXISTS quality")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {LOAD_HISTORY_TABLE} (
            run_id VARCHAR NOT NULL,
            entity VARCHAR NOT NULL,
            as_of DATE,
            row_count BIGINT NOT NULL,
            gate_passed BOOLEAN NOT NULL,
            recorded_at TIMESTAMP NOT NULL
        )"""
    )


def record_load(con: Any, run_id: str, entity: str, as_of: dt.date, gate_passed: bool) -> int:
    """Append this run's row count of `raw.<entity>` to the load history; returns the count.

    Blocked loads are kept (with `gate_passed = false`) for the audit trail, but only accepted
    loads serve as the baseline of the next volume check, so one bad load cannot lower the bar.
    """
    if not _ENTITY.match(entity):
        raise ValueError(f"not an entity name: {entity!r}")
    (count,) = con.execute(f"SELECT count(*) FROM raw.{entity}").fetchone()
    con.execute(
        f"INSERT INTO {LOAD_HISTORY_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
        [run_id, entity, as_of, count, gate_passed, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
    )
    return int(count)


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
    also open it as writer, before the suites (create `quality.load_history`) and after them
    (append this load): never while a suite runs, as DuckDB refuses a second connection with
    another configuration (the SQL engine's) to the same file in one process.

    `engine` is `sql` or `pandas` (see `pipeline.quality.runner`); unset, `quality.engine`.
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
    if volume_entity:
        with warehouse.connect() as con:
            ensure_load_history(con)
    outcome = runner.run_gate(gate, warehouse, parameters, attachments)
    if volume_entity:
        with warehouse.connect() as con:
            record_load(con, run_id, volume_entity, settings.as_of_date(), outcome.passed)
    return outcome


def to_check_result(outcome: GateOutcome) -> dg.AssetCheckResult:
    """Dagster's verdict: ERROR when an `error` expectation failed, WARN for warnings only."""
    meta = outcome.metadata()
    metadata: dict[str, Any] = {
        "expectations_run": meta["expectations_run"],
        "expectations_failed": meta["expectations_failed"],
        "failed_expectations": dg.MetadataValue.json(meta["failed_expectations"]),
        "warning_expectations": dg.MetadataValue.json(meta["warning_expectations"]),
        "unexpected_counts": dg.MetadataValue.json(meta["unexpected_counts"]),
        "sample_keys": dg.MetadataValue.json(meta["sample_keys"]),
        "skipped_suites": dg.MetadataValue.json(meta["skipped_suites"]),
        "suite_seconds": dg.MetadataValue.json(meta["suite_seconds"]),
        "results_dir": dg.MetadataValue.path(meta["results_dir"]),
    }
    if meta["data_docs"]:
        metadata["data_docs"] = dg.MetadataValue.path(meta["data_docs"])
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
