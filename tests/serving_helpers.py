"""Test helpers of the serving domain: a stand-in warehouse, reader and publisher processes.

Run as a script, this module is the child process of the concurrency tests:
    python serving_helpers.py reader <serving.duckdb> <out.json> <stop-file> <persistent|fresh>
    python serving_helpers.py publish <warehouse> <state> <as_of> <run_id> <marker-file>
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_PII_KEY = "serving-tests-secret-key"


def serving_options(**overrides: object):
    """ServingOptions for tests: a test key, PostgreSQL off unless a DSN is given."""
    from pipeline.serving.options import ServingOptions

    values: dict[str, object] = {"pii_key": TEST_PII_KEY}
    values.update(overrides)
    return ServingOptions(**values)


def customer_id(index: int) -> str:
    """Source-like master customer id."""
    return f"CUST-{index:06d}"


def make_warehouse(path: Path, as_of: dt.date, customers: int = 60, leak: bool = False) -> Path:
    """(Re)create a stand-in build warehouse with the marts, history and identity tables.

    Columns follow docs/contracts.md closely enough for the publisher, which discovers them.
    `customer_preferences` carries `email` and `contact_phone` columns that must be dropped;
    `leak=True` hides an email in an innocently named column, which the value scan must catch.
    """
    path = Path(path)
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        for schema in ("marts", "history", "identity", "clean"):
            con.execute(f"CREATE SCHEMA {schema}")
        params = {"as_of": as_of, "n": customers}
        con.execute(
            """
            CREATE TABLE identity.customers AS
            SELECT printf('CUST-%06d', i) AS customer_id,
                   printf('client%d@example.fr', i) AS email,
                   printf('+3361234%04d', i) AS phone,
                   'Élodie' AS first_name, printf('Martin%d', i) AS last_name,
                   i % 3 <> 0 AS marketing_opt_in, DATE '1980-01-01' AS birth_date
            FROM range(1, $n + 1) t(i)
            """,
            {"n": customers},
        )
        con.execute(
            """
            CREATE TABLE marts.customer_rfm AS
            SELECT printf('CUST-%06d', i) AS customer_id, $as_of::DATE AS as_of,
                   (i * 7) % 400 AS recency_days, 1 + i % 9 AS frequency,
                   CAST(10.5 * i AS DECIMAL(18,2)) AS monetary, 10.25 + i / 4 AS avg_basket,
                   $as_of::DATE - 900 AS first_order_date, $as_of::DATE - ((i * 7) % 400)::INTEGER
                       AS last_order_date,
                   strftime($as_of::DATE - 900, '%Y-%m') AS cohort,
                   1 + i % 5 AS r_score, 1 + (i // 2) % 5 AS f_score, 1 + (i // 3) % 5 AS m_score,
                   printf('%d%d%d', 1 + i % 5, 1 + (i // 2) % 5, 1 + (i // 3) % 5) AS rfm_code,
                   ['champions', 'loyal', 'at_risk', 'hibernating'][1 + i % 4] AS segment,
                   ['Champions', 'Fidèles', 'À risque', 'En hibernation'][1 + i % 4] AS label_fr,
                   ['Champions', 'Loyal', 'At risk', 'Hibernating'][1 + i % 4] AS label_en,
                   'Offre de réactivation' AS recommended_action, 1 + i % 4 AS priority
            FROM range(1, $n + 1) t(i)
            """,
            params,
        )
        con.execute(
            """
            CREATE TABLE marts.segment_kpis AS
            SELECT $as_of::DATE AS as_of, segment, count(*) AS customers,
                   sum(monetary) AS revenue, avg(recency_days)::DOUBLE AS avg_recency
            FROM marts.customer_rfm GROUP BY segment
            """,
            {"as_of": as_of},
        )
        con.execute(
            """
            CREATE TABLE marts.cohort_retention AS
            SELECT strftime($as_of::DATE - (30 * c)::INTEGER, '%Y-%m') AS cohort, p AS period_index,
                   100 - p * 5 AS retained_customers, (100 - p * 5) / 100.0 AS retention_rate
            FROM range(0, 6) a(c), range(0, 6) b(p)
            """,
            {"as_of": as_of},
        )
        con.execute(
            "CREATE TABLE marts.campaign_exclusions AS SELECT printf('CUST-%06d', i) "
            "AS customer_id, 'complaint_open' AS reason FROM range(1, $n + 1, 5) t(i)",
            {"n": customers},
        )
        con.execute(
            "CREATE TABLE marts.customer_preferences AS SELECT printf('CUST-%06d', i) "
            "AS customer_id, ['web', 'store'][1 + i % 2] AS preferred_channel, "
            "printf('client%d@example.fr', i) AS email, printf('06 12 34 %02d %02d', i % 100, "
            "i % 97) AS contact_phone FROM range(1, $n + 1) t(i)",
            {"n": customers},
        )
        con.execute(
            "CREATE TABLE marts.segment_map AS SELECT * FROM (VALUES ('555', 'champions'), "
            "('111', 'hibernating')) v(rfm_code, segment)"
        )
        con.execute(
            """
            CREATE TABLE history.segment_history AS
            SELECT $as_of::DATE - (30 * k)::INTEGER AS as_of, printf('CUST-%06d', i) AS customer_id,
                   ['champions', 'loyal', 'at_risk'][1 + (i + k) % 3] AS segment
            FROM range(1, $n + 1) t(i), range(0, 3) s(k)
            """,
            params,
        )
        con.execute(
            "CREATE TABLE history.segment_transitions AS SELECT $as_of::DATE AS as_of, "
            "'loyal' AS from_segment, 'champions' AS to_segment, 12 AS customers",
            {"as_of": as_of},
        )
        # A view, as dbt would create one: it must resolve inside the attached warehouse.
        con.execute(
            "CREATE VIEW history.kpi_history AS SELECT as_of, segment, customers "
            "FROM marts.segment_kpis"
        )
        con.execute(
            "CREATE TABLE clean.orders AS SELECT 'O1' AS order_id, 'CUST-000001' AS customer_id"
        )
        if leak:
            con.execute(
                "ALTER TABLE marts.segment_kpis ADD COLUMN note VARCHAR "
                "DEFAULT 'ask jean.dupont@example.fr'"
            )
    finally:
        con.close()
    return path


def served_refresh(serving_file: Path) -> str:
    """The refresh id a NEW read-only connection sees in the serving file."""
    con = duckdb.connect(str(serving_file), read_only=True)
    try:
        return con.execute("SELECT refresh_id FROM refresh_info").fetchone()[0]
    finally:
        con.close()


def observe(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """Read refresh_info and every published table in one snapshot."""
    con.execute("BEGIN TRANSACTION")
    try:
        refresh_id = con.execute("SELECT refresh_id FROM refresh_info").fetchone()[0]
        tables = [row[0] for row in con.execute("SELECT table_name FROM refresh_tables").fetchall()]
        per_table = {
            table: sorted(
                row[0]
                for row in con.execute(f'SELECT DISTINCT refresh_id FROM "{table}"').fetchall()
            )
            for table in [*tables, "refresh_tables"]
        }
        rfm_as_of = [
            row[0]
            for row in con.execute(
                "SELECT DISTINCT CAST(as_of AS VARCHAR) FROM customer_rfm"
            ).fetchall()
        ]
        counts_ok = all(
            con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] == count
            for name, count in con.execute(
                "SELECT table_name, row_count FROM refresh_tables"
            ).fetchall()
        )
    finally:
        con.execute("COMMIT")
    return {
        "refresh_id": refresh_id,
        "tables": per_table,
        "rfm_as_of": rfm_as_of,
        "counts_ok": counts_ok,
    }


def reader_main(serving_file: str, out: str, stop: str, mode: str) -> None:
    """Query the serving file in a loop until `stop` exists, then dump the observations.

    `persistent` keeps one connection for the whole loop (it must keep its old refresh);
    `fresh` opens a new read-only connection per query (it must follow the publications).
    """
    observations: list[dict[str, object]] = []
    persistent = duckdb.connect(serving_file, read_only=True) if mode == "persistent" else None
    ready = Path(out + ".ready")
    while True:
        stopping = Path(stop).exists()
        con = persistent or duckdb.connect(serving_file, read_only=True)
        try:
            observations.append(observe(con))
        finally:
            if persistent is None:
                con.close()
        if not ready.exists():
            ready.write_text("ok")
        if stopping:
            break  # one last query after the stop request: it sees the final state
        time.sleep(0.005)
    Path(out).write_text(json.dumps(observations))


def publish_main(warehouse: str, state: str, as_of: str, run_id: str, marker: str) -> None:
    """Publish, but stop between build and swap (write `marker`, then sleep to be killed)."""
    from pipeline.serving.publish import publish_refresh

    def hold(tmp: Path) -> None:
        Path(marker).write_text(str(tmp))
        time.sleep(300)

    publish_refresh(
        warehouse_path=Path(warehouse),
        state_dir=Path(state),
        as_of=dt.date.fromisoformat(as_of),
        run_id=run_id,
        options=serving_options(),
        before_swap=hold,
    )


def child_env() -> dict[str, str]:
    """Environment of child processes: the repository importable, no PostgreSQL DSN."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.pop("SEGMENTS_PG_DSN", None)
    return env


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "reader":
        reader_main(*args)
    elif command == "publish":
        publish_main(*args)
    else:
        raise SystemExit(f"unknown command {command!r}")
