"""The refresh schedule: cadence 3..6 months, tick dates, timezone, run config and tags."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

# The daemon's own cron iterator (private API): ticks are computed exactly as in production.
from dagster._utils.schedules import cron_string_iterator

from pipeline.automation.schedules import build_refresh_schedule, is_refresh_month
from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.lib.settings import SettingsError, load_settings
from pipeline.serving.options import ServingOptions

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(autouse=True)
def _dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()


def _resources(tmp_path: Path) -> dict[str, object]:
    return {
        "settings": RefreshSettings(state_dir=str(tmp_path / "state")),
        "warehouse": Warehouse(path=str(tmp_path / "wh.duckdb")),
        "serving": ServingOptions(),
    }


def _ticks(schedule: dg.ScheduleDefinition, start: dt.datetime, count: int) -> list[dt.datetime]:
    iterator = cron_string_iterator(
        start.timestamp(), schedule.cron_schedule, schedule.execution_timezone
    )
    return [next(iterator) for _ in range(count)]


def _fired_dates(schedule, tmp_path: Path, start: dt.datetime, ticks: int) -> list[dt.date]:
    """Dates of the ticks that produce a run request (skips filtered out)."""
    fired = []
    for tick in _ticks(schedule, start, ticks):
        with dg.build_schedule_context(
            scheduled_execution_time=tick, resources=_resources(tmp_path)
        ) as context:
            result = schedule.evaluate_tick(context)
        if result.run_requests:
            fired.append(tick.date())
    return fired


@pytest.mark.parametrize(
    ("cadence", "expected_months"),
    [(3, [1, 4, 7, 10, 1, 4, 7, 10]), (4, [1, 5, 9, 1, 5, 9]), (6, [1, 7, 1, 7])],
)
def test_ticks_fall_on_the_first_of_the_cadence_months(
    tmp_path: Path, cadence: int, expected_months: list[int]
) -> None:
    schedule = build_refresh_schedule(cadence, "Europe/Paris")
    start = dt.datetime(2025, 1, 1, 0, 0, tzinfo=PARIS)
    fired = _fired_dates(schedule, tmp_path, start, len(expected_months))
    assert [d.month for d in fired] == expected_months
    assert all(d.day == 1 for d in fired)
    assert fired[0] == dt.date(2025, 1, 1)
    for tick in _ticks(schedule, start, 3):
        assert (tick.hour, tick.minute) == (6, 0)
        assert tick.utcoffset() == tick.astimezone(PARIS).utcoffset()


def test_five_month_cadence_skips_the_months_in_between(tmp_path: Path) -> None:
    schedule = build_refresh_schedule(5, "Europe/Paris")
    fired = _fired_dates(schedule, tmp_path, dt.datetime(2025, 1, 1, tzinfo=PARIS), 24)
    assert fired == [
        dt.date(2025, 1, 1),
        dt.date(2025, 6, 1),
        dt.date(2025, 11, 1),
        dt.date(2026, 4, 1),
        dt.date(2026, 9, 1),
    ]
    assert all(is_refresh_month(d, 5) for d in fired)


def test_run_request_carries_the_tick_date_as_of_and_tags(tmp_path: Path) -> None:
    schedule = build_refresh_schedule(3, "Europe/Paris", hour=6)
    tick = dt.datetime(2025, 4, 1, 6, 0, tzinfo=PARIS)
    with dg.build_schedule_context(
        scheduled_execution_time=tick, resources=_resources(tmp_path)
    ) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    settings_config = request.run_config["resources"]["settings"]["config"]
    assert settings_config["refresh"]["as_of"] == "2025-04-01"
    # The deployment's resources carry over; only the as-of date is overridden.
    assert settings_config["paths"]["state_dir"] == str(tmp_path / "state")
    assert request.run_config["resources"]["warehouse"]["config"]["path"] == str(
        tmp_path / "wh.duckdb"
    )
    assert request.tags["segments/as_of"] == "2025-04-01"
    assert request.tags["segments/trigger"] == "schedule"
    assert request.tags["segments/reason"] == "scheduled refresh every 3 months"


def test_as_of_is_the_tick_date_in_the_schedule_timezone(tmp_path: Path) -> None:
    """06:00 on 1 Jan in Auckland is still 31 Dec in UTC: the as-of date is the local date."""
    schedule = build_refresh_schedule(3, "Pacific/Auckland")
    assert schedule.execution_timezone == "Pacific/Auckland"
    tick = dt.datetime(2025, 1, 1, 6, 0, tzinfo=ZoneInfo("Pacific/Auckland"))
    with dg.build_schedule_context(
        scheduled_execution_time=tick.astimezone(dt.UTC), resources=_resources(tmp_path)
    ) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.tags["segments/as_of"] == "2025-01-01"


@pytest.mark.parametrize("cadence", [2, 7, 0, 12])
def test_cadence_outside_three_to_six_months_is_rejected(cadence: int) -> None:
    with pytest.raises(ValueError, match="between 3 and 6"):
        build_refresh_schedule(cadence, "Europe/Paris")


def test_unknown_timezone_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown timezone"):
        build_refresh_schedule(3, "Mars/Olympus")


def test_automation_settings_are_validated(tmp_path: Path) -> None:
    good = tmp_path / "segments.yaml"
    good.write_text(
        "refresh:\n  timezone: Europe/Berlin\nautomation:\n  schedule:\n    cadence_months: 4\n"
    )
    settings = load_settings(good, env={}).settings
    assert settings.automation.schedule.cadence_months == 4
    assert settings.refresh.timezone == "Europe/Berlin"
    assert settings.automation.kpi_drop.watched_segments == ["Champions"]

    bad = tmp_path / "bad.yaml"
    bad.write_text("automation:\n  schedule:\n    cadence_months: 7\n")
    with pytest.raises(
        SettingsError, match="automation.schedule.cadence_months: .*between 3 and 6"
    ):
        load_settings(bad, env={})

    typo = tmp_path / "typo.yaml"
    typo.write_text("automation:\n  schedule:\n    cadance_months: 3\n")
    with pytest.raises(SettingsError, match="automation.schedule.cadance_months: unknown key"):
        load_settings(typo, env={})


def test_shipped_settings_load() -> None:
    settings = load_settings(env={}).settings
    assert settings.automation.schedule.cadence_months == 3
    assert settings.refresh.timezone == "Europe/Paris"
