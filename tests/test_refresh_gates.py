"""Every gate after the landing gates, failing inside a real `segments refresh`.

Each scenario starts from a copy of the session's demo refresh (so the drift gate compares with a
real publication) and checks what a person relies on when a gate blocks: exit code 3, the last
lines naming the gate and the failed rule, and the serving file, `exports/latest`, the report and
the history tables unchanged byte for byte (checksums).

The drift gate fails on real inputs here, the clean gate in tests/test_refresh_postgres.py
(which also checks that PostgreSQL is left as it was). The identity and mart gates guard against
defects of our own code (an identity map that loses a customer, a model that miscounts revenue),
which no input produces: those defects are planted in the real step's output, after the step ran
and before its gate, by wrapping the step's function for the duration of the test.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from refresh_workspace import last_lines, refresh_blocked, workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _failures(output: str) -> list[tuple[str, str]]:
    """The (step, cause) pairs of the failure summary, in order."""
    lines = [line.strip() for line in output.splitlines()]
    return [
        (step.removeprefix("step:").strip(), cause.removeprefix("cause:").strip())
        for step, cause in zip(lines, lines[1:], strict=False)
        if step.startswith("step:") and cause.startswith("cause:")
    ]


def test_an_identity_map_that_loses_a_customer_blocks_at_the_identity_gate(
    refreshed, tmp_path, monkeypatch
):
    from pipeline.identity import assets as identity_assets

    resolve = identity_assets.resolve_identities
    lost: list[str] = []

    def resolve_and_lose_one(con, *args, **kwargs):
        report = resolve(con, *args, **kwargs)
        (source_id,) = con.execute(
            "select min(customer_id) from clean.orders "
            "where customer_id in (select source_customer_id from identity.customer_identity_map)"
        ).fetchone()
        con.execute(
            "delete from identity.customer_identity_map where source_customer_id = ?", [source_id]
        )
        lost.append(source_id)
        return report

    monkeypatch.setattr(identity_assets, "resolve_identities", resolve_and_lose_one)
    ws = workspace(refreshed, tmp_path)
    output = refresh_blocked(ws, "--force")
    step, cause = last_lines(output)
    assert lost
    assert step == "gate identity_resolution_gate on identity/customer_identity_map"
    assert "identity.unresolved_orders" in cause
    with duckdb.connect(str(ws["warehouse"]), read_only=True) as con:
        (orders,) = con.execute(
            "select count(*) from clean.orders where customer_id = ?", [lost[0]]
        ).fetchone()
    assert f"observed {orders}" in cause


def test_model_defects_block_at_the_customer_rfm_and_cohort_gates(refreshed, tmp_path, monkeypatch):
    """One cent missing from a customer's revenue, a cohort not fully active in its own month."""
    from pipeline.segments import assets as segment_assets

    build = segment_assets._build
    planted: dict[str, object] = {}

    def build_with_defects(context, dbt, warehouse, settings, extra_vars=None):
        events = list(build(context, dbt, warehouse, settings, extra_vars))
        with warehouse.connect() as con:
            tables = {t for (t,) in con.sql("select table_name from duckdb_tables()").fetchall()}
            if "customer_rfm" in tables and "customer_rfm" not in planted:
                (customer,) = con.execute(
                    "select min(customer_id) from marts.customer_rfm where monetary > 1"
                ).fetchone()
                con.execute(
                    "update marts.customer_rfm set monetary = monetary - 0.01 "
                    "where customer_id = ?",
                    [customer],
                )
                (cohort,) = con.execute("select min(cohort) from marts.cohort_retention").fetchone()
                con.execute(
                    "update marts.cohort_retention set retention_rate = 0.5 "
                    "where cohort = ? and period_index = 0",
                    [cohort],
                )
                planted.update(customer_rfm=customer, cohort=cohort)
        yield from events

    monkeypatch.setattr(segment_assets, "_build", build_with_defects)
    ws = workspace(refreshed, tmp_path)
    output = refresh_blocked(ws, "--force")
    assert set(planted) == {"customer_rfm", "cohort"}
    failures = dict(_failures(output))
    assert set(failures) == {
        "gate customer_rfm_gate on marts/customer_rfm",
        "gate cohort_retention_gate on marts/cohort_retention",
    }, output
    rfm = failures["gate customer_rfm_gate on marts/customer_rfm"]
    assert rfm.startswith("marts.customer_rfm.revenue_mismatches:")
    assert "observed 1, limit = 0" in rfm and f"sample keys: {planted['customer_rfm']}" in rfm
    cohort = failures["gate cohort_retention_gate on marts/cohort_retention"]
    assert cohort.startswith("marts.cohort_retention.period_zero:")
    assert "observed 0.5, limit = 1.0" in cohort and f"sample keys: {planted['cohort']}" in cohort
    # Both are on the terminal as they happen, one line each with a space after the status.
    assert "  BLOCKED customer_rfm_gate on marts/customer_rfm" in output
    assert "  BLOCKED cohort_retention_gate on marts/cohort_retention" in output


def test_a_marketplace_launch_moving_segment_shares_blocks_at_the_drift_gate(refreshed, tmp_path):
    """3,000 first-time buyers imported on one launch day, a week before the as-of: segment
    shares move by more than the 25 points the drift gate allows against the published refresh."""
    ws = workspace(refreshed, tmp_path)
    newcomers = pd.DataFrame(
        {
            "order_id": [f"MKP{i:05d}" for i in range(3000)],
            "customer_id": [f"MKPC{i:05d}" for i in range(3000)],
            "order_date": "2026-09-24",
            "amount": "49.90",
            "currency": "EUR",
            "status": "completed",
            "channel": "marketplace",
            "promo_code": "",
            "discount_amount": "0.00",
        }
    )
    newcomers.to_csv(ws["landing"] / "orders_marketplace.csv", index=False)

    output = refresh_blocked(ws)
    step, cause = last_lines(output)
    assert step == "gate segment_kpis_gate on marts/segment_kpis"
    assert cause.startswith("marts.segment_kpis.drift: expect_column_values_to_be_between")
    assert "limit >= 0.0 and <= 25.0" in cause
    shift = float(cause.split("observed ", 1)[1].split(",")[0].split()[0])
    assert shift > 25, cause
    with duckdb.connect(str(ws["warehouse"]), read_only=True) as con:
        (new_customers,) = con.execute(
            "select count(*) from marts.customer_rfm where customer_id in "
            "(select customer_id from identity.customer_identity_map "
            " where source_customer_id like 'MKPC%')"
        ).fetchone()
    # The marts were built (the gate saw them) but nothing of them was published.
    assert new_customers == 3000
