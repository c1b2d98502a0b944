"""The real `dagster-daemon` with the repository's settings: runs only for a reason.

A quickstart-style refresh through the CLI, then the daemon (the repo's workspace and settings,
sensor intervals shortened for the test):

1. two looks of every sensor: no run (the new-data sensor compares with the CLI's record);
2. a new orders export lands: exactly one refresh, tagged new_data;
3. new NPS answers fall: one monitoring run, one detection, exactly one refresh tagged with the
   metric (before, after, threshold); then no further run.

The sensors' timeline (time, sensor, decision, reason) is read from the daemon log and kept as a
test artifact (`$SEGMENTS_TEST_ARTIFACTS/sensor_timeline.md`).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
from refresh_workspace import scored_source_ids

from pipeline.automation.alerts import read_alerts
from pipeline.lib.settings import render_defaults

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: Seconds between two looks of each sensor in this test (the repo's defaults are 60 s to a day).
INTERVAL = 5
PHASE_TIMEOUT = 1500
_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) [^-]*- dagster\.daemon\.SensorDaemon - \w+ - "
    r"(?:Sensor (?P<skipped>\w+) skipped: (?P<why>.*)"
    r"|Completed launch of run (?P<run>\S+) for (?P<launcher>\w+)"
    r"|No run requests returned for (?P<quiet>\w+), skipping)$"
)
#: The daemon colours its log lines.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
WATCHED = ("new_data_sensor", "kpi_monitor_sensor", "kpi_drop_sensor")


def _settings_file(path: Path) -> Path:
    """The repository's settings, with the sensors looking every INTERVAL seconds."""
    text = render_defaults()
    for old, new in [
        ("minimum_interval_seconds: 60\n", f"minimum_interval_seconds: {INTERVAL}\n"),
        ("minimum_interval_seconds: 86400\n", f"minimum_interval_seconds: {INTERVAL}\n"),
        ("minimum_interval_seconds: 300\n", f"minimum_interval_seconds: {INTERVAL}\n"),
        ("settle_seconds: 60.0\n", "settle_seconds: 1.0\n"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return path


def _today() -> dt.date:
    """Today as the sensors see it (refresh.timezone)."""
    return dt.datetime.now(ZoneInfo("Europe/Paris")).date()


def _runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return sorted(instance.get_runs(), key=lambda r: r.run_id)


def _timeline(log: Path) -> list[tuple[str, str, str, str]]:
    """(time, sensor, decision, reason) of every sensor evaluation in the daemon log."""
    events = []
    for line in log.read_text(errors="replace").splitlines():
        match = _LINE.match(_ANSI.sub("", line))
        if not match:
            continue
        if match["skipped"]:
            events.append((match["time"], match["skipped"], "skip", match["why"]))
        elif match["run"]:
            events.append((match["time"], match["launcher"], "run", match["run"]))
        else:
            events.append((match["time"], match["quiet"], "skip", ""))
    return events


def _keep_timeline(log: Path, fallback: Path) -> None:
    """Write the sensors' timeline as a Markdown table (a test artifact, kept on failure too)."""
    table = ["| time (UTC) | sensor | decision | reason or run |", "|---|---|---|---|"]
    table += [f"| {t} | {s} | {d} | {r} |" for t, s, d, r in _timeline(log)]
    artifacts = Path(os.environ.get("SEGMENTS_TEST_ARTIFACTS") or fallback)
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "sensor_timeline.md").write_text("\n".join(table) + "\n", encoding="utf-8")


class Daemon:
    """`dagster-daemon run` on the repository's workspace, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path, home: Path) -> None:
        self.log, self.home = log, home
        self._handle = log.open("w")
        self.proc = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
            cwd=REPO,
            env=env,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def looks(self, sensor: str, since: int = 0) -> int:
        """How many times `sensor` was evaluated (after the first `since` timeline events)."""
        return sum(1 for event in _timeline(self.log)[since:] if event[1] == sensor)

    def wait(self, done, what: str, timeout: float = PHASE_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert self.proc.poll() is None, self.tail()
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{self.tail()}"
            time.sleep(2)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._handle.close()


def _new_orders(landing: Path, today: dt.date) -> Path:
    """An export of 40 new orders of known customers, dated in the last weeks."""
    with next(landing.glob("orders*.csv")).open(encoding="utf-8") as handle:
        customers = sorted({row["customer_id"] for row in csv.DictReader(handle)})[:40]
    path = landing / f"orders_{today:%Y_%m}_late.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "order_date", "amount", "status"])
        for i, customer in enumerate(customers):
            day = today - dt.timedelta(days=1 + i % 20)
            writer.writerow([f"LATE{i:05d}", customer, day.isoformat(), "42.50", "completed"])
    return path


def _unhappy_answers(landing: Path, warehouse: Path, today: dt.date, count: int = 80) -> Path:
    """NPS answers of `count` customers of the published refresh, all detractors (0-3), today."""
    customers = scored_source_ids(warehouse, count)
    path = landing / f"nps_responses_{today:%Y_%m_%d}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["response_id", "customer_id", "responded_at", "score"])
        for i, customer in enumerate(customers):
            writer.writerow([f"FALL{i:05d}", customer, today.isoformat(), i % 4])
    return path


@pytest.mark.slow
@pytest.mark.integration
def test_the_daemon_runs_only_for_a_reason(demo_dir: Path, tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    landing, state, warehouse = tmp_path / "landing", tmp_path / "state", tmp_path / "wh.duckdb"
    shutil.copytree(demo_dir / "landing", landing)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")},
        "SEGMENTS_PII_KEY": os.environ.get("SEGMENTS_PII_KEY", "test-secret-key"),
        "DAGSTER_HOME": str(home),
        "SEGMENTS_CONFIG": str(_settings_file(tmp_path / "segments.yaml")),
        "SEGMENTS_LANDING": str(landing),
        "SEGMENTS_STATE_DIR": str(state),
        "SEGMENTS_WAREHOUSE": str(warehouse),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # Create the instance storage before two processes race to initialise it.
    assert _runs(home) == []

    # A quickstart-style refresh through the CLI (its run is in the instance, like `make`'s).
    cli = subprocess.run(
        [str(BIN / "segments"), "refresh", "--as-of", "2026-10-01"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=PHASE_TIMEOUT,
        check=False,
    )
    assert cli.returncode == 0, cli.stdout[-3000:] + cli.stderr[-3000:]
    [cli_run] = _runs(home)

    daemon = Daemon(env, tmp_path / "daemon.log", home)
    try:
        # 1. Every sensor looks twice: nothing is new, nothing runs.
        daemon.wait(lambda: all(daemon.looks(sensor) >= 2 for sensor in WATCHED), "two looks each")
        assert [r.run_id for r in _runs(home)] == [cli_run.run_id]
        phase_2 = len(_timeline(daemon.log))

        # 2. A new orders export: exactly one refresh, tagged new_data.
        today = _today()
        _new_orders(landing, today)
        daemon.wait(
            lambda: len(_runs(home)) >= 2 and all(r.is_finished for r in _runs(home)),
            "the new-data refresh",
        )
        daemon.wait(
            lambda: daemon.looks("new_data_sensor", phase_2) >= 3, "new_data looks after it"
        )
        runs = [r for r in _runs(home) if r.run_id != cli_run.run_id]
        [new_data] = runs
        assert new_data.status == dg.DagsterRunStatus.SUCCESS, daemon.tail()
        assert new_data.tags["segments/trigger"] == "new_data"
        assert new_data.tags["segments/new_files"] == f"orders_{today:%Y_%m}_late.csv"
        assert new_data.tags["segments/as_of"] == today.isoformat()

        # 3. New NPS answers fall: one monitoring run, one detection, one refresh.
        today = _today()
        _unhappy_answers(landing, warehouse, today)

        def monitored() -> bool:
            runs = _runs(home)
            return any(r.job_name == "monitor_kpis" for r in runs) and all(
                r.is_finished for r in runs
            )

        daemon.wait(monitored, "the monitoring run")
        after_monitor = len(_timeline(daemon.log))
        daemon.wait(
            lambda: (
                daemon.looks("kpi_drop_sensor", after_monitor) >= 2
                and all(r.is_finished for r in _runs(home))
            ),
            "the KPI-drop sensor's decision and its refresh",
        )
        settled = len(_timeline(daemon.log))
        daemon.wait(
            lambda: all(daemon.looks(sensor, settled) >= 2 for sensor in WATCHED),
            "two more looks each",
        )
        runs = [r for r in _runs(home) if r.run_id not in (cli_run.run_id, new_data.run_id)]
    finally:
        daemon.stop()
        _keep_timeline(daemon.log, tmp_path)

    timeline = _timeline(daemon.log)
    assert len(runs) == 2, daemon.tail()
    monitor = next(r for r in runs if r.job_name == "monitor_kpis")
    drop = next(r for r in runs if r.job_name == "refresh_segments")
    assert monitor.status == drop.status == dg.DagsterRunStatus.SUCCESS, daemon.tail()
    assert monitor.tags["segments/trigger"] == "kpi_monitor"
    tags = drop.tags
    assert (tags["segments/trigger"], tags["segments/reason_metric"]) == ("kpi_drop", "nps")
    assert tags["segments/reason_segment"] == "All"
    assert float(tags["segments/reason_after"]) == pytest.approx(-100.0)
    assert float(tags["segments/reason_before"]) > -100.0
    assert tags["segments/reason_threshold"] == "10"
    # One detection: the KPI-drop sensor launched one run, everything else was skipped.
    launches = [(sensor, run) for _, sensor, decision, run in timeline if decision == "run"]
    assert launches == [
        ("new_data_sensor", new_data.run_id),
        ("kpi_monitor_sensor", monitor.run_id),
        ("kpi_drop_sensor", drop.run_id),
    ]

    # The reason reached the serving file, the report's header and the alerts table.
    with duckdb.connect(str(state / "serving" / "segments.duckdb"), read_only=True) as con:
        info = con.execute(
            "select trigger, reason_metric, reason_segment, reason_after, reason_threshold"
            " from refresh_info"
        ).fetchone()
    assert info == ("kpi_drop", "nps", "All", pytest.approx(-100.0), 10.0)
    header = (state / "reports" / "latest.html").read_text(encoding="utf-8")
    assert 'data-trigger="kpi_drop"' in header
    triggers = {a["trigger_kind"]: a for a in read_alerts(state) if a["alert_kind"] == "trigger"}
    assert set(triggers) == {"new_data", "kpi_monitor", "kpi_drop"}
    assert triggers["kpi_drop"]["reason_after"] == pytest.approx(-100.0)
