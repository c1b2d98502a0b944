"""`segments trigger` and `segments backfill`: click commands the `segments` CLI group registers."""

from __future__ import annotations

import datetime as dt
import os

import click

from pipeline.automation.triggers import EVENT_KINDS, write_trigger_file
from pipeline.lib.cli_options import load_or_exit, settings_options
from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.lib.settings import parse_set


def _parse_date(_ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param=param) from exc


@click.command("trigger")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(EVENT_KINDS),
    help="What happened in the business.",
)
@click.option("--note", required=True, help="One line saying what happened (shown on the run).")
@click.option(
    "--as-of",
    "as_of",
    callback=_parse_date,
    help="As-of date YYYY-MM-DD of the refresh; default: the day the sensor picks the event up.",
)
@click.option(
    "--state-dir",
    default=None,
    help="State directory; default paths.state_dir of the settings.",
)
@settings_options
def trigger(kind, note, as_of, state_dir, config_file, sets) -> None:
    """Record a business event: the business_event_sensor requests one refresh for it.

    Writes a YAML file into <state>/triggers/. The sensor (running under `dagster-daemon run` or
    `dagster dev`) picks it up on its next tick; the run is tagged with the kind and note.
    `--set` values apply to that refresh only (they are kept in the event file).
    """
    if not note.strip():
        raise click.BadParameter("must say what happened", param_hint="--note")
    loaded = load_or_exit(config_file, sets, {"paths.state_dir": ("--state-dir", state_dir)})
    overrides = dict(parse_set(item) for item in sets)
    state = RefreshSettings.from_settings(loaded.settings).state_path()
    event = write_trigger_file(state, kind, note, as_of=as_of, settings=overrides)
    click.echo(f"event {event.event_id} recorded in {event.path}")
    click.echo("the business_event_sensor will request a refresh on its next tick")


@click.command("backfill")
@click.option("--start", required=True, callback=_parse_date, help="First as-of date YYYY-MM-DD.")
@click.option(
    "--end",
    callback=_parse_date,
    help="Last possible as-of date YYYY-MM-DD (included when on the grid); default: today.",
)
@click.option(
    "--every-months",
    type=click.IntRange(min=1, max=24),
    default=3,
    show_default=True,
    help="Months between two as-of dates.",
)
@click.option("--warehouse", "warehouse_path", default=None, help="Warehouse DuckDB file.")
@click.option("--dry-run", is_flag=True, help="Only list the as-of dates.")
@click.option(
    "--date-floor",
    "date_floor",
    callback=_parse_date,
    help="Plausibility floor of the gates' date bounds; default: quality.date_floor.",
)
@settings_options
def backfill(
    start, end, every_months, warehouse_path, dry_run, date_floor, config_file, sets
) -> None:
    """Compute past refreshes (marts + history) from the order history, oldest first.

    Reuses the clean tables of the latest load (run a refresh first); nothing is re-ingested or
    published. Runs in this process, so stop the daemon's refreshes first: DuckDB has one writer.
    """
    from pipeline.automation.backfill import BackfillStep, backfill_as_of_dates, run_backfill

    loaded = load_or_exit(
        config_file,
        sets,
        {
            "warehouse.path": ("--warehouse", warehouse_path),
            "quality.date_floor": ("--date-floor", date_floor.isoformat() if date_floor else None),
        },
    )
    settings = RefreshSettings.from_settings(loaded.settings)
    end = end or settings.as_of_date()
    try:
        dates = backfill_as_of_dates(start, end, every_months)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"{len(dates)} as-of date(s): {', '.join(d.isoformat() for d in dates)}")
    if dry_run:
        return

    def report(step: BackfillStep) -> None:
        status = "ok" if step.success else "FAILED"
        click.echo(f"  {step.as_of.isoformat()}  {status}  run {step.run_id}")

    import dagster as dg

    from pipeline.lib.writer_lock import writer_lock

    # The persistent instance when there is one, so the runs show in the UI and honour its pools.
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    warehouse = Warehouse(**loaded.settings.warehouse.model_dump())
    wh = warehouse.resolved_path()
    # One writer for the whole backfill (pipeline/lib/writer_lock.py), not only during each run:
    # another refresh slipping in between two dates would append its as-of in the middle.
    # The runs below execute in this process and take the same lock again.
    with writer_lock(
        wh,
        f"segments backfill of {len(dates)} as-of date(s)",
        on_wait=lambda holder: click.echo(
            f"waiting: another run writes {wh} ({holder}); the backfill starts when it ends"
        ),
    ):
        try:
            steps = run_backfill(
                dates, settings=settings, warehouse=warehouse, instance=instance, on_step=report
            )
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
    if len(steps) < len(dates) or not all(s.success for s in steps):
        raise click.ClickException(
            "backfill stopped at the first failed as-of date; later dates were not run"
        )
    click.echo(f"backfilled {len(steps)} refresh(es)")


#: What the `segments` CLI group registers (pipeline/cli.py).
commands: list[click.Command] = [trigger, backfill]
