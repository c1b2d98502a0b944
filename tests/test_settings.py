"""One settings file: every key documented, at its default, reaching its consumer; bad values
refused in one line naming the key; `segments config show` says where each value came from."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipeline.automation.record import run_config_fingerprint
from pipeline.cli import cli
from pipeline.lib.paths import DBT_PROJECT_DIR, DEFAULT_SETTINGS_FILE, REPO_ROOT
from pipeline.lib.resources import RefreshSettings, refresh_run_config
from pipeline.lib.settings import (
    SegmentsSettings,
    SettingsError,
    iter_fields,
    load_settings,
    render_defaults,
)
from pipeline.quality.checks import gate_parameters

KEYS = [key for key, _ in iter_fields()]


def _python_sources(folder: Path) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*.py"))
        if p.name != "settings.py" or p.parent.name != "lib"
    )


PIPELINE_CODE = _python_sources(REPO_ROOT / "pipeline")
DBT_CODE = "\n".join(
    p.read_text(encoding="utf-8")
    for folder in ("models", "macros")
    for p in sorted((DBT_PROJECT_DIR / folder).rglob("*.sql"))
)
SUITES = "\n".join(p.read_text(encoding="utf-8") for p in (REPO_ROOT / "expectations").glob("*"))


# --- the file ---------------------------------------------------------------------------------


def test_the_shipped_file_holds_every_key_at_its_default_with_its_comment() -> None:
    assert DEFAULT_SETTINGS_FILE.read_text(encoding="utf-8") == render_defaults(), (
        "config/segments.yaml is out of date: `segments config defaults > config/segments.yaml`"
    )
    data = yaml.safe_load(DEFAULT_SETTINGS_FILE.read_text(encoding="utf-8"))
    assert SegmentsSettings.model_validate(data) == SegmentsSettings()
    # Every key is in the file (not only valid because of the defaults).
    flat = set()

    def walk(node: dict, prefix: str = "") -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat.add(f"{prefix}{key}")

    walk(data)
    assert flat == set(KEYS)


@pytest.mark.parametrize("key", KEYS)
def test_every_key_is_documented(key: str) -> None:
    info = dict(iter_fields())[key]
    assert (info.description or "").strip(), key
    assert f"`{key}`" in (REPO_ROOT / "docs" / "settings.md").read_text(encoding="utf-8"), key


@pytest.mark.parametrize("key", KEYS)
def test_every_key_has_a_consumer(key: str) -> None:
    """The code reads each key: a dbt var used in SQL, a gate parameter used by a suite, or an
    attribute read in the pipeline's Python (a key nobody reads is a lie in the file)."""
    info = dict(iter_fields())[key]
    extra = info.json_schema_extra or {}
    section, *_, name = key.split(".")
    found = []
    if extra.get("dbt_var"):
        var = extra["dbt_var"]
        found.append(re.search(rf"var\(['\"]{var}['\"]", DBT_CODE))
    if extra.get("gate"):
        found.append(re.search(rf"\$(PARAMETER: )?{name}\b", SUITES))
    if section in ("warehouse", "serving"):
        # Their resources inherit the section: `options.csv_delimiter`, `self.memory_limit`.
        found.append(re.search(rf"\.{name}\b", PIPELINE_CODE))
    elif section == "automation":
        parent = key.split(".")[-2]
        found.append(re.search(rf"(config|\.{parent})\.{name}\b", PIPELINE_CODE))
    else:
        found.append(re.search(rf"\.{section}\.{name}\b", PIPELINE_CODE))
    assert any(found), f"{key}: no consumer reads it"


def test_dbt_project_defaults_equal_the_settings_defaults() -> None:
    """dbt_project.yml keeps defaults for people running dbt by hand: the same as the model's."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    defaults = RefreshSettings().dbt_vars()
    defaults["as_of"] = ""  # "" = today, resolved per run by Dagster and by the as_of_date macro
    assert project["vars"] == defaults


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("marketing.attribution_window_days", 7),
        ("marketing.star_min_customers", 3),
        ("marketing.persona_min_customers", 5),
        ("marketing.priority_impact_weight", 0.25),
        ("refresh.nps_min_responses", 50),
    ],
)
def test_a_marketing_mart_setting_reaches_dbt_under_its_var_name(key: str, value: object) -> None:
    """The settings of the marketing marts (issue 17) travel in the `settings` resource's run
    config and reach dbt as the var of the same name."""
    effective = SegmentsSettings().with_values({key: value})
    config = effective.run_config(as_of="2026-10-01")["resources"]["settings"]["config"]
    assert RefreshSettings(**config).dbt_vars()[key.split(".")[-1]] == value


# --- sources and their order ------------------------------------------------------------------


def test_values_come_from_default_file_env_and_set_in_that_order(tmp_path: Path) -> None:
    file = tmp_path / "mine.yaml"
    file.write_text("refresh:\n  churn_days: 90\n  score_buckets: 4\npaths:\n  state_dir: s1\n")
    loaded = load_settings(
        file,
        ["refresh.score_buckets=3", "automation.kpi_drop.watched_segments=[Champions, Loyal]"],
        env={"SEGMENTS_STATE_DIR": "s2", "SEGMENTS_WAREHOUSE": "w.duckdb"},
    )
    s = loaded.settings
    assert (s.refresh.churn_days, s.refresh.score_buckets) == (90, 3)
    assert (s.paths.state_dir, s.warehouse.path) == ("s2", "w.duckdb")
    assert s.automation.kpi_drop.watched_segments == ["Champions", "Loyal"]
    assert loaded.source("refresh.churn_days") == f"file {file}"
    assert loaded.source("refresh.score_buckets") == "--set"
    assert loaded.source("paths.state_dir") == "env SEGMENTS_STATE_DIR"
    assert loaded.source("refresh.currency") == "default"


def test_config_file_from_the_environment_and_missing_files(tmp_path: Path) -> None:
    file = tmp_path / "env.yaml"
    file.write_text("report:\n  language: en\n")
    loaded = load_settings(env={"SEGMENTS_CONFIG": str(file)})
    assert loaded.file == file and loaded.settings.report.language == "en"
    with pytest.raises(SettingsError, match=r"settings file .*nope.yaml \(--config\) not found"):
        load_settings(tmp_path / "nope.yaml", env={})


@pytest.mark.parametrize(
    ("where", "value", "line"),
    [
        (
            "set",
            "refresh.score_bucket=3",
            "refresh.score_bucket: unknown key (from --set)",
        ),
        (
            "set",
            "refresh.score_buckets=three",
            "refresh.score_buckets: Input should be a valid integer, unable to parse string as "
            "an integer (got 'three', from --set)",
        ),
        (
            "set",
            "refresh.score_buckets=30",
            "refresh.score_buckets: Input should be less than or equal to 10 (got 30, from --set)",
        ),
        (
            "file",
            "quality:\n  max_volume_drop: 1.5\n",
            "quality.max_volume_drop: Input should be less than or equal to 1 (got 1.5, from file",
        ),
        (
            "file",
            "automation:\n  kpi_drop:\n    nps_drop_point: 5\n",
            "automation.kpi_drop.nps_drop_point: unknown key (from file",
        ),
        (
            "env",
            "SEGMENTS_DUCKDB_MEMORY_LIMIT=",
            None,  # an empty variable is unset: no error
        ),
        (
            "set",
            "refresh.as_of=2026-13-01",
            "refresh.as_of: expected a date YYYY-MM-DD, got '2026-13-01' (got '2026-13-01', "
            "from --set)",
        ),
        (
            "set",
            "quality.drift_warn_points=30",
            "quality: drift_warn_points (30) must not exceed drift_block_points (25)",
        ),
    ],
)
def test_bad_values_are_refused_in_one_line_naming_the_key(
    tmp_path: Path, where: str, value: str, line: str | None
) -> None:
    args = ["config", "show"]
    env = {}
    if where == "set":
        args += ["--set", value]
    elif where == "file":
        file = tmp_path / "bad.yaml"
        file.write_text(value)
        args += ["--config", str(file)]
    else:
        name, _, text = value.partition("=")
        env[name] = text
    result = CliRunner().invoke(cli, args, env=env)
    if line is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    [printed] = result.output.strip().splitlines()
    assert printed.startswith(f"settings: {line}"), printed


def test_config_show_prints_every_key_with_its_source(tmp_path: Path) -> None:
    file = tmp_path / "mine.yaml"
    file.write_text("refresh:\n  churn_days: 90\n")
    result = CliRunner().invoke(
        cli,
        ["config", "show", "--config", str(file), "--set", "quality.data_docs_keep_runs=3"],
        env={"SEGMENTS_LANDING": "/exports"},
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"settings file: {file}"
    rows = {line[2:].split()[0]: line for line in lines[1:]}
    assert set(rows) == set(KEYS)
    assert rows["refresh.churn_days"].split()[1:] == ["refresh.churn_days", "90", "file", str(file)]
    assert rows["quality.data_docs_keep_runs"].startswith("*")
    assert rows["quality.data_docs_keep_runs"].endswith("--set")
    assert rows["paths.landing_dir"].endswith("env SEGMENTS_LANDING")
    assert rows["refresh.score_buckets"].split() == ["refresh.score_buckets", "5", "default"]


def test_config_defaults_prints_the_shipped_file() -> None:
    result = CliRunner().invoke(cli, ["config", "defaults"])
    assert result.output == DEFAULT_SETTINGS_FILE.read_text(encoding="utf-8")


# --- consumers ----------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_default_changed_in_the_file_changes_dbt_gates_and_dagster_alike(tmp_path: Path) -> None:
    """The code location (what `make dev` and the daemon load), dbt's vars and the gates read
    the same file: one changed value reaches all of them."""
    file = tmp_path / "segments.yaml"
    text = render_defaults()
    for old, new in [
        ("score_buckets: 5", "score_buckets: 4"),
        ("quarantine_ceiling: 0.1", "quarantine_ceiling: 0.25"),
        ("cadence_months: 3", "cadence_months: 6"),
        ("csv_delimiter: ;", "csv_delimiter: ','"),
        ("memory_limit: 4GB", "memory_limit: 3GB"),
        ("nps_drop_points: 10.0", "nps_drop_points: 7.5"),
    ]:
        assert old in text
        text = text.replace(old, new)
    file.write_text(text)
    probe = """
import json
from pipeline.definitions import defs
from pipeline.quality.checks import gate_parameters
settings = defs.resources["settings"]
print(json.dumps({
    "dbt_score_buckets": settings.dbt_vars()["score_buckets"],
    "gate_quarantine_ceiling": gate_parameters(settings, "r")["quarantine_ceiling"],
    "gate_score_buckets": gate_parameters(settings, "r")["score_buckets"],
    "cron": defs.resolve_schedule_def("refresh_segments_schedule").cron_schedule,
    "kpi_drop": defs.resolve_sensor_def("kpi_drop_sensor").description,
    "csv_delimiter": defs.resources["serving"].csv_delimiter,
    "memory_limit": defs.resources["warehouse"].memory_limit,
}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
    env["SEGMENTS_CONFIG"] = str(file)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {
        "dbt_score_buckets": 4,
        "gate_quarantine_ceiling": 0.25,
        "gate_score_buckets": 4,
        "cron": "0 6 1 1,7 *",
        "kpi_drop": seen["kpi_drop"],
        "csv_delimiter": ",",
        "memory_limit": "3GB",
    }
    assert seen["kpi_drop"].startswith(
        "Refresh when NPS of the answers since the last refresh is >= 7.5"
    )
    # The CLI builds the same run config from the same file.
    loaded = load_settings(file, env={})
    run_config = loaded.settings.run_config()
    assert run_config["resources"]["settings"]["config"]["refresh"]["score_buckets"] == 4
    assert run_config["resources"]["serving"]["config"]["csv_delimiter"] == ","


def test_a_gate_threshold_set_on_the_command_line_changes_the_gate() -> None:
    loaded = load_settings(sets=["quality.quarantine_ceiling=0.5", "refresh.score_buckets=3"])
    params = gate_parameters(RefreshSettings.from_settings(loaded.settings), "run")
    assert (params["quarantine_ceiling"], params["score_buckets"]) == (0.5, 3)


def test_the_fingerprint_includes_every_effective_setting(tmp_path: Path) -> None:
    """A refresh is skipped only when nothing it reads changed: settings included."""
    base = load_settings(env={}, sets=[f"paths.landing_dir={tmp_path}"]).settings
    reference = run_config_fingerprint(base.run_config(as_of="2026-10-01"))
    for key, value in [
        ("refresh.churn_days", 90),
        ("exclusions.serial_returner_rate", 0.4),
        ("serving.csv_delimiter", ","),
        ("report.language", "en"),
        ("quality.max_volume_drop", 0.4),
    ]:
        changed = run_config_fingerprint(base.with_values({key: value}).run_config("2026-10-01"))
        assert changed.digest != reference.digest, key
        assert changed.landing == reference.landing
    moved = run_config_fingerprint(base.run_config(as_of="2026-11-01"))
    assert moved.digest != reference.digest
    # Automation settings change no table: they are not part of it.
    calmer = base.with_values({"automation.kpi_drop.nps_drop_points": 20})
    assert run_config_fingerprint(calmer.run_config("2026-10-01")).digest == reference.digest


def test_run_config_from_resources_applies_dotted_overrides() -> None:
    settings = RefreshSettings(as_of="2026-10-01", score_buckets=4)
    from pipeline.lib.resources import Warehouse

    config = refresh_run_config(
        settings, Warehouse(), as_of="2026-11-01", overrides={"refresh.score_method": "ntile"}
    )
    refresh = config["resources"]["settings"]["config"]["refresh"]
    assert (refresh["as_of"], refresh["score_buckets"], refresh["score_method"]) == (
        "2026-11-01",
        4,
        "ntile",
    )
    with pytest.raises(SettingsError, match="refresh.score_buckets: Input should be less"):
        refresh_run_config(settings, Warehouse(), overrides={"refresh.score_buckets": 11})


@pytest.mark.slow
@pytest.mark.integration
def test_score_buckets_set_on_the_command_line_yields_scores_one_to_three(demo_dir, tmp_path):
    """`segments refresh --set refresh.score_buckets=3`: dbt scores 1..3, the gates check 1..3,
    the serving file holds them."""
    import duckdb
    from conftest import DEMO_AS_OF, run_cli

    warehouse, state = tmp_path / "wh.duckdb", tmp_path / "state"
    code, output = run_cli(
        "refresh",
        "--landing", str(demo_dir / "landing"),
        "--as-of", DEMO_AS_OF.isoformat(),
        "--warehouse", str(warehouse),
        "--state-dir", str(state),
        "--set", "refresh.score_buckets=3",
    )  # fmt: skip
    assert code == 0, output
    query = (
        "select min(least(r_score, f_score, m_score)), max(greatest(r_score, f_score, m_score)),"
        " count(distinct r_score) from {}customer_rfm"
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(query.format("marts.")).fetchone() == (1, 3, 3)
    with duckdb.connect(str(state / "serving" / "segments.duckdb"), read_only=True) as con:
        assert con.execute(query.format("")).fetchone() == (1, 3, 3)
        assert con.execute("select trigger from refresh_info").fetchone() == ("cli",)


def test_shared_code_imports_no_domain() -> None:
    """`pipeline.lib` is below every domain: it imports nothing of theirs (no cycle possible)."""
    import ast

    offenders = []
    for path in sorted((REPO_ROOT / "pipeline" / "lib").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path.name}: {name}"
                for name in names
                if name.startswith("pipeline.") and not name.startswith("pipeline.lib")
            ]
    assert offenders == []
