"""The event sensors (new data, KPI monitoring and drops, business events) and the alerts table."""

from __future__ import annotations

import contextlib
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
from pipeline.automation.monitor import MonitorRow, evaluate_monitor
from pipeline.automation.sensors import (
    build_business_event_sensor,
    build_kpi_drop_sensor,
    build_kpi_monitor_sensor,
    build_new_data_sensor,
    build_refresh_failure_sensor,
)
from pipeline.automation.triggers import write_trigger_file
from pipeline.lib.fingerprint import RefreshFingerprint, RefreshRecord, file_sha256, write_record
from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.lib.settings import (
    BusinessEventsSection,
    KpiDropSection,
    KpiMonitorSection,
    NewDataSection,
    RunFailureSection,
)
from pipeline.serving.options import ServingOptions

PUBLISHED = "2026-10-01"


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
        "serving": ServingOptions(),
    }


def _evaluate(sensor, instance, resources, cursor):
    """One tick: (run requests, new cursor, skip message)."""
    # A context manager: the warehouse resource has a teardown (it gives back the writer lock of
    # a run), so Dagster sets resources up and tears them down around the tick.
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        data = sensor.evaluate_tick(context)
    return data.run_requests or [], data.cursor, data.skip_message


def _record(
    state: Path,
    landing: Path,
    as_of: str = PUBLISHED,
    recorded_at: str = "2026-12-01T00:00:00+00:00",
) -> None:
    """Record a successful refresh that read every file now in `landing`."""
    read = {
        p.relative_to(landing).as_posix(): file_sha256(p) for p in landing.rglob("*") if p.is_file()
    }
    write_record(
        state,
        RefreshRecord.of(
            RefreshFingerprint(landing=read, settings="s", inputs="i"),
            run_id="cli-run",
            as_of=as_of,
            trigger="cli",
            recorded_at=recorded_at,
        ),
    )


# --- New data -----------------------------------------------------------------------------------


def test_new_data_fires_once_for_content_the_last_refresh_did_not_read(
    instance, resources, paths
) -> None:
    sensor = build_new_data_sensor(NewDataSection(), settle_seconds=0)
    landing, state = paths["landing"], paths["state"]

    requests, cursor, skip = _evaluate(sensor, instance, resources, None)
    assert requests == [] and "nothing new" in skip

    # Files the ingest ignores (not an entity's file) never trigger.
    (landing / "notes.txt").write_text("not an export")
    (landing / "summary.csv").write_text("a,b\n1,2\n")
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []

    (landing / "orders_2025.csv").write_text("order_id,customer_id\n1,a\n")
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert len(requests) == 1
    [request] = requests
    assert request.tags["segments/trigger"] == "new_data"
    assert request.tags["segments/new_files"] == "orders_2025.csv"
    assert request.tags["segments/reason"] == "1 new or changed export(s): orders_2025.csv"
    config = request.run_config["resources"]["settings"]["config"]
    assert config["refresh"]["as_of"] == request.tags["segments/as_of"]
    assert config["paths"]["state_dir"] == str(state)
    # The request is in the alerts table, with its reason.
    [alert] = read_alerts(state)
    assert alert["alert_kind"] == "trigger" and alert["run_key"] == request.run_key
    assert alert["trigger_kind"] == "new_data" and "orders_2025.csv" in alert["reason"]

    # Requested already (the run may be queued, running or failed): not again, even renamed.
    requests, cursor, skip = _evaluate(sensor, instance, resources, cursor)
    assert requests == [] and "already requested" in skip
    os.utime(landing / "orders_2025.csv")
    (landing / "orders_2025.csv").rename(landing / "orders_2025b.csv")
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []

    # The refresh succeeded and recorded what it read: nothing new any more.
    _record(state, landing)
    requests, cursor, skip = _evaluate(sensor, instance, resources, cursor)
    assert requests == [] and "nothing new since the last successful refresh" in skip

    # Changed content and a new file in an entity folder: one run for the new content.
    (landing / "orders_2025b.csv").write_text("order_id,customer_id\n1,a\n2,b\n")
    (landing / "customers").mkdir()
    (landing / "customers" / "crm.csv.gz").write_bytes(b"\x1f\x8b fake")
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert len(requests) == 1
    assert requests[0].tags["segments/new_files"] == "customers/crm.csv.gz, orders_2025b.csv"


def test_new_data_at_daemon_start_after_a_cli_refresh_fires_nothing(
    instance, resources, paths
) -> None:
    """A fresh daemon (no cursor) compares with the CLI's record, not with an empty memory."""
    (paths["landing"] / "orders.csv").write_text("order_id\n1\n")
    (paths["landing"] / "nps_responses.csv").write_text("customer_id\nA\n")
    _record(paths["state"], paths["landing"])
    sensor = build_new_data_sensor(NewDataSection(), settle_seconds=0)
    requests, _, skip = _evaluate(sensor, instance, resources, None)
    assert requests == [] and "nothing new" in skip


def test_new_data_ignores_the_kpi_feeds(instance, resources, paths) -> None:
    """NPS answers and tickets go through the KPI monitor: alone, they refresh nothing."""
    (paths["landing"] / "orders.csv").write_text("order_id\n1\n")
    _record(paths["state"], paths["landing"])
    (paths["landing"] / "nps_responses_2026_11.csv").write_text("customer_id\nA\n")
    (paths["landing"] / "support_tickets").mkdir()
    (paths["landing"] / "support_tickets" / "t.csv").write_text("ticket_id\n1\n")
    sensor = build_new_data_sensor(NewDataSection(), settle_seconds=0)
    requests, _, _ = _evaluate(sensor, instance, resources, None)
    assert requests == []
    everything = build_new_data_sensor(
        NewDataSection(entities=["orders", "nps_responses"]), settle_seconds=0, name="all"
    )
    requests, _, _ = _evaluate(everything, instance, resources, None)
    assert [r.tags["segments/new_files"] for r in requests] == ["nps_responses_2026_11.csv"]


def test_new_data_waits_for_files_still_being_written(instance, resources, paths) -> None:
    sensor = build_new_data_sensor(NewDataSection(), settle_seconds=3600)
    (paths["landing"] / "orders.csv").write_text("order_id\n1\n")
    requests, cursor, skip = _evaluate(sensor, instance, resources, None)
    assert requests == [] and cursor is None
    assert "still being written" in skip


# --- KPI monitoring -----------------------------------------------------------------------------


def test_kpi_monitor_runs_once_per_new_kpi_feed_content(instance, resources, paths) -> None:
    sensor = build_kpi_monitor_sensor(KpiMonitorSection(), settle_seconds=0)
    landing = paths["landing"]
    (landing / "orders.csv").write_text("order_id\n1\n")
    (landing / "nps_responses.csv").write_text("customer_id,score\nA,9\n")
    requests, cursor, skip = _evaluate(sensor, instance, resources, None)
    assert requests == [] and "no successful refresh" in skip

    _record(paths["state"], landing)
    requests, cursor, skip = _evaluate(sensor, instance, resources, cursor)
    assert requests == [] and "no KPI feed content" in skip

    # New orders are the new-data sensor's business, new answers this one's.
    (landing / "orders_2.csv").write_text("order_id\n2\n")
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []
    (landing / "nps_responses_2026_11.csv").write_text("customer_id,score\nA,1\n")
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    [request] = requests
    assert request.job_name == "monitor_kpis"
    assert request.tags["segments/trigger"] == "kpi_monitor"
    assert request.run_config["ops"] == {
        "segment_monitoring_dbt_assets": {
            "config": {"published_as_of": PUBLISHED, "new_files": ["nps_responses_2026_11.csv"]}
        }
    }
    assert "serving" not in request.run_config["resources"]
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []


def _monitor_row(basis: str, segment: str = "All", **values) -> MonitorRow:
    base = {
        "monitor_id": "m1",
        "monitored_at": dt.datetime(2026, 12, 1, 6, 0),
        "published_as_of": dt.date(2026, 10, 1),
        "today_as_of": dt.date(2026, 12, 1),
        "basis": basis,
        "segment": segment,
        "customers": 1000,
        "churn_rate": 0.30,
        "nps_responses": 200,
        "nps": 40.0,
        "published_nps": 40.0,
        "published_churn_rate": 0.30,
    }
    return MonitorRow(**(base | values))


def test_evaluate_monitor_compares_like_with_like() -> None:
    config = KpiDropSection(nps_drop_points=10, min_new_answers=30, churn_rate_rise=0.05)
    steady = [
        _monitor_row("published"),
        _monitor_row("since_published", nps=38.0, nps_responses=80, customers=None),
        # Two months later churn is 36%: only because the date moved. Not compared.
        _monitor_row("today", churn_rate=0.36, nps=39.0),
    ]
    assert evaluate_monitor(steady, config) == []

    fall = [steady[0], _monitor_row("since_published", nps=12.5, nps_responses=41), steady[2]]
    [move] = evaluate_monitor(fall, config)
    assert (move.segment, move.metric, move.before, move.after) == ("All", "nps", 40.0, 12.5)
    assert move.describe() == (
        "All nps 40 -> 12.5 (41 answers received since the refresh as of 2026-10-01; threshold 10)"
    )
    # Too few new answers: noise, not a drop.
    few = [steady[0], _monitor_row("since_published", nps=-50.0, nps_responses=29), steady[2]]
    assert evaluate_monitor(few, config) == []

    # Churn at the published date rises on today's data (late cancellations): a drop.
    late = [_monitor_row("published", churn_rate=0.36), *steady[1:]]
    [move] = evaluate_monitor(late, config)
    assert (move.metric, move.before, move.after) == ("churn_rate", 0.30, 0.36)

    # Unwatched segments are not compared; watched ones are.
    champions = [
        *steady,
        _monitor_row("published", "Champions", published_nps=70.0),
        _monitor_row("since_published", "Champions", nps=50.0, nps_responses=35),
    ]
    assert [m.segment for m in evaluate_monitor(champions, config)] == ["Champions"]
    unwatched = KpiDropSection(watched_segments=[])
    assert evaluate_monitor(champions, unwatched) == []


def _write_monitor(path: Path, rows: list[MonitorRow]) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists monitoring")
        con.execute(
            "create table if not exists monitoring.kpi_monitor (monitor_id varchar,"
            " monitored_at timestamp, published_as_of date, today_as_of date, basis varchar,"
            " segment varchar, customers integer, churn_rate double, nps_responses integer,"
            " nps double, published_nps double, published_churn_rate double)"
        )
        for r in rows:
            con.execute(
                "insert into monitoring.kpi_monitor values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    r.monitor_id, r.monitored_at, r.published_as_of, r.today_as_of, r.basis,
                    r.segment, r.customers, r.churn_rate, r.nps_responses, r.nps,
                    r.published_nps, r.published_churn_rate,
                ],
            )  # fmt: skip
    finally:
        con.close()


def test_kpi_drop_fires_once_per_monitoring_run(instance, resources, paths) -> None:
    sensor = build_kpi_drop_sensor(KpiDropSection())
    wh, state = paths["warehouse"], paths["state"]
    requests, cursor, skip = _evaluate(sensor, instance, resources, None)
    assert requests == [] and "no successful refresh" in skip
    _record(state, paths["landing"])
    requests, cursor, skip = _evaluate(sensor, instance, resources, cursor)
    assert requests == [] and "no warehouse" in skip

    # A steady monitoring run: evaluated, no run.
    steady = [_monitor_row("published"), _monitor_row("since_published", nps=39.0)]
    _write_monitor(wh, steady)
    requests, cursor, skip = _evaluate(sensor, instance, resources, cursor)
    assert requests == [] and "no KPI moved" in skip

    # A monitoring run seeing the new answers fall: exactly one refresh, tagged with the move.
    later = {"monitor_id": "m2", "monitored_at": dt.datetime(2026, 12, 2, 6, 0)}
    fall = [
        _monitor_row("published", **later),
        _monitor_row("since_published", **later, nps=12.5, nps_responses=41),
    ]
    _write_monitor(wh, fall)
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    [request] = requests
    assert request.run_key == "kpi_drop:m2"
    tags = request.tags
    assert tags["segments/trigger"] == "kpi_drop"
    assert (tags["segments/reason_metric"], tags["segments/reason_segment"]) == ("nps", "All")
    assert (tags["segments/reason_before"], tags["segments/reason_after"]) == ("40", "12.5")
    assert tags["segments/reason_threshold"] == "10"
    assert tags["segments/reason"].startswith("KPI drop: All nps 40 -> 12.5")
    [alert] = [a for a in read_alerts(state) if a["trigger_kind"] == "kpi_drop"]
    assert (alert["reason_before"], alert["reason_after"], alert["reason_threshold"]) == (
        40.0,
        12.5,
        10.0,
    )
    # The same monitoring run again: nothing.
    requests, cursor, skip = _evaluate(sensor, instance, resources, cursor)
    assert requests == [] and "already evaluated" in skip

    # That refresh succeeded: m2's figures compare with an older refresh, even one of the same
    # as-of date (a refresh recorded after the monitoring run).
    _record(state, paths["landing"], as_of="2026-12-02")
    requests, _, skip = _evaluate(sensor, instance, resources, None)
    assert requests == [] and "stale" in skip
    _record(state, paths["landing"], recorded_at="2026-12-03T00:00:00+00:00")
    requests, _, skip = _evaluate(sensor, instance, resources, None)
    assert requests == [] and "stale" in skip


@pytest.mark.integration
def test_kpi_drop_skips_while_a_run_holds_the_warehouse(instance, resources, paths) -> None:
    _record(paths["state"], paths["landing"])
    fall = [_monitor_row("published"), _monitor_row("since_published", nps=0.0)]
    _write_monitor(paths["warehouse"], fall)
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
        sensor = build_kpi_drop_sensor(KpiDropSection())
        requests, cursor, skip = _evaluate(sensor, instance, resources, None)
        assert requests == [] and cursor is None
        assert "warehouse busy" in skip
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # Once the writer is gone, the pending drop is seen.
    requests, _, _ = _evaluate(build_kpi_drop_sensor(KpiDropSection()), instance, resources, None)
    assert len(requests) == 1


# --- Business events ----------------------------------------------------------------------------


def test_trigger_files_fire_once_each(instance, resources, paths) -> None:
    sensor = build_business_event_sensor(BusinessEventsSection())
    state = paths["state"]
    first = write_trigger_file(state, "price_change", "Prices +5% on the catalogue")
    second = write_trigger_file(
        state,
        "competitor_launch",
        "Rival opens in Lyon",
        as_of=dt.date(2025, 3, 1),
        settings={"refresh.score_buckets": 3},
    )
    requests, cursor, _ = _evaluate(sensor, instance, resources, None)
    assert sorted(r.run_key for r in requests) == sorted(
        [f"business_event:{first.event_id}", f"business_event:{second.event_id}"]
    )
    by_kind = {r.tags["segments/event_kind"]: r for r in requests}
    assert by_kind["price_change"].tags["segments/event_note"] == "Prices +5% on the catalogue"
    assert by_kind["price_change"].tags["segments/trigger"] == "business_event"
    assert by_kind["competitor_launch"].tags["segments/as_of"] == "2025-03-01"
    launch = by_kind["competitor_launch"].run_config["resources"]["settings"]["config"]
    assert launch["refresh"]["as_of"] == "2025-03-01"
    # The event's own settings apply to its refresh only.
    assert launch["refresh"]["score_buckets"] == 3
    price = by_kind["price_change"].run_config["resources"]["settings"]["config"]
    assert price["refresh"]["score_buckets"] == 5

    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []

    # A hand-dropped file (id = file name) fires once; invalid ones fire nothing.
    folder = state / "triggers"
    (folder / "summer-offer.yml").write_text("kind: new_offer\nnote: Summer bundle\n")
    (folder / "typo.yaml").write_text("kind: price_cut\n")
    (folder / "bad-setting.yaml").write_text(
        "kind: other\nsettings:\n  refresh.score_buckets: 30\n"
    )
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert [r.tags["segments/event_id"] for r in requests] == ["summer-offer"]
    requests, cursor, _ = _evaluate(sensor, instance, resources, cursor)
    assert requests == []


def test_trigger_command_writes_an_event_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = CliRunner().invoke(
        trigger,
        [
            "--kind", "regulation", "--note", "New consent rules", "--state-dir", str(state),
            "--set", "refresh.churn_days=90",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [path] = list((state / "triggers").glob("*.yaml"))
    assert "regulation" in path.name and str(path) in result.output
    assert "refresh.churn_days: 90" in path.read_text()

    bad = CliRunner().invoke(trigger, ["--kind", "weather", "--note", "x"])
    assert bad.exit_code == 2 and "weather" in bad.output
    refused = CliRunner().invoke(
        trigger,
        ["--kind", "other", "--note", "x", "--state-dir", str(state), "--set", "refresh.nope=1"],
    )
    assert refused.exit_code == 2
    assert "settings: refresh.nope: unknown key (from --set)" in refused.output


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


@contextlib.contextmanager
def _failed_context(instance, resources, sensor_name: str):
    result = _failing_job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={
            "segments/as_of": "2025-04-01",
            "segments/trigger": "kpi_drop",
            "segments/reason": "KPI drop: All nps 40 -> 12",
            "segments/reason_metric": "nps",
            "segments/reason_before": "40",
            "segments/reason_after": "12",
            "segments/reason_threshold": "10",
        },
    )
    assert not result.success
    # Entered as a context manager: the warehouse resource has a teardown (see _evaluate).
    with dg.build_run_status_sensor_context(
        sensor_name=sensor_name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources=resources,
    ) as status:
        yield status.for_run_failure()


@pytest.mark.integration
def test_failed_refresh_is_recorded_with_its_reason_and_posted(instance, resources, paths) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        sensor = build_refresh_failure_sensor(
            RunFailureSection(webhook_url=url), monitored_jobs=[_failing_job]
        )
        with _failed_context(instance, resources, sensor.name) as context:
            sensor(context)
            sensor(context)  # the same failure delivered twice is recorded and posted once
    finally:
        server.shutdown()
    [alert] = read_alerts(paths["state"])
    assert alert["run_id"] == context.dagster_run.run_id and alert["alert_kind"] == "run_failed"
    assert alert["as_of"] == "2025-04-01" and alert["trigger_kind"] == "kpi_drop"
    assert (alert["reason_metric"], alert["reason_before"], alert["reason_after"]) == (
        "nps",
        40.0,
        12.0,
    )
    assert "warehouse on fire" in alert["failed_steps"]
    assert alert["webhook_status"] == "http 204"
    [payload] = _Recorder.received
    assert payload["event"] == "segments_refresh_failed"
    assert payload["run_id"] == alert["run_id"]
    assert payload["reason"] == "KPI drop: All nps 40 -> 12"


@pytest.mark.integration
def test_unreachable_webhook_is_logged_not_raised(instance, resources, paths) -> None:
    sensor = build_refresh_failure_sensor(
        RunFailureSection(webhook_url="http://127.0.0.1:9/nothing", webhook_timeout_seconds=2),
        monitored_jobs=[_failing_job],
    )
    with _failed_context(instance, resources, sensor.name) as context:
        sensor(context)
    [alert] = read_alerts(paths["state"])
    assert alert["webhook_status"].startswith("error: ")


def test_alerts_of_the_first_version_are_kept(tmp_path: Path) -> None:
    """An alerts file written before reasons existed is migrated, rows kept."""
    from pipeline.automation.alerts import record_trigger
    from pipeline.lib.reasons import RunReason

    con = duckdb.connect(str(tmp_path / "alerts.duckdb"))
    con.execute(
        "create table alerts (run_id varchar primary key, raised_at timestamp not null,"
        " job_name varchar not null, as_of varchar, trigger_kind varchar, message varchar,"
        " failed_steps varchar, webhook_status varchar)"
    )
    con.execute(
        "insert into alerts values ('r1', '2026-01-01', 'refresh_segments', '2026-01-01',"
        " 'schedule', 'boom', '[]', null)"
    )
    con.close()
    record_trigger(
        tmp_path, RunReason("schedule", "every 3 months"), run_key="k", job_name="j", as_of="x"
    )
    alerts = {a["alert_id"]: a for a in read_alerts(tmp_path)}
    assert alerts["r1"]["alert_kind"] == "run_failed" and alerts["r1"]["message"] == "boom"
    assert alerts["trigger:k"]["reason"] == "every 3 months"


def test_the_kpi_drop_sensor_never_opens_the_warehouse_while_a_run_holds_it(tmp_path: Path):
    """A reader process makes DuckDB refuse the writer: the sensor reads only when no run holds
    the writer lock (found by the daemon scenario: a sensor read between two steps of a refresh
    made its next step fail)."""
    from pipeline.automation.monitor import WarehouseUnavailable, read_latest_monitor

    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from pipeline.lib.writer_lock import acquire; "
            "acquire(Path(sys.argv[1]), 'run r1 of job refresh_segments'); "
            "print('held', flush=True); time.sleep(120)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseUnavailable, match="run r1 of job refresh_segments"):
            read_latest_monitor(Warehouse(path=str(warehouse)))
    finally:
        holder.kill()
        holder.wait()
    # Free again: the sensor reads (no monitoring run yet) and gives the lock back.
    assert read_latest_monitor(Warehouse(path=str(warehouse))) == []
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from pipeline.lib.writer_lock import acquire; "
            "acquire(Path(sys.argv[1]), 'next run', wait=False)",
            str(warehouse),
        ]
    )
    assert probe.returncode == 0
