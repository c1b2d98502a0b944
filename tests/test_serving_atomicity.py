"""Atomic publication of the serving file: concurrent reader processes and a killed publisher."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serving_helpers import child_env, make_warehouse, served_refresh, serving_options

from pipeline.serving.exports import latest_refresh
from pipeline.serving.publish import publish_refresh, serving_path

pytestmark = [pytest.mark.integration]

HELPERS = Path(__file__).with_name("serving_helpers.py")
DAYS = [dt.date(2026, 8, 1), dt.date(2026, 9, 1), dt.date(2026, 10, 1)]


@pytest.fixture(autouse=True)
def _no_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGMENTS_PG_DSN", raising=False)


def _publish(tmp_path: Path, day: dt.date, run: str):
    make_warehouse(tmp_path / "warehouse.duckdb", day, customers=3000)
    return publish_refresh(
        warehouse_path=tmp_path / "warehouse.duckdb",
        state_dir=tmp_path / "state",
        as_of=day,
        run_id=run,
        options=serving_options(export_csv=False),
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited early: {proc.returncode} {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {path}")
        time.sleep(0.05)


def test_reader_processes_see_one_refresh_at_a_time(tmp_path: Path) -> None:
    _publish(tmp_path, DAYS[0], "run-0")
    served = serving_path(tmp_path / "state")
    stop = tmp_path / "stop"
    readers = {}
    for mode in ("persistent", "fresh"):
        out = tmp_path / f"{mode}.json"
        proc = subprocess.Popen(
            [sys.executable, str(HELPERS), "reader", str(served), str(out), str(stop), mode],
            env=child_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        readers[mode] = (proc, out)
    try:
        for proc, out in readers.values():
            _wait_for(Path(str(out) + ".ready"), proc)
        # Two publications while both processes keep querying the served file.
        for index, day in enumerate(DAYS[1:], start=1):
            result = _publish(tmp_path, day, f"run-{index}")
            assert result.refresh_id == day.isoformat()
            time.sleep(0.3)  # let the fresh reader open the new file a few times
    finally:
        stop.write_text("stop")
        for proc, _ in readers.values():
            proc.wait(timeout=60)
    observations = {}
    for mode, (proc, out) in readers.items():
        assert proc.returncode == 0, proc.stderr.read()
        observations[mode] = json.loads(out.read_text())
        assert len(observations[mode]) > 3
        for seen in observations[mode]:
            # One snapshot, one refresh: every table and customer_rfm.as_of agree with refresh_info.
            refresh_id = seen["refresh_id"]
            assert all(ids == [refresh_id] for ids in seen["tables"].values()), seen
            assert seen["rfm_as_of"] == [refresh_id]
            assert seen["counts_ok"]
    # An open connection keeps the refresh it opened (the old inode) ...
    assert {seen["refresh_id"] for seen in observations["persistent"]} == {"2026-08-01"}
    # ... new connections follow the publications and end on the newest one.
    fresh_ids = [seen["refresh_id"] for seen in observations["fresh"]]
    assert fresh_ids[0] == "2026-08-01" and fresh_ids[-1] == "2026-10-01"
    assert fresh_ids == sorted(fresh_ids)  # never goes back to an older refresh
    assert served_refresh(served) == "2026-10-01"


def test_killed_publication_leaves_previous_refresh_served(tmp_path: Path) -> None:
    _publish(tmp_path, DAYS[0], "run-0")
    state = tmp_path / "state"
    served = serving_path(state)
    make_warehouse(tmp_path / "warehouse.duckdb", DAYS[1], customers=3000)
    marker = tmp_path / "built"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HELPERS),
            "publish",
            str(tmp_path / "warehouse.duckdb"),
            str(state),
            DAYS[1].isoformat(),
            "run-killed",
            str(marker),
        ],
        env=child_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(marker, proc)  # the new file is complete, the swap has not happened
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    tmp_file = Path(marker.read_text())
    assert tmp_file.exists() and tmp_file.name == "segments.run-killed.tmp.duckdb"
    assert served_refresh(served) == "2026-08-01"
    assert latest_refresh(state / "exports") == "2026-08-01"
    assert any(p.name.startswith(".tmp-") for p in (state / "exports").iterdir())

    result = _publish(tmp_path, DAYS[2], "run-next")
    assert served_refresh(served) == "2026-10-01"
    assert latest_refresh(state / "exports") == "2026-10-01"
    assert "segments.run-killed.tmp.duckdb" in result.cleaned
    assert not tmp_file.exists()
    leftovers = [p.name for p in state.rglob("*") if ".tmp" in p.name or p.name.startswith(".tmp")]
    assert leftovers == []
