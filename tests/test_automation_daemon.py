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
def test_daemon_turns_a_trigger_file_into_one_successful_run(tmp_path: Path) -> None:
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
    assert len(runs) == 1, daemon_log
    [run] = runs
    assert run.status == dg.DagsterRunStatus.SUCCESS, daemon_log
    assert run.tags["segments/event_id"] == event.event_id
    assert run.tags["segments/trigger"] == "business_event"
    assert run.tags["dagster/run_key"] == f"business_event:{event.event_id}"
    marker = state / "markers" / f"{run.run_id}.txt"
    assert marker.read_text().splitlines() == ["2025-04-01", "Prices +5%"]
