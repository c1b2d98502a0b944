"""The event sensors (KPI drop, new data, business events) and the run-failure alerts."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner

from pipeline.automation.alerts import read_alerts
from pipeline.automation.cli import trigger
from pipeline.automation.config import (
    BusinessEventsConfig,
    KpiDropConfig,
    NewDataConfig,
    RunFailureConfig,
)
from pipeline.automation.sensors import (
    build_business_event_sensor,
    build_kpi_drop_sensor,
    build_new_data_sensor,
    build_refresh_failure_sensor,
)
from pipeline.automation.triggers import write_trigger_file
from pipeline.lib.resources import RefreshSettings, Warehouse


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        yield inst


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    landing = tmp_path / "landing"
    landing.mkdir()
    return {"warehouse": tmp_path / "wh.duckdb", "state": tmp_path / "state", "landing": landing}


@pytest.fixture
def resources(paths: dict[str, Path]) -> dict[str, object]:
    return {
        "settings": RefreshSettings(
            state_dir=str(paths["state"]), landing_dir=str(paths["landing"])
        ),
        "warehouse": Warehouse(path=str(paths["warehouse"])),
    }


def _evaluate(sensor, instance, resources, cursor):
    """One tick: (run requests, new cursor, skip message)."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    data = sensor.evaluate_tick(context)
    return data.run_requests or [], data.cursor, data.skip_message


# --- KPI drop -----------------------------------------------------------------------------------


def _add_refresh(path: Path, as_of: str, kpis: dict[str, tuple[float | None, float]]) -> None:
    """Append one refresh's rows to history.kpi_history (segment -> (nps, churn_rate))."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists history")
        con.execute(
            "create table if not exists history.kpi_history (as_of date, segment varchar,"
            " customers integer, nps double, churn_rate double)"
        )
        for segment, (nps, churn) in kpis.items():
            con.execute(
                "insert into history.kpi_history values (?, ?, 100, ?, ?)",
                [as_of, segment, nps, churn],
            )
    finally:
        con.close()


STEADY = {"All": (40.0, 0.10), "Champions": (70.0, 0.02), "Hibernating": (5.0, 0.60)}


def test_kpi_drop_fires_once_per_drop(instance, resources, paths) -> None:
    sensor = build_kpi_drop_sensor(KpiDropConfig(nps_drop_points=10, churn_rate_rise=0.05))
    wh = paths["warehouse"]

    # No warehouse yet, then a single refresh: nothing to compare.
    requests, cursor, skip = _evaluate(sensor, instance, resources, None)
    assert not requests and "no warehouse" in skip
    _add_refresh(wh, "2025-01-01", STEADY)
    requests, cursor, skip = _evaluate(sensor, instance, resources, cursor)
    assert not requests and "needs 2 refreshes" in skip

    # A stable second refresh: evaluated, no run.
    _add_refresh(wh, "2025-04-01", STEADY)
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []
    assert json.loads(cursor)["pair"] == "2025-01-01..2025-04-01"

    # Overall NPS drops 12 points: exactly one run, tagged with what moved.
    _add_refresh(wh, "2025-07-01", {**STEADY, "All": (28.0, 0.10)})
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert len(requests) == 1
    tags = requests[0].tags
    assert tags["segments/trigger"] == "kpi_drop"
    assert tags["segments/kpi"] == "nps"
    assert tags["segments/kpi_segments"] == "All"
    assert tags["segments/kpi_change"] == "All nps 40 -> 28"
    assert tags["segments/kpi_compared"] == "2025-04-01..2025-07-01"
    assert requests[0].run_key == "kpi_drop:2025-04-01..2025-07-01"
    settings_cfg = requests[0].run_config["resources"]["settings"]["config"]
    assert settings_cfg["as_of"] == tags["segments/as_of"]
    assert settings_cfg["state_dir"] == str(paths["state"])

    # The same drop evaluated again: no run.
    requests, cursor, skip = _evaluate(sensor, instance, resources, cursor)
    assert requests == [] and "already evaluated" in skip

    # Recovery: no run. Then a new drop (churn up in Champions): one run.
    _add_refresh(wh, "2025-10-01", STEADY)
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []
    _add_refresh(wh, "2026-01-01", {**STEADY, "Champions": (70.0, 0.09)})
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert len(requests) == 1
    assert requests[0].tags["segments/kpi"] == "churn_rate"
    assert requests[0].tags["segments/kpi_change"] == "Champions churn_rate 0.02 -> 0.09"
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []


def test_kpi_drop_ignores_unwatched_segments_and_small_moves(instance, resources, paths) -> None:
    sensor = build_kpi_drop_sensor(KpiDropConfig(nps_drop_points=10, churn_rate_rise=0.05))
    _add_refresh(paths["warehouse"], "2025-01-01", STEADY)
    # Hibernating collapses (not watched); All moves by less than the thresholds.
    _add_refresh(
        paths["warehouse"],
        "2025-04-01",
        {"All": (31.0, 0.149), "Champions": (70.0, 0.02), "Hibernating": (-50.0, 0.95)},
    )
    requests, _, _ = _evaluate(sensor, instance, resources, None)
    assert requests == []

    watched = build_kpi_drop_sensor(
        KpiDropConfig(watched_segments=["Champions", "Hibernating"]), name="kpi_watch_all"
    )
    requests, _, _ = _evaluate(watched, instance, resources, None)
    assert len(requests) == 1
    assert requests[0].tags["segments/kpi_segments"] == "Hibernating"
    assert requests[0].tags["segments/kpi"] == "churn_rate,nps"


def test_kpi_drop_rolling_window_compares_means(instance, resources, paths) -> None:
    sensor = build_kpi_drop_sensor(KpiDropConfig(window_refreshes=2, nps_drop_points=10))
    for as_of, nps in [("2025-01-01", 40.0), ("2025-04-01", 40.0), ("2025-07-01", 36.0)]:
        _add_refresh(paths["warehouse"], as_of, {"All": (nps, 0.1)})
    requests, cursor, _ = _evaluate(sensor, instance, resources, None)
    assert requests == []  # 3 refreshes: 2 windows of 2 need 4
    _add_refresh(paths["warehouse"], "2025-10-01", {"All": (20.0, 0.1)})
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    # mean(40, 40) = 40 -> mean(36, 20) = 28: a 12-point drop.
    assert [r.tags["segments/kpi_change"] for r in requests] == ["All nps 40 -> 28"]


def test_kpi_drop_skips_while_a_refresh_holds_the_warehouse(instance, resources, paths) -> None:
    _add_refresh(paths["warehouse"], "2025-01-01", STEADY)
    _add_refresh(paths["warehouse"], "2025-04-01", {**STEADY, "All": (10.0, 0.1)})
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys, time
                con = duckdb.connect({str(paths["warehouse"])!r})
                print("locked", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        sensor = build_kpi_drop_sensor(KpiDropConfig())
        requests, cursor, skip = _evaluate(sensor, instance, resources, None)
        assert requests == [] and cursor is None
        assert "warehouse busy" in skip
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # Once the writer is gone, the pending drop is seen.
    requests, _, _ = _evaluate(build_kpi_drop_sensor(KpiDropConfig()), instance, resources, None)
    assert len(requests) == 1


# --- New data -----------------------------------------------------------------------------------


def test_new_data_fires_once_per_new_checksum(instance, resources, paths) -> None:
    sensor = build_new_data_sensor(NewDataConfig(settle_seconds=0))
    landing = paths["landing"]

    requests, cursor, _ = _evaluate(sensor, instance, resources, None)
    assert requests == []

    (landing / "orders_2025.csv").write_text("order_id,customer_id\n1,a\n")
    (landing / "notes.txt").write_text("not an export")
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert len(requests) == 1
    first_key = requests[0].run_key
    assert requests[0].tags["segments/trigger"] == "new_data"
    assert requests[0].tags["segments/new_files"] == "orders_2025.csv"

    # Same content: nothing, even after a touch or a rename.
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []
    os.utime(landing / "orders_2025.csv")
    (landing / "orders_2025.csv").rename(landing / "orders_2025b.csv")
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []

    # Changed content and a new file in an entity folder: one run for the new state.
    (landing / "orders_2025b.csv").write_text("order_id,customer_id\n1,a\n2,b\n")
    (landing / "customers").mkdir()
    (landing / "customers" / "crm.csv.gz").write_bytes(b"\x1f\x8b fake")
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert len(requests) == 1
    assert requests[0].run_key != first_key
    assert requests[0].tags["segments/new_files"] == "customers/crm.csv.gz, orders_2025b.csv"
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []


def test_new_data_waits_for_files_still_being_written(instance, resources, paths) -> None:
    sensor = build_new_data_sensor(NewDataConfig(settle_seconds=3600))
    (paths["landing"] / "orders.csv").write_text("order_id\n1\n")
    requests, cursor, skip = _evaluate(sensor, instance, resources, None)
    assert requests == [] and cursor is None
    assert "still being written" in skip


# --- Business events ----------------------------------------------------------------------------


def test_trigger_files_fire_once_each(instance, resources, paths) -> None:
    sensor = build_business_event_sensor(BusinessEventsConfig())
    state = paths["state"]
    first = write_trigger_file(state, "price_change", "Prices +5% on the catalogue")
    second = write_trigger_file(
        state, "competitor_launch", "Rival opens in Lyon", as_of=dt.date(2025, 3, 1)
    )
    requests, cursor, _ = _evaluate(sensor, instance, resources, None)
    assert sorted(r.run_key for r in requests) == sorted(
        [f"business_event:{first.event_id}", f"business_event:{second.event_id}"]
    )
    by_kind = {r.tags["segments/event_kind"]: r for r in requests}
    assert by_kind["price_change"].tags["segments/event_note"] == "Prices +5% on the catalogue"
    assert by_kind["price_change"].tags["segments/trigger"] == "business_event"
    assert by_kind["competitor_launch"].tags["segments/as_of"] == "2025-03-01"
    assert (
        by_kind["competitor_launch"].run_config["resources"]["settings"]["config"]["as_of"]
        == "2025-03-01"
    )

    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []

    # A hand-dropped file (id = file name) fires once; an invalid one fires nothing.
    folder = state / "triggers"
    (folder / "summer-offer.yml").write_text("kind: new_offer\nnote: Summer bundle\n")
    (folder / "typo.yaml").write_text("kind: price_cut\n")
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert [r.tags["segments/event_id"] for r in requests] == ["summer-offer"]
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []


def test_trigger_command_writes_an_event_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = CliRunner().invoke(
        trigger,
        ["--kind", "regulation", "--note", "New consent rules", "--state-dir", str(state)],
    )
    assert result.exit_code == 0, result.output
    [path] = list((state / "triggers").glob("*.yaml"))
    assert "regulation" in path.name and str(path) in result.output

    bad = CliRunner().invoke(trigger, ["--kind", "weather", "--note", "x"])
    assert bad.exit_code == 2 and "weather" in bad.output


# --- Run failure --------------------------------------------------------------------------------


@dg.op
def _explode() -> None:
    raise RuntimeError("warehouse on fire")


@dg.job(name="refresh_segments_standin", tags={})
def _failing_job() -> None:
    _explode()


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Recorder.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _failed_context(instance, resources, sensor_name: str):
    result = _failing_job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={"segments/as_of": "2025-04-01", "segments/trigger": "schedule"},
    )
    assert not result.success
    return dg.build_run_status_sensor_context(
        sensor_name=sensor_name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources=resources,
    ).for_run_failure()


def test_failed_refresh_is_recorded_and_posted(instance, resources, paths) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        sensor = build_refresh_failure_sensor(
            RunFailureConfig(webhook_url=url), monitored_jobs=[_failing_job]
        )
        context = _failed_context(instance, resources, sensor.name)
        sensor(context)
        sensor(context)  # the same failure delivered twice is recorded and posted once
    finally:
        server.shutdown()
    [alert] = read_alerts(paths["state"])
    assert alert["run_id"] == context.dagster_run.run_id
    assert alert["as_of"] == "2025-04-01" and alert["trigger_kind"] == "schedule"
    assert "warehouse on fire" in alert["failed_steps"]
    assert alert["webhook_status"] == "http 204"
    [payload] = _Recorder.received
    assert payload["event"] == "segments_refresh_failed"
    assert payload["run_id"] == alert["run_id"]


def test_unreachable_webhook_is_logged_not_raised(instance, resources, paths) -> None:
    sensor = build_refresh_failure_sensor(
        RunFailureConfig(webhook_url="http://127.0.0.1:9/nothing", webhook_timeout_seconds=2),
        monitored_jobs=[_failing_job],
    )
    context = _failed_context(instance, resources, sensor.name)
    sensor(context)
    [alert] = read_alerts(paths["state"])
    assert alert["webhook_status"].startswith("error: ")
