"""Two refreshes launched together on one warehouse: one writer at a time, nobody fails half-way.

Three real `segments refresh` processes on a copy of the demo refresh: the first holds the
warehouse's writer lock; a second with `--no-wait` stops at once (exit code 4) naming the holder;
a third waits, says so, and starts once the first is done, finding nothing changed. The run queue
of the daemon (one run at a time) is tested in tests/test_automation_daemon.py.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import DEMO_AS_OF
from refresh_workspace import published, workspace

from pipeline.lib.writer_lock import holder_of, lock_path_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _start(ws: dict[str, Path], *extra: str) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "pipeline.cli", "refresh",
        "--landing", str(ws["landing"]),
        "--as-of", DEMO_AS_OF.isoformat(),
        "--warehouse", str(ws["warehouse"]),
        "--state-dir", str(ws["state"]),
        *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy()
    )


def _is_locked(lock: Path) -> bool:
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_second_refresh_waits_for_the_first_or_stops_with_no_wait(refreshed, tmp_path):
    ws = workspace(refreshed, tmp_path)
    lock = lock_path_for(ws["warehouse"])
    first = _start(ws, "--force")
    deadline = time.monotonic() + 120
    while not (lock.exists() and f"pid {first.pid}," in holder_of(lock)):
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "the first refresh never took the writer lock"
        time.sleep(0.2)

    refused = _start(ws, "--no-wait")
    waiting = _start(ws)
    refused_output, _ = refused.communicate(timeout=120)
    assert refused.returncode == 4, refused_output
    assert first.poll() is None, "the first refresh ended before the second was refused"
    last = [line.strip() for line in refused_output.strip().splitlines()][-3:]
    assert last[0].startswith("refresh NOT STARTED: another run writes the warehouse")
    assert last[1] == "step:  writer lock"
    assert f"held by pid {first.pid}, segments refresh as of {DEMO_AS_OF}" in last[2]

    first_output, _ = first.communicate(timeout=900)
    assert first.returncode == 0, first_output
    waited_output, _ = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, waited_output
    assert f"waiting: another run writes {ws['warehouse']} (pid {first.pid}," in waited_output
    # It started after the first ended, and saw its result: nothing left to do.
    assert "nothing changed since the refresh as of 2026-10-01" in waited_output
    assert not _is_locked(lock)
    with duckdb.connect(str(ws["warehouse"]), read_only=True) as con:
        (runs,) = con.execute(
            "select count(distinct as_of) from history.segment_history"
        ).fetchone()
    assert runs == 1
    assert published(ws)  # the serving file, exports and report are all there and readable
