"""Snapshot of the code location: asset keys, jobs, schedules, sensors and the graph's order."""

import dagster as dg
import pytest

from pipeline.definitions import defs
from pipeline.segments.assets import model_key

ENTITIES = (
    "campaign_contacts",
    "customers",
    "marketing_spend",
    "nps_responses",
    "order_lines",
    "orders",
    "refunds",
    "support_tickets",
)
EXPECTED_ASSETS = {
    *(f"raw/{e}" for e in ENTITIES),
    *(f"clean/{e}" for e in ENTITIES),
    "clean/quarantine",
    "identity/customer_identity_map",
    "identity/customers",
    "identity/identity_merges",
    "identity/master_id_merges",
    "identity/master_id_successors",
    "marts/acquisition_costs",
    "marts/campaign_exclusion_summary",
    "marts/campaign_exclusions",
    "marts/churn_risk_bands",
    "marts/cluster_drift",
    "marts/cluster_profiles",
    "marts/customer_clusters",
    "marts/customer_dimensions",
    "marts/customer_predictions",
    "marts/prediction_evaluation",
    "marts/rfm_grid",
    "marts/segment_campaign_kpis",
    "marts/segment_persona_breakdowns",
    "marts/segment_personas",
    "marts/segment_predictions",
    "marts/segment_priority",
    "marts/segment_star_products",
    "marts/segment_support_themes",
    "marts/cohort_retention",
    "marts/cohort_season_comparison",
    "marts/cohort_segment_retention",
    "marts/customer_preferences",
    "marts/customer_rfm",
    "marts/rfm_cut_points",
    "marts/segment_kpis",
    "marts/segment_map",
    "marts/segments",
    "history/customer_segment_changes",
    "history/kpi_history",
    "history/segment_history",
    "history/segment_transitions",
    "serving/published_refresh",
    "report/insight_report",
    "automation/refresh_record",
    "monitoring/kpi_monitor",
}


def _graph():
    return defs.resolve_asset_graph()


def test_the_code_location_loads_with_the_expected_assets():
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    business = {k for k in keys if not k.startswith(("staging/", "intermediate/"))}
    assert business == EXPECTED_ASSETS


def test_jobs_schedules_and_sensors_are_registered():
    assert {job.name for job in defs.jobs} == {
        "refresh_segments",
        "backfill_history",
        "monitor_kpis",
    }
    assert {s.name for s in defs.schedules} == {"refresh_segments_schedule"}
    assert {s.name for s in defs.sensors} == {
        "kpi_monitor_sensor",
        "kpi_drop_sensor",
        "new_data_sensor",
        "business_event_sensor",
        "refresh_failure_sensor",
    }


def test_refresh_job_covers_every_asset_but_monitoring_and_every_blocking_gate():
    job = defs.resolve_job_def("refresh_segments")
    selected = job.asset_layer.selected_asset_keys
    monitoring = dg.AssetKey(["monitoring", "kpi_monitor"])
    assert selected == set(defs.resolve_all_asset_keys()) - {monitoring}
    # The record of what the refresh read is its last step.
    record = dg.AssetKey(["automation", "refresh_record"])
    assert dg.AssetKey(["report", "insight_report"]) in _graph().get(record).parent_keys
    gates = {key.name: key for key in _graph().asset_check_keys if key.name.endswith("_gate")}
    assert {
        "raw_orders_gate",
        "clean_orders_gate",
        "identity_resolution_gate",
        "customer_rfm_gate",
        "segment_kpis_gate",
        "cohort_retention_gate",
    } <= set(gates)
    for key in gates.values():
        assert _graph().get_check_spec(key).blocking, key
    drift = dg.AssetCheckKey(dg.AssetKey(["marts", "cluster_drift"]), "cluster_drift_check")
    assert not _graph().get_check_spec(drift).blocking  # warns, never blocks publication


def test_monitoring_job_ingests_and_measures_without_gates_or_publication():
    job = defs.resolve_job_def("monitor_kpis")
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert selected == {
        *(f"raw/{e}" for e in ENTITIES),
        *(f"clean/{e}" for e in ENTITIES),
        "clean/quarantine",
        "monitoring/kpi_monitor",
    }
    checks = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert not {name for name in checks if name.endswith("_gate")}
    # The measure runs after the ingest of the same run: the clean tables are direct parents.
    parents = _graph().get(dg.AssetKey(["monitoring", "kpi_monitor"])).parent_keys
    assert {dg.AssetKey(["clean", "orders"]), dg.AssetKey(["clean", "nps_responses"])} <= parents


def test_history_and_publication_run_after_the_marts_they_are_gated_on():
    graph = _graph()
    rfm = model_key("customer_rfm")
    history = model_key("segment_history")
    published = dg.AssetKey(["serving", "published_refresh"])
    assert rfm in graph.get(history).parent_keys
    assert rfm in graph.get(published).parent_keys
    assert history in graph.get(published).parent_keys
    assert published in graph.get(dg.AssetKey(["report", "insight_report"])).parent_keys
    for table in ("customer_predictions", "customer_clusters", "cluster_drift"):
        key = dg.AssetKey(["marts", table])
        assert rfm in graph.get(key).parent_keys
        assert key in graph.get(published).parent_keys


def test_every_asset_has_a_description():
    graph = _graph()
    missing = [
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if key.path[0] not in ("staging", "intermediate")
        and not (graph.get(key).description or "").strip()
    ]
    assert not missing


@pytest.mark.integration
def test_the_workspace_loads_as_dagster_dev_loads_it(tmp_path):
    """`dagster dev -w workspace.yaml` must show the graph: validate the same workspace."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    dagster_cli = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster_cli), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=root,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dbt_tests_the_gates_cover_are_left_out_of_a_refresh_and_name_real_gates():
    """A refresh skips the dbt tests tagged covered_by_gate, and only those; each names gates."""
    import json

    from pipeline.quality.suites import load_gate
    from pipeline.segments.project import dbt_project

    manifest = json.loads(dbt_project.manifest_path.read_text())
    tests = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    covered = {name for name, node in tests.items() if "covered_by_gate" in node["tags"]}
    # The keys of the views over every order and refund; the order lines' own key test stays.
    assert {"unique_stg_orders_order_id", "unique_int_refunds__attributed_refund_id"} <= covered
    assert "unique_combination_of_columns_stg_order_lines_order_id__line_number" not in covered
    for name in covered:
        gates = tests[name]["config"]["meta"]["covered_by"]
        # Each named gate exists and runs before dbt (a clean-level gate blocks the models).
        assert gates and all(load_gate(gate).level == "clean" for gate in gates), name
    checks = {key.name for key in _graph().asset_check_keys}
    assert not covered & checks
    assert "unique_customer_rfm_customer_id" in checks
