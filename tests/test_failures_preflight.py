"""Unit tests: pre-flight problems one line each, and root causes pulled out of Dagster errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from dagster._utils.error import serializable_error_info_from_exc_info

from pipeline.lib.failures import dbt_cause, one_line, root_cause
from pipeline.lib.resources import RefreshSettings, Warehouse, refresh_run_config
from pipeline.preflight import preflight


def _run_config(tmp_path: Path, serving: dict | None = None, values: dict | None = None) -> dict:
    """A sound run config, then `values` ({"section.key": value}) written into it unchecked,
    as a hand-edited run config (Dagster UI launchpad) would carry them."""
    landing = tmp_path / "landing"
    landing.mkdir(exist_ok=True)
    settings = RefreshSettings(
        landing_dir=str(landing), state_dir=str(tmp_path / "state"), as_of="2026-10-01"
    )
    config = refresh_run_config(settings, Warehouse(path=str(tmp_path / "wh" / "warehouse.duckdb")))
    for dotted, value in (values or {}).items():
        section, key = dotted.split(".")
        config["resources"]["settings"]["config"][section][key] = value
    default = {"pii_key": "a-long-enough-key"}
    config["resources"]["serving"] = {"config": default if serving is None else serving}
    return config


def test_a_sound_configuration_passes_and_creates_private_folders(tmp_path):
    report = preflight(_run_config(tmp_path))
    assert report.ok, report.problems
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "wh").stat().st_mode & 0o777 == 0o700


def test_refused_values_are_reported_one_line_each_naming_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SEGMENTS_PII_KEY", raising=False)
    config = _run_config(
        tmp_path,
        serving={},
        values={"refresh.score_method": "median", "refresh.timezone": "Mars/Olympus"},
    )
    problems = preflight(config).problems
    assert len(problems) == 3, problems
    assert problems[0].startswith("settings.refresh.timezone: ")  # in the model's key order
    assert "Mars/Olympus" in problems[0]
    assert problems[1].startswith("settings.refresh.score_method: ")
    assert problems[2].startswith("No PII key configured: set the environment variable")
    assert all("\n" not in p for p in problems)


def test_problems_of_valid_settings_are_reported_on_their_own_line(tmp_path, monkeypatch):
    monkeypatch.delenv("SEGMENTS_PII_KEY", raising=False)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("entities:\n  orders:\n    colour: blue\n")
    config = _run_config(
        tmp_path,
        serving={},
        values={
            "paths.mapping_file": str(mapping),
            "paths.state_dir": str(blocker / "state"),
            "quality.date_floor": "2027-01-01",
        },
    )
    problems = preflight(config).problems
    assert len(problems) == 4, problems
    assert problems[0].startswith("date_floor 2027-01-01 is after the as-of date 2026-10-01")
    assert problems[1].startswith(f"state directory {blocker / 'state'} cannot be created")
    assert problems[2].startswith("mapping file: ") and "colour" in problems[2]
    assert problems[3].startswith("No PII key configured: set the environment variable")
    assert all("\n" not in p for p in problems)


def test_short_keys_bad_thresholds_and_a_missing_landing_are_refused(tmp_path):
    config = _run_config(
        tmp_path, serving={"pii_key": "short"}, values={"quality.max_history_loss": 2.0}
    )
    config["resources"]["settings"]["config"]["paths"]["landing_dir"] = str(tmp_path / "nowhere")
    problems = preflight(config).problems
    assert problems[0].startswith("settings.quality.max_history_loss: ")
    assert problems[1] == "The PII key is too short (5 characters, need 12+)."
    assert len(problems) == 2  # the landing is checked once the settings are valid
    config["resources"]["settings"]["config"]["quality"]["max_history_loss"] = 0.01
    problems = preflight(config).problems
    assert problems[0] == f"landing folder {tmp_path / 'nowhere'} does not exist"


def test_a_dev_key_needs_no_configured_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SEGMENTS_PII_KEY", raising=False)
    assert preflight(_run_config(tmp_path, serving={"generate_dev_pii_key": True})).ok


# As dagster-dbt reports a failed `dbt build` (dbt 1.11): a header per failed node, then the
# node's error as a separate message, with the SQL context.
DBT_FAILURE = (
    "The dbt CLI process with command\n\n`dbt build --vars {...}`\n\nfailed with exit code `1`."
    " Check the stdout in the Dagster compute logs for the full information about the error, or "
    "view the dbt debug log: /x/target/dbt.log.\n\nErrors parsed from dbt logs:\n\n"
    "50 of 113 ERROR creating sql table model intermediate.int_customers__rfm_values  "
    "[\x1b[31mERROR\x1b[0m in 0.40s]\n\n"
    "\x1b[31mFailure in model int_customers__rfm_values "
    "(models/intermediate/int_customers__rfm_values.sql)\x1b[0m\n\n"
    "  Runtime Error in model int_customers__rfm_values "
    "(models/intermediate/int_customers__rfm_values.sql)\n"
    '  Conversion Error: Casting value "12000000000000410.10" to type DECIMAL(18,2) failed: '
    "value is out of range! when casting from source column gross_amount\n  \n"
    "  LINE 69:         cast(window_order_totals.gross_amount as decimal(18, 2)...\n"
    "                   ^\n"
)


def test_a_dbt_failure_becomes_the_node_and_its_error():
    assert dbt_cause(DBT_FAILURE) == (
        "dbt Runtime Error in model int_customers__rfm_values "
        "(models/intermediate/int_customers__rfm_values.sql): Conversion Error: Casting value "
        '"12000000000000410.10" to type DECIMAL(18,2) failed: value is out of range! when '
        "casting from source column gross_amount"
    )
    assert dbt_cause("some other error") is None


def test_the_root_cause_is_the_innermost_error_without_its_module_path():
    from pipeline.ingest.extract import MissingColumnError

    try:
        try:
            raise MissingColumnError("orders.csv: required column 'amount' is missing")
        except MissingColumnError as inner:
            raise RuntimeError('Error occurred while executing op "extract_landing"') from inner
    except RuntimeError:
        error = serializable_error_info_from_exc_info(sys.exc_info())
    assert (
        root_cause(error) == "MissingColumnError: orders.csv: required column 'amount' is missing"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a\n  b\x1b[31m c\x1b[0m", "a b c"), ("x" * 600, "x" * 497 + "...")],
)
def test_one_line_flattens_and_cuts(text, expected):
    assert one_line(text) == expected
