"""`segments`: the command line for people and scripts.

Every command that computes segments executes the Dagster job in-process: there is no second code
path beside the job the schedules and sensors run.

Exit codes of `segments refresh` (README, docs/automation.md):

* 0: refreshed and published, or skipped because nothing changed;
* 1: a step failed (bad export, dbt, publication...), or steps were skipped although none
  failed; the last lines name the step and the cause;
* 2: the command or the configuration is wrong (pre-flight), nothing was run;
* 3: a quality gate blocked the refresh; the published tables stay as they were.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import duckdb

from pipeline.lib.cli_options import load_or_exit, settings_options
from pipeline.lib.codes import OVERALL
from pipeline.lib.failures import (
    Failure,
    incomplete_run,
    one_line,
    run_failures,
    skipped_steps,
)
from pipeline.lib.paths import serving_path
from pipeline.lib.permissions import private_by_default
from pipeline.lib.sql import table_exists
from pipeline.lib.writer_lock import WarehouseBusy, acquire, release

log = logging.getLogger("segments")

EXIT_OK = 0
EXIT_STEP_FAILED = 1
EXIT_CONFIGURATION = 2
EXIT_BLOCKED_BY_GATE = 3
EXIT_BUSY = 4


def _instance():
    """The Dagster instance of $DAGSTER_HOME (runs show in `dagster dev`), else an ephemeral one."""
    import dagster as dg

    if os.environ.get("DAGSTER_HOME"):
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


#: The run config part of `segments refresh --full`: the extraction reads every file again and
#: the cleaning cleans every row again.
FULL_RELOAD_RUN_CONFIG: dict[str, Any] = {
    "ops": {
        "extract_landing": {"config": {"full": True}},
        "clean_entities": {"config": {"full": True}},
    }
}

#: The run config part of `segments refresh --force` (and --full): identity resolves again even
#: when nothing it reads changed.
FORCE_RUN_CONFIG: dict[str, Any] = {"identity_assets": {"config": {"resolve": True}}}


def build_run_config(
    *,
    landing: Path | None = None,
    as_of: dt.date | None = None,
    warehouse: Path | None = None,
    mapping: Path | None = None,
    state_dir: Path | None = None,
    config_file: Path | None = None,
    sets: tuple[str, ...] = (),
    options: dict[str, tuple[str, Any]] | None = None,
) -> dict[str, Any]:
    """The full run config of one refresh (every setting explicit, the as-of date resolved).

    Settings come from the settings file, the environment, `options` ({dotted key: (option,
    value)}), the named paths and `sets` (`section.key=value`), in that order.
    """
    from pipeline.lib.resources import RefreshSettings

    named = {
        "paths.landing_dir": ("--landing", str(landing) if landing else None),
        "paths.mapping_file": ("--mapping", str(mapping) if mapping else None),
        "paths.state_dir": ("--state-dir", str(state_dir) if state_dir else None),
        "warehouse.path": ("--warehouse", str(warehouse) if warehouse else None),
        "refresh.as_of": ("--as-of", as_of.isoformat() if as_of else None),
        **(options or {}),
    }
    effective = load_or_exit(config_file, sets, named).settings
    resolved = RefreshSettings.from_settings(effective).as_of_date()
    return effective.run_config(as_of=resolved.isoformat())


@dataclass(frozen=True)
class SkippedRefresh:
    """A refresh not run because nothing it reads changed since the last successful one."""

    run_id: str
    as_of: str
    served: Path
    seconds: float
    success: bool = True
    skipped: bool = True


def _paths(run_config: dict[str, Any]) -> tuple[Any, Path, Path]:
    """Settings, warehouse path and state dir of a run config."""
    from pipeline.lib.resources import RefreshSettings, Warehouse

    settings = RefreshSettings(**run_config["resources"]["settings"]["config"])
    warehouse = Warehouse(**run_config["resources"]["warehouse"]["config"]).resolved_path()
    return settings, warehouse, settings.state_path()


def execute_refresh(
    *,
    trigger: str = "cli",
    raise_on_error: bool = False,
    instance=None,
    run_config: dict[str, Any] | None = None,
    force: bool = False,
    loggers: tuple[dict[str, Any], dict[str, Any]] | None = None,
    **options: Any,
):
    """Run the `refresh_segments` job in this process and return its execution result.

    `options` are those of `build_run_config` (landing, as_of, warehouse, mapping, state_dir,
    config_file, sets), unless a ready `run_config` is given. `loggers` (logger definitions and
    their run config, see `pipeline.lib.runlog`) replace Dagster's console logger. Unless
    `force`, a refresh whose fingerprint (exports, effective settings, as-of date, mapping,
    steward overrides, dbt project) equals the one the last successful refresh recorded is not
    run: a `SkippedRefresh` is returned, since the published tables are already exactly what it
    would build. The job's last step records the new fingerprint.
    """
    from pipeline.automation.record import run_config_fingerprint
    from pipeline.lib.fingerprint import read_record
    from pipeline.lib.reasons import KINDS, RunReason

    started = time.perf_counter()
    run_config = run_config or build_run_config(**options)
    settings, warehouse, state = _paths(run_config)
    as_of = settings.as_of_date().isoformat()
    last = read_record(state)
    served = serving_path(state)
    if not force and last and served.exists() and warehouse.exists():
        if run_config_fingerprint(run_config).digest == last.fingerprint:
            return SkippedRefresh(last.run_id, last.as_of, served, time.perf_counter() - started)

    from pipeline.segments.project import ensure_manifest

    ensure_manifest()
    from pipeline.definitions import defs  # after the manifest exists

    job = defs.resolve_job_def("refresh_segments")
    if loggers is not None:
        job = job.with_logger_defs(loggers[0])
        run_config = {**run_config, "loggers": loggers[1]}
    reason = RunReason(trigger, KINDS.get(trigger, trigger) + (" (--force)" if force else ""))
    return job.execute_in_process(
        run_config=run_config,
        instance=instance or _instance(),
        tags=reason.tags(as_of=as_of),
        raise_on_error=raise_on_error,
    )


def step_intervals(instance, run_id: str) -> dict[str, tuple[float, float]]:
    """(start, end) epoch timestamps per step, from the run's STEP_START / STEP_SUCCESS events."""
    starts: dict[str, float] = {}
    spans: dict[str, tuple[float, float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif (
            event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts
        ):
            spans[event.step_key] = (starts.pop(event.step_key), entry.timestamp)
    return spans


def _step_seconds(instance, run_id: str) -> dict[str, float]:
    """Wall time per step, read from the run's event log."""
    return {key: end - start for key, (start, end) in step_intervals(instance, run_id).items()}


def removed_files(result) -> dict[str, int]:
    """{landing file: raw rows dropped} of the files a run found removed from the landing.

    Read from the extraction's materialization metadata (`files_removed`): once dropped, a file
    is in no warehouse table any more.
    """
    removed: dict[str, int] = {}
    for materialization in result.asset_materializations_for_node("extract_landing"):
        entry = materialization.metadata.get("files_removed")
        if entry is not None:
            removed.update(entry.value)
    return removed


def cleaning_mode(result) -> str | None:
    """What the run's cleaning cleaned and why (a delta or everything), from the cleaning
    step's metadata (`cleaning`, `raw_rows_cleaned`); None when it did not run."""
    for materialization in result.asset_materializations_for_node("clean_entities"):
        mode = materialization.metadata.get("cleaning")
        if mode is not None:
            rows = materialization.metadata.get("raw_rows_cleaned")
            return mode.value + (f" ({rows.value:,} raw rows cleaned)" if rows else "")
    return None


def _print_summary(
    warehouse: Path,
    state_dir: Path,
    seconds: dict[str, float],
    removed: dict[str, int] | None = None,
    cleaning: str | None = None,
) -> None:
    """Rows per entity, quarantined per reason, identities, segments: read from the warehouse.

    `removed` ({file: raw rows dropped}, see `removed_files`) completes the landing files line;
    `cleaning` (see `cleaning_mode`) says what the cleaning cleaned and why.
    """
    from pipeline.ingest.delta import last_cleaning

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        if table_exists(con, "clean", "load_log"):
            click.echo(
                "\nRows per entity (read = accepted + deferred + rejected; deferred: dated "
                "after the as-of date, left for a later refresh):"
            )
            rows = con.execute(
                "select entity, count(*) files, sum(rows_read), sum(rows_accepted), "
                "sum(rows_deferred), sum(rows_rejected) from clean.load_log "
                "group by entity order by entity"
            ).fetchall()
            click.echo(
                f"  {'entity':<16}{'files':>6}{'read':>10}{'accepted':>10}{'deferred':>10}"
                f"{'rejected':>10}"
            )
            for entity, files, read, accepted, deferred, rejected in rows:
                click.echo(
                    f"  {entity:<16}{files:>6}{read:>10}{accepted:>10}{deferred:>10}{rejected:>10}"
                )
        registry = {
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'raw' and table_name = 'file_registry'"
            ).fetchall()
        }
        if "checked_at" in registry:
            # This run's files: checked last; read now if loaded then, else kept as loaded.
            rows = con.execute(
                "select loaded_at = checked_at, load_reason, count(*) from raw.file_registry "
                "where checked_at = (select max(checked_at) from raw.file_registry) "
                "group by all order by 1 desc, 2"
            ).fetchall()
            reasons = [f"{reason}: {n}" for was_read, reason, n in rows if was_read]
            read = sum(n for was_read, _, n in rows if was_read)
            kept = sum(n for was_read, _, n in rows if not was_read)
            gone = ", ".join(f"{name}: {n} raw rows dropped" for name, n in (removed or {}).items())
            click.echo(
                f"\nLanding files: {read} read"
                + (f" ({', '.join(reasons)})" if reasons else "")
                + f", {kept} unchanged since their last load (not read again; --full reads them)"
                + (f", {len(removed or {})} removed ({gone})" if gone else "")
            )
        if cleaning:
            click.echo(f"Cleaning {cleaning}")
        last = last_cleaning(con)
        if last is not None and table_exists(con, "quality", "gate_state"):
            # The clean gates' last runs on the clean tables as they stand.
            gates = con.execute(
                "select gate, scope from quality.gate_state where cleaning_id = ? order by 1",
                [last.cleaning_id],
            ).fetchall()
            for scope in dict.fromkeys(scope for _, scope in gates):
                names = ", ".join(gate for gate, s in gates if s == scope)
                click.echo(f"Clean gates ({names}) validated {scope}")
        if table_exists(con, "clean", "quarantine"):
            rows = con.execute(
                "select reason_code, action, count(*) from clean.quarantine "
                "group by all order by 3 desc, 1"
            ).fetchall()
            click.echo("\nQuarantine per reason (table clean.quarantine):")
            for reason, action, n in rows:
                click.echo(f"  {reason:<22}{action:<14}{n:>8}")
        if table_exists(con, "identity", "customer_identity_map"):
            records, masters = con.execute(
                "select count(*), count(distinct customer_id) from identity.customer_identity_map"
            ).fetchone()
            click.echo(
                f"\nIdentity: {records} customer records resolved into {masters} customers "
                f"({records - masters} merged)"
            )
        if table_exists(con, "marts", "segment_kpis"):
            click.echo("\nSegments:")
            rows = con.execute(
                "select segment, customers, share, revenue from marts.segment_kpis "
                "order by segment = ?, customers desc",
                [OVERALL],
            ).fetchall()
            for segment, customers, share, revenue in rows:
                click.echo(
                    f"  {segment:<20}{customers:>8}{float(share or 0):>8.1%}"
                    f"{float(revenue or 0):>14,.2f}"
                )
    finally:
        con.close()
    if seconds:
        click.echo("\nTime per step (s):")
        for step, secs in seconds.items():
            click.echo(f"  {step:<64}{secs:>8.1f}")
    click.echo("\nOutput tables:")
    click.echo(f"  build warehouse (pipeline only): {warehouse}")
    serving = serving_path(state_dir)
    if serving.exists():
        click.echo(f"  BI serving file (open read-only): {serving}")
    exports = state_dir / "exports" / "latest"
    if exports.exists():
        click.echo(f"  Parquet/CSV exports: {exports}")
    reports = (
        sorted((state_dir / "reports").glob("*.html")) if (state_dir / "reports").exists() else []
    )
    if reports:
        click.echo(f"  insight report: {reports[-1]}")


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Stream the full log to the terminal.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Customer segmentation pipeline: RFM segments, cohorts and KPIs from CRM exports."""
    ctx.ensure_object(dict)["verbose"] = verbose
    console = logging.StreamHandler()
    # Warnings and errors only: a refresh's full log goes to its log file (`-v` streams it).
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[console],
    )
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    # Files the pipeline creates (warehouse, WAL, logs, state) are owner-only unless published.
    private_by_default()


@cli.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("data/demo"), show_default=True
)
@click.option("--customers", type=int, default=5000, show_default=True)
@click.option("--orders", type=int, default=25000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default="2026-10-01")
@click.option("--format", "file_format", type=click.Choice(["csv", "parquet"]), default="csv")
@click.option(
    "--parts",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Write the demo as this many independent parts, one at a time (bounded memory).",
)
def demo(
    out: Path, customers: int, orders: int, seed: int, as_of, file_format: str, parts: int
) -> None:
    """Write deterministic demo exports (with injected faults and ground truth) to OUT."""
    from pipeline.demo.generator import generate_demo

    started = time.perf_counter()
    summary = generate_demo(
        out,
        customers=customers,
        orders=orders,
        seed=seed,
        as_of=as_of.date(),
        file_format=file_format,
        parts=parts,
    )
    click.echo(f"demo data written to {out / 'landing'} in {time.perf_counter() - started:.1f}s")
    click.echo(str(summary))


def _echo_failure(
    headline: str, failures: list[Failure], log_path: Path | None, extra: list[str] = ()
) -> None:
    """The last lines of a failed command: headline, log path, then step and cause of each."""
    click.echo(headline, err=True)
    for line in extra:
        click.echo(f"  {line}", err=True)
    if log_path is not None:
        click.echo(f"  full log: {log_path}", err=True)
    for failure in failures:
        click.echo(f"  step:  {failure.step}", err=True)
        click.echo(f"  cause: {failure.cause}", err=True)


@cli.command(
    epilog="Exit codes: 0 refreshed (or nothing changed), 1 a step failed or was skipped, 2 bad "
    "command or configuration (nothing run), 3 blocked by a quality gate (published tables "
    "unchanged), 4 another run writes the warehouse and --no-wait was given (nothing run)."
)
@click.option("--landing", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), help="Default: today.")
@click.option("--warehouse", type=click.Path(path_type=Path), help="Default: warehouse.path.")
@click.option("--mapping", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--state-dir", type=click.Path(path_type=Path), help="Default: paths.state_dir.")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    help="Engine of the dbt models (docs/spark.md); default: refresh.engine (duckdb).",
)
@click.option("--spark-dir", type=click.Path(path_type=Path), help="Default: <warehouse dir>/spark")
@click.option(
    "--force",
    is_flag=True,
    help="Rebuild even when nothing changed since the last run (identity resolves again).",
)
@click.option(
    "--full",
    is_flag=True,
    help="Read every landing file again, including those unchanged since their last load, and "
    "clean every row again (implies --force).",
)
@click.option(
    "--date-floor",
    "date_floor",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Plausibility floor: older dates are quarantined (implausible_date). "
    "Default: quality.date_floor (1900-01-01).",
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Stream the full run log (always in the log file)."
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="If another run writes the warehouse, stop (exit code 4) instead of waiting for it.",
)
@settings_options
@click.pass_context
def refresh(
    ctx,
    landing,
    as_of,
    warehouse,
    mapping,
    state_dir,
    engine,
    spark_dir,
    force,
    full,
    date_floor,
    verbose,
    no_wait,
    config_file,
    sets,
) -> None:
    """Run the refresh_segments job in-process and print what it did, in numbers.

    The configuration is checked first (pre-flight: PII key, folders, mapping, settings), before
    any work starts. When nothing it reads changed since the last successful refresh (same
    exports, settings, as-of date, mapping, steward overrides and dbt project), the run is
    skipped: the published tables are already exactly what it would build. The full log goes to
    <state>/logs/refresh-<time>.log; a failure ends with the failed step and its cause.
    """
    from pipeline.preflight import preflight

    started = time.perf_counter()
    verbose = verbose or (ctx.obj or {}).get("verbose", False)
    # Refused settings end here with one line per bad key (exit code 2, nothing run).
    run_config = build_run_config(
        landing=landing,
        as_of=as_of.date() if as_of else None,
        warehouse=warehouse,
        mapping=mapping,
        state_dir=state_dir,
        config_file=config_file,
        sets=sets,
        options={
            "refresh.engine": ("--engine", engine),
            "refresh.spark_dir": ("--spark-dir", str(spark_dir) if spark_dir else None),
            "quality.date_floor": (
                "--date-floor",
                date_floor.date().isoformat() if date_floor else None,
            ),
        },
    )
    if full:
        run_config.update(FULL_RELOAD_RUN_CONFIG)
        force = True
    if force:
        run_config["ops"] = {**run_config.get("ops", {}), **FORCE_RUN_CONFIG}
    checked = preflight(run_config)
    if not checked.ok:
        _echo_failure(
            f"refresh NOT STARTED: pre-flight found {len(checked.problems)} problem(s) in "
            f"{checked.seconds:.2f}s; nothing was run or changed.",
            [Failure("pre-flight (configuration)", p, "config") for p in checked.problems],
            None,
        )
        sys.exit(EXIT_CONFIGURATION)
    settings, wh, state = _paths(run_config)
    # One writer at a time (pipeline/lib/writer_lock.py): held until the summary is printed; the
    # run started below takes it again in-process.
    try:
        acquire(
            wh,
            f"segments refresh as of {settings.as_of_date()}",
            wait=not no_wait,
            on_wait=lambda holder: click.echo(
                f"waiting: another run writes {wh} ({holder}); this refresh starts when it "
                "ends (--no-wait stops instead)"
            ),
        )
    except WarehouseBusy as busy:
        _echo_failure(
            "refresh NOT STARTED: another run writes the warehouse; nothing was run or changed.",
            [
                Failure(
                    "writer lock",
                    f"held by {busy.holder} (lock {busy.lock_path}); wait for it to end, or run "
                    "again without --no-wait to start right after it",
                    "config",
                )
            ],
            None,
        )
        sys.exit(EXIT_BUSY)
    try:
        _run_refresh(run_config, wh, state, force, verbose, started, checked.seconds)
    finally:
        release(wh)


def _run_refresh(
    run_config: dict[str, Any],
    wh: Path,
    state: Path,
    force: bool,
    verbose: bool,
    started: float,
    preflight_seconds: float,
) -> None:
    """The refresh itself, once the pre-flight passed and the writer lock is held."""
    from pipeline.lib.runlog import RunLog, new_log_path

    run_log = RunLog(new_log_path(state), verbose=verbose)
    click.echo(f"pre-flight ok in {preflight_seconds:.2f}s; full log: {run_log.path}")
    instance = _instance()
    try:
        with run_log.capture():
            result = execute_refresh(
                instance=instance,
                run_config=run_config,
                force=force,
                loggers=run_log.dagster_loggers(),
            )
    except Exception as exc:  # outside any step: dbt parse, fingerprint, Dagster itself
        import traceback

        run_log.write(traceback.format_exc())
        _echo_failure(
            f"refresh FAILED before its first step after {time.perf_counter() - started:.1f}s; "
            "the published tables are unchanged.",
            [Failure("setup (before the run)", one_line(f"{type(exc).__name__}: {exc}"), "step")],
            run_log.path,
        )
        sys.exit(EXIT_STEP_FAILED)
    if isinstance(result, SkippedRefresh):
        click.echo(
            f"nothing changed since the refresh as of {result.as_of} (run {result.run_id}): "
            f"skipped in {result.seconds:.1f}s; use --force to rebuild.\n"
            f"  BI serving file (open read-only): {result.served}"
        )
        return
    if not result.success:
        failures = run_failures(result.all_events) or [
            Failure("run", "failed without an error event; see the log", "run")
        ]
        blocked = any(f.kind == "gate" for f in failures)
        what = "BLOCKED by a quality gate" if blocked else "FAILED"
        _echo_failure(
            f"refresh {what} after {time.perf_counter() - started:.1f}s (run {result.run_id}); "
            "the published tables, exports, report and history are unchanged.",
            failures,
            run_log.path,
        )
        sys.exit(EXIT_BLOCKED_BY_GATE if blocked else EXIT_STEP_FAILED)
    layer = result.job_def.asset_layer
    incomplete = incomplete_run(result.all_events, layer)
    if incomplete:
        from pipeline.serving.wiring import PUBLISHED_REFRESH_KEY

        publication = str(layer.get_op_output_handle(PUBLISHED_REFRESH_KEY).node_handle)
        kept = publication in skipped_steps(result.all_events)
        _echo_failure(
            f"refresh INCOMPLETE after {time.perf_counter() - started:.1f}s (run {result.run_id}): "
            "no step failed, yet some did not run"
            + (
                "; the published tables, exports, report and history are unchanged."
                if kept
                else "; publication ran, the steps below did not."
            ),
            incomplete,
            run_log.path,
        )
        sys.exit(EXIT_STEP_FAILED)
    _print_summary(
        wh,
        state,
        _step_seconds(instance, result.run_id),
        removed_files(result),
        cleaning_mode(result),
    )
    click.echo(f"\nfull log: {run_log.path}")
    click.echo(f"refresh succeeded in {time.perf_counter() - started:.1f}s (run {result.run_id})")


@cli.group("config")
def config_group() -> None:
    """The settings: effective values and where they come from, or the defaults file."""


@config_group.command("show")
@settings_options
def config_show(config_file, sets) -> None:
    """Print every effective setting and where its value came from.

    Sources, lowest first: default, file, env (SEGMENTS_LANDING...), --set. `*` marks values that
    differ from the default.
    """
    from pipeline.lib.settings import yaml_value

    loaded = load_or_exit(config_file, sets)
    click.echo(f"settings file: {loaded.file or 'none (defaults)'}")
    rows = loaded.rows()
    width = max(len(key) for key, *_ in rows)
    for key, value, source, is_default in rows:
        mark = " " if is_default else "*"
        click.echo(f"{mark} {key:<{width}}  {yaml_value(value):<28}  {source}")


@config_group.command("defaults")
def config_defaults() -> None:
    """Print the settings file with every key at its default (config/segments.yaml)."""
    from pipeline.lib.settings import render_defaults

    click.echo(render_defaults(), nl=False)


def _register_domain_commands() -> None:
    """Commands owned by the domains (automation: trigger, backfill)."""
    try:
        from pipeline.automation.cli import commands
    except ImportError:  # the automation domain is optional in a partial checkout
        return
    for command in commands:
        cli.add_command(command)


_register_domain_commands()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="segments")


if __name__ == "__main__":
    main()
