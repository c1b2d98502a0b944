"""The real `dagster-daemon`: a trigger file becomes exactly one successful run."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from pipeline.automation.triggers import write_trigger_file

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_SECONDS = 120


def _runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs())


@pytest.mark.slow
@pytest.mark.integration
def test_daemon_turns_each_trigger_file_into_one_run_and_queues_them_one_at_a_time(
    tmp_path: Path,
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    # The instance config that ships with the repository: queue of one run, pool of one.
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_file:\n"
        f"      relative_path: {REPO / 'tests' / 'automation_daemon_location.py'}\n"
        f"      working_directory: {REPO}\n"
        "      location_name: automation_test\n"
    )
    state = tmp_path / "state"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SEGMENTS_STATE_DIR": str(state),
        "SEGMENTS_WAREHOUSE": str(tmp_path / "wh.duckdb"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    event = write_trigger_file(state, "price_change", "Prices +5%", as_of=dt.date(2025, 4, 1))
    # A second event at the same time: the sensor requests both runs in one tick, and the
    # shipped instance config (`max_concurrent_runs: 1`) must run them one after the other.
    other = write_trigger_file(state, "new_offer", "Spring sale", as_of=dt.date(2025, 5, 1))
    # Create the instance's storage before the daemon starts: two processes initialising the
    # same fresh SQLite storage at once can both stamp its schema version (alembic "more than
    # one head"), a race of the test set-up, not of a deployed instance.
    assert _runs(home) == []

    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(workspace)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        runs: list[dg.DagsterRun] = []
        while time.monotonic() < deadline:
            runs = _runs(home)
            if runs and all(r.is_finished for r in runs):
                break
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(2)
        # A few more sensor ticks must not launch the same event again.
        time.sleep(6)
        runs = _runs(home)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=10)
        log.close()

    daemon_log = (tmp_path / "daemon.log").read_text()[-3000:]
    assert len(runs) == 2, daemon_log
    by_event = {run.tags["segments/event_id"]: run for run in runs}
    assert set(by_event) == {event.event_id, other.event_id}
    intervals = []
    expected = ((event, "2025-04-01", "Prices +5%"), (other, "2025-05-01", "Spring sale"))
    for trigger, as_of, note in expected:
        run = by_event[trigger.event_id]
        assert run.status == dg.DagsterRunStatus.SUCCESS, daemon_log
        assert run.tags["segments/trigger"] == "business_event"
        assert run.tags["dagster/run_key"] == f"business_event:{trigger.event_id}"
        lines = (state / "markers" / f"{run.run_id}.txt").read_text().splitlines()
        assert lines[:2] == [as_of, note]
        intervals.append((float(lines[2]), float(lines[3])))
    # The queue let one run through at a time: the second started after the first ended.
    first, second = sorted(intervals)
    assert second[0] >= first[1], intervals
