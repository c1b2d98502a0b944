"""The full log of a CLI run in a file under the state directory, and short progress on screen.

A refresh logs hundreds of lines (Dagster events, dbt output, stack traces): they all go to
`<state>/logs/refresh-<UTC time>.log` (owner-only: rows and file names can hold personal data).
The terminal shows one line per finished step; with `-v` it streams the full log as well.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pipeline.lib.permissions import PRIVATE_FILE, ensure_private_dir

LOGS_DIR = "logs"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def new_log_path(state_dir: Path, command: str = "refresh") -> Path:
    """A new, empty, owner-only log file `<state>/logs/<command>-<UTC time>.log`."""
    folder = ensure_private_dir(Path(state_dir) / LOGS_DIR)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    for attempt in range(100):
        path = folder / f"{command}-{stamp}{f'-{attempt}' if attempt else ''}.log"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free log file name in {folder}")


def _dagster_event(record: logging.LogRecord) -> Any:
    """The Dagster event a log record carries, if any (Dagster sets `record.dagster_meta`)."""
    meta = getattr(record, "dagster_meta", None)
    return meta.get("dagster_event") if isinstance(meta, dict) else None


class ProgressHandler(logging.Handler):
    """One terminal line per finished step (and per failed gate) of a run, with its time."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        super().__init__(logging.DEBUG)
        self.echo = echo
        self.started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        event = _dagster_event(record)
        if event is None or not event.step_key:
            return
        kind = event.event_type_value
        if kind == "STEP_START":
            self.started[event.step_key] = time.perf_counter()
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds = time.perf_counter() - self.started.pop(event.step_key, time.perf_counter())
            status = "done" if kind == "STEP_SUCCESS" else "FAILED"
            self.echo(f"  {status:<8}{event.step_key:<65}{seconds:>7.1f}s")
        elif kind == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if data is not None and not data.passed:
                level = "BLOCKED" if data.severity.value == "ERROR" else "warning"
                # One space at least after the status: "BLOCKED" fills a 7-wide column.
                self.echo(f"  {level:<8}{data.check_name} on {data.asset_key.to_user_string()}")


@dataclass
class RunLog:
    """Where a CLI run logs, and the Dagster loggers that write there."""

    path: Path
    verbose: bool = False
    handler: logging.Handler = field(init=False)
    #: The terminal's stdout, kept while `capture` sends sys.stdout to the log file.
    terminal: TextIO | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.handler = logging.FileHandler(self.path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter(_FORMAT))
        self.handler.setLevel(logging.DEBUG)
        # Dagster repeats run messages on its Python logger `dagster.builtin`: the run_log_file
        # logger already writes them, with the run and step.
        self.handler.addFilter(lambda record: not record.name.startswith("dagster.builtin"))

    def dagster_loggers(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Logger definitions for the job and their run config: file, progress, console.

        The console logger (Dagster's default) streams only with `verbose`.
        """
        import dagster as dg

        handler = self.handler
        progress = ProgressHandler(self.echo)

        @dg.logger(description="The full run log, written to the CLI's log file.")
        def run_log_file(_init_context: Any) -> logging.Logger:
            logger = logging.Logger("segments.run", logging.DEBUG)
            logger.addHandler(handler)
            return logger

        @dg.logger(description="One line per finished step on the terminal.")
        def step_progress(_init_context: Any) -> logging.Logger:
            logger = logging.Logger("segments.progress", logging.DEBUG)
            logger.addHandler(progress)
            return logger

        defs: dict[str, Any] = {"run_log_file": run_log_file, "step_progress": step_progress}
        config: dict[str, Any] = {"run_log_file": {}, "step_progress": {}}
        if self.verbose:
            defs["console"] = dg.colored_console_logger
            config["console"] = {"config": {"log_level": "DEBUG"}}
        return defs, config

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """While the block runs, library logs, warnings and stdout go to the log file.

        Without `verbose`, stdout too: dagster-dbt re-prints dbt's output there (for Dagster's
        compute logs); `echo` still reaches the terminal.
        """
        with contextlib.ExitStack() as stack:
            root = logging.getLogger()
            root.addHandler(self.handler)
            stack.callback(root.removeHandler, self.handler)
            stack.callback(root.setLevel, root.level)
            root.setLevel(min(root.level or logging.WARNING, logging.INFO))
            # GX logs every datasource save at INFO: hundreds of lines that say nothing.
            quiet = logging.getLogger("great_expectations")
            stack.callback(quiet.setLevel, quiet.level)
            quiet.setLevel(max(quiet.level, logging.WARNING))
            logging.captureWarnings(True)
            stack.callback(logging.captureWarnings, False)
            if not self.verbose:
                # Python warnings (library deprecations) go to the file only.
                warnings_logger = logging.getLogger("py.warnings")
                warnings_logger.addHandler(self.handler)
                warnings_logger.propagate = False
                stack.callback(setattr, warnings_logger, "propagate", True)
                stack.callback(warnings_logger.removeHandler, self.handler)
                self.terminal = sys.stdout
                stack.callback(setattr, self, "terminal", None)
                log_file = stack.enter_context(open(self.path, "a", encoding="utf-8", buffering=1))
                stack.enter_context(contextlib.redirect_stdout(log_file))
            stack.callback(self.handler.close)
            yield

    def echo(self, line: str) -> None:
        """Print a line on the terminal, even while stdout goes to the log file."""
        stream = self.terminal or sys.stdout
        stream.write(line + "\n")
        stream.flush()

    def write(self, text: str) -> None:
        """Append text (e.g. a traceback caught outside the run) to the log file."""
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text.rstrip("\n") + "\n")
