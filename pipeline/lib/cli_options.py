"""The `--config` and `--set` options every command that runs the pipeline takes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import click

from pipeline.lib.settings import CONFIG_ENV, LoadedSettings, SettingsError, load_settings


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--config PATH` and repeatable `--set section.key=value` to a click command."""
    command = click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="SECTION.KEY=VALUE",
        help="Override one setting for this command (repeatable), e.g. "
        "--set refresh.score_buckets=3.",
    )(command)
    return click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path, dir_okay=False),
        help=f"Settings file; default ${CONFIG_ENV}, else config/segments.yaml.",
    )(command)


def load_or_exit(
    config_file: Path | None,
    sets: Iterable[str],
    options: Mapping[str, tuple[str, Any]] | None = None,
) -> LoadedSettings:
    """Load the settings; refused settings end the command with one line per bad key."""
    try:
        return load_settings(config_file, sets, options=options)
    except SettingsError as exc:
        for line in exc.lines:
            click.echo(f"settings: {line}", err=True)
        raise SystemExit(2) from None
