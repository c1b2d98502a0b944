"""A refresh that fails, through the real job and the `segments` CLI: what a person reads, what
stays published, and what is refused before any work starts.

Each scenario starts from a copy of the session's demo refresh (warehouse, state, landing), so the
volume gate has a baseline: the accepted load of the demo exports as of 2026-10-01.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path

import duckdb
import pytest
from conftest import DEMO_AS_OF
from refresh_workspace import last_lines as _last_lines
from refresh_workspace import log_file as _log_file
from refresh_workspace import orders_files as _orders_files
from refresh_workspace import published as _published
from refresh_workspace import read as _read
from refresh_workspace import refresh as _refresh
from refresh_workspace import refresh_blocked
from refresh_workspace import workspace as _workspace

pytestmark = [pytest.mark.integration]


def _keep(landing: Path, keep: float, rounding=math.ceil) -> tuple[int, int]:
    """Keep the first `keep` share (rounded) of every orders file's data lines, byte for byte.

    Line based, not parsed: the demo files carry shifted rows on purpose (one field too many),
    which a re-delivery keeps as they are. Returns (data lines before, after).
    """
    before = after = 0
    for path in _orders_files(landing):
        header, *rows = path.read_bytes().splitlines(keepends=True)
        kept = rounding(len(rows) * keep)
        path.write_bytes(header + b"".join(rows[:kept]))
        before, after = before + len(rows), after + kept
    return before, after


# --- Volume gate (issue 14, point 4) ------------------------------------------------------------


def _blocked_by_the_orders_gate(ws: dict[str, Path]) -> tuple[str, str]:
    """Refresh; it must be blocked by raw_orders_gate with everything published unchanged.

    Returns the output and the last cause line.
    """
    output = refresh_blocked(ws)
    step, cause = _last_lines(output)
    assert step == "gate raw_orders_gate on raw/orders"
    return output, cause


def test_a_ten_percent_redelivery_is_blocked_with_both_counts_and_the_limit(refreshed, tmp_path):
    """The issue's case: a 10% re-delivery is an 89.99% drop, under the old 90% bar."""
    ws = _workspace(refreshed, tmp_path)
    before, after = _keep(ws["landing"], 0.1)
    assert 0.899 < 1 - after / before < 0.9
    output, cause = _blocked_by_the_orders_gate(ws)
    assert "expect_column_values_to_be_between(volume_drop)" in cause
    assert "limit < 0.5" in cause and f"all rows: {after} now, {before} then" in cause
    assert re.search(r"\(history_loss\) \| observed 0\.899\d*, limit <= 0\.01 ", output)
    _log_file(output)


def test_half_of_the_export_is_blocked_by_both_rules(refreshed, tmp_path):
    ws = _workspace(refreshed, tmp_path)
    before, after = _keep(ws["landing"], 0.5, rounding=math.floor)
    assert 0.5 <= 1 - after / before < 0.501
    output, _cause = _blocked_by_the_orders_gate(ws)
    causes = [line.strip() for line in output.splitlines() if line.strip().startswith("cause:")]
    assert len(causes) == 2, output
    assert "(history_loss) | observed 0.5" in causes[0] and "limit <= 0.01" in causes[0]
    assert "(volume_drop) | observed 0.5" in causes[1] and "limit < 0.5" in causes[1]


def test_a_two_percent_history_loss_is_blocked_by_the_history_rule_alone(refreshed, tmp_path):
    ws = _workspace(refreshed, tmp_path)
    with duckdb.connect(str(ws["warehouse"]), read_only=True) as con:
        (history,) = con.execute(
            "select history_rows from quality.load_history where entity = 'orders' "
            "and gate_passed order by recorded_at desc limit 1"
        ).fetchone()
    # 2% of the rows dated on or before the as-of disappear from an older file.
    removed = round(history * 0.02)
    older = _orders_files(ws["landing"])[-2]
    _read(older).iloc[removed:].to_csv(older, index=False)
    output, cause = _blocked_by_the_orders_gate(ws)
    assert "expect_column_values_to_be_between(history_loss) | observed 0.02" in cause
    assert "limit <= 0.01" in cause
    assert f"rows not dated after 2026-10-01: {history - removed} now, {history} in the " in cause
    assert "volume_drop" not in output
    with duckdb.connect(str(ws["warehouse"]), read_only=True) as con:
        (loss,) = con.execute(
            "select history_loss from quality.load_volume "
            "where entity = 'orders' order by recorded_at desc limit 1"
        ).fetchone()
    assert loss == pytest.approx(0.02, abs=1e-4)


def test_an_appended_month_passes_and_is_published(refreshed, tmp_path):
    ws = _workspace(refreshed, tmp_path)
    october = _read(_orders_files(ws["landing"])[-1]).head(60)
    october["order_id"] = [f"OCT{i:05d}" for i in range(len(october))]
    october["order_date"] = [f"2026-10-{2 + i % 30:02d}" for i in range(len(october))]
    october.to_csv(ws["landing"] / "orders_2026_10.csv", index=False)

    identity_map = "select source_customer_id, customer_id from identity.customer_identity_map"
    with duckdb.connect(str(ws["warehouse"]), read_only=True) as con:
        masters_before = dict(con.execute(identity_map).fetchall())
    code, output = _refresh(ws, as_of="2026-11-01")
    assert code == 0, output
    with duckdb.connect(str(ws["warehouse"]), read_only=True) as con:
        drop, loss = con.execute(
            "select volume_drop, history_loss from quality.load_volume "
            "where entity = 'orders' order by recorded_at desc limit 1"
        ).fetchone()
        as_ofs = con.execute("select distinct as_of from history.segment_history").fetchall()
        masters_after = dict(con.execute(identity_map).fetchall())
        moved, in_both = con.execute(
            "select sum(customers), (select count(*) from history.segment_history a "
            "  join history.segment_history b on a.customer_id = b.customer_id "
            "  where a.as_of = date '2026-10-01' and b.as_of = date '2026-11-01') "
            "from history.segment_transitions "
            "where from_as_of = date '2026-10-01' and to_as_of = date '2026-11-01'"
        ).fetchone()
    assert drop < 0 and loss == 0.0
    assert {str(d) for (d,) in as_ofs} >= {"2026-10-01", "2026-11-01"}
    # The normal life of the product: the same people keep their master ids, every customer
    # scored at both dates is in exactly one transition (champion -> at risk...), and the drift
    # gate compared the new shares with the real previous publication (not skipped).
    assert masters_after.keys() >= masters_before.keys()
    assert {k: masters_after[k] for k in masters_before} == masters_before
    assert in_both > 1000 and moved == in_both
    run_id = re.search(r"refresh succeeded in [\d.]+s \(run ([\w-]+)\)", output).group(1)
    drift = ws["state"] / "quality" / "results" / run_id / "marts.segment_kpis.drift.json"
    result = json.loads(drift.read_text())
    assert not result.get("skipped"), result


# --- Publication and history are one unit (point 5) ---------------------------------------------


def test_a_failed_publication_leaves_history_and_every_published_file_unchanged(
    refreshed, tmp_path, monkeypatch
):
    from pipeline.serving import exports

    ws = _workspace(refreshed, tmp_path)
    published = _published(ws)

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device", str(ws["state"] / "exports"))

    monkeypatch.setattr(exports, "write_table_exports", disk_full)
    # A new as-of: had its history been kept, segment_history would gain 2026-11-01.
    code, output = _refresh(ws, as_of="2026-11-01")
    assert code == 1, output
    step, cause = _last_lines(output)
    assert step == "step serving__published_refresh"
    assert cause.startswith("OSError: [Errno 28] No space left on device")
    assert _published(ws) == published
    with duckdb.connect(str(ws["warehouse"]), read_only=True) as con:
        schemas = {s for (s,) in con.execute("select schema_name from duckdb_schemas()").fetchall()}
        as_ofs = {
            str(d)
            for (d,) in con.execute("select distinct as_of from history.segment_history").fetchall()
        }
    assert "history_rollback" not in schemas and "2026-11-01" not in as_ofs
    assert "history of as-of 2026-11-01" in _log_file(output).read_text()


# --- Pre-flight and failures a person can read (points 5 and 7) --------------------------------


def test_a_missing_pii_key_is_refused_before_anything_runs(refreshed, tmp_path, monkeypatch):
    ws = _workspace(refreshed, tmp_path)
    monkeypatch.delenv("SEGMENTS_PII_KEY")
    logs_before = sorted((ws["state"] / "logs").glob("*.log"))
    code, output = _refresh(ws, "--force")
    assert code == 2, output
    step, cause = _last_lines(output)
    assert step == "pre-flight (configuration)" and "SEGMENTS_PII_KEY" in cause
    assert "nothing was run" in output
    assert sorted((ws["state"] / "logs").glob("*.log")) == logs_before


def test_an_invalid_mapping_is_refused_naming_file_and_key(refreshed, tmp_path):
    ws = _workspace(refreshed, tmp_path)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("entities:\n  orders:\n    delimiter: '|'\n    colour: blue\n")
    code, output = _refresh(ws, "--mapping", str(mapping))
    assert code == 2, output
    _step, cause = _last_lines(output)
    assert "mapping file" in cause and "colour" in cause


def test_runs_not_started_by_the_cli_check_the_configuration_at_run_start(
    refreshed, tmp_path, monkeypatch
):
    """Schedules and sensors launch the job directly: the resources refuse to start the run."""
    import dagster as dg

    from pipeline.cli import build_run_config, execute_refresh
    from pipeline.lib.failures import run_failures

    ws = _workspace(refreshed, tmp_path)
    monkeypatch.delenv("SEGMENTS_PII_KEY")
    run_config = build_run_config(
        landing=ws["landing"],
        as_of=DEMO_AS_OF,
        warehouse=ws["warehouse"],
        state_dir=ws["state"],
    )
    result = execute_refresh(
        run_config=run_config, force=True, instance=dg.DagsterInstance.ephemeral()
    )
    assert not result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_START"]
    (failure,) = run_failures(result.all_events)
    assert failure.step == "run start (resource check)"
    assert failure.cause.startswith("ConfigurationError: No PII key configured")


def test_a_missing_orders_file_names_the_step_and_the_folder(refreshed, tmp_path):
    ws = _workspace(refreshed, tmp_path)
    for path in _orders_files(ws["landing"]):
        path.unlink()
    code, output = _refresh(ws)
    assert code == 1, output
    step, cause = _last_lines(output)
    assert step == "step extract_landing"
    assert cause.startswith("MissingEntityError: no orders file in ")
    assert str(ws["landing"]) in cause
    assert "Traceback" not in output and "Stack Trace" not in output
    log = _log_file(output).read_text()
    assert "MissingEntityError" in log and "Stack Trace" in log


def test_a_missing_column_names_file_and_column_and_verbose_streams_the_log(refreshed, tmp_path):
    ws = _workspace(refreshed, tmp_path)
    orders_file = _orders_files(ws["landing"])[-1]
    _read(orders_file).drop(columns=["amount"]).to_csv(orders_file, index=False)
    code, output = _refresh(ws, "-v")
    assert code == 1, output
    step, cause = _last_lines(output)
    assert step == "step extract_landing"
    assert cause.startswith("MissingColumnError:")
    assert orders_file.name in cause and "amount" in cause
    # -v streams the full log: Dagster's events and the stack trace precede the summary.
    assert "STEP_FAILURE" in output and "Stack Trace" in output


def test_a_dbt_model_failure_names_the_model_and_the_database_error(refreshed, tmp_path):
    """12,000 orders of 999,999,999,999.00 for one customer: each amount passes cleaning (under
    the 10^12 bound), their sum (1.2e16) overflows DECIMAL(18,2) in dbt, which fails."""
    ws = _workspace(refreshed, tmp_path)
    row = _read(_orders_files(ws["landing"])[-1]).head(1)
    huge = row.loc[row.index.repeat(12_000)].reset_index(drop=True)
    huge["order_id"] = [f"HUGE{i}" for i in range(len(huge))]
    huge["order_date"] = "2026-09-15"
    huge["amount"] = "999999999999.00"
    huge["status"] = "completed"
    huge.to_csv(ws["landing"] / "orders_huge.csv", index=False)
    published = _published(ws)

    code, output = _refresh(ws)
    assert code == 1, output
    step, cause = _last_lines(output)
    assert step == "step segment_dbt_assets"
    assert cause.startswith("dbt ") and " in model " in cause
    assert "DECIMAL(18,2)" in cause or "out of range" in cause
    assert _published(ws) == published


# --- Permissions (point 6) ----------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_personal_data_is_owner_only_and_bi_outputs_keep_their_modes(refreshed):
    state = Path(refreshed["state"])
    assert _mode(Path(refreshed["warehouse"])) == 0o600
    assert _mode(state) == 0o700
    for private in (state / "quality", state / "logs", *(state / "logs").iterdir()):
        assert _mode(private) in (0o700, 0o600), private
    assert _mode(state / "serving") == 0o755
    assert _mode(state / "serving" / "segments.duckdb") == 0o644
    latest = (state / "exports" / "latest").resolve()
    assert _mode(state / "exports") == 0o755 and _mode(latest) == 0o755
    assert {_mode(p) for p in latest.iterdir()} == {0o644}
    assert _mode(state / "exports" / "LATEST") == 0o644
    assert _mode(state / "reports") == 0o755
    assert {_mode(p) for p in (state / "reports").glob("*.html")} == {0o644}
    # Nothing else the run created is readable by other users.
    for path in state.rglob("*"):
        shared = path in (state / "serving", state / "serving" / "segments.duckdb")
        shared |= path.is_relative_to(state / "exports") or path.is_relative_to(state / "reports")
        if not shared and not path.is_symlink():
            assert _mode(path) & 0o077 == 0, path
    assert os.name == "posix"
