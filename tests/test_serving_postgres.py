"""PostgreSQL publication against a live server this module starts (initdb into tmp_path).

Skipped only when the PostgreSQL server binaries are missing outside CI; with CI=true a missing
server fails the run, so the publication path is always exercised in CI.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import psycopg
import pytest
from serving_helpers import make_warehouse, serving_options

from pipeline.serving.publish import PublicationResult, publish_refresh

DAY_A, DAY_B = dt.date(2026, 9, 1), dt.date(2026, 10, 1)


def _publish(tmp_path: Path, dsn: str, day: dt.date, run: str, **options) -> PublicationResult:
    make_warehouse(tmp_path / "warehouse.duckdb", day, customers=500)
    return publish_refresh(
        warehouse_path=tmp_path / "warehouse.duckdb",
        state_dir=tmp_path / "state",
        as_of=day,
        run_id=run,
        options=serving_options(pg_dsn=dsn, pg_schema="segments_test", **options),
    )


def _snapshot(cur: psycopg.Cursor, schema: str) -> dict[str, object]:
    """refresh_info, row counts and distinct refresh ids of every table, in the current txn."""
    cur.execute(f"SELECT refresh_id FROM {schema}.refresh_info")
    refresh_id = cur.fetchone()[0]
    cur.execute(f"SELECT table_name, row_count FROM {schema}.refresh_tables ORDER BY 1")
    expected = dict(cur.fetchall())
    seen = {}
    for table in expected:
        cur.execute(f"SELECT count(*), array_agg(DISTINCT refresh_id) FROM {schema}.{table}")
        seen[table] = cur.fetchone()
    return {"refresh_id": refresh_id, "expected": expected, "seen": seen}


def _schemas(dsn: str, prefix: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s ORDER BY 1", [prefix + "%"]
        ).fetchall()
    return [row[0] for row in rows]


def test_postgres_row_counts_match(tmp_path: Path, pg_dsn: str) -> None:
    result = _publish(tmp_path, pg_dsn, DAY_A, "run-a")
    assert result.postgres_schema == "segments_test"
    with psycopg.connect(pg_dsn) as conn, conn.cursor() as cur:
        snapshot = _snapshot(cur, "segments_test")
        assert snapshot["refresh_id"] == "2026-09-01"
        assert snapshot["expected"] == result.row_counts
        for table, (count, ids) in snapshot["seen"].items():
            assert count == result.row_counts[table]
            assert ids == ["2026-09-01"]
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'segments_test' AND table_name = 'customer_rfm'"
        )
        columns = dict(cur.fetchall())
        assert "customer_id" not in columns and columns["customer_key"] == "text"
        assert columns["monetary"] == "numeric" and columns["as_of"] == "date"
        cur.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
            "'segments_test' AND (column_name ~ 'email|phone|first_name|last_name')"
        )
        assert cur.fetchone()[0] == 0
        # The serving file's comments are PostgreSQL comments too (what BI tools show).
        cur.execute(
            "SELECT obj_description('segments_test.refresh_info'::regclass), "
            "col_description('segments_test.customer_rfm'::regclass, "
            "(SELECT ordinal_position FROM information_schema.columns WHERE table_schema = "
            "'segments_test' AND table_name = 'customer_rfm' AND column_name = 'customer_key')"
            "::int)"
        )
        table_comment, key_comment = cur.fetchone()
        assert table_comment.startswith("Which refresh")
        assert key_comment.startswith("Pseudonymous customer key")
        cur.execute("SELECT count(*) FROM segments_test.data_dictionary")
        assert cur.fetchone()[0] > 50
    assert _schemas(pg_dsn, "segments_test") == ["segments_test"]


def test_reader_transaction_keeps_consistent_snapshot_during_swap(
    tmp_path: Path, pg_dsn: str
) -> None:
    _publish(tmp_path, pg_dsn, DAY_A, "run-a")
    reader = psycopg.connect(pg_dsn)
    reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    outcome: dict[str, object] = {}
    try:
        with reader.cursor() as cur:
            before = _snapshot(cur, "segments_test")  # the transaction now holds its snapshot
            assert before["refresh_id"] == "2026-09-01"

            def publish_b() -> None:
                try:
                    outcome["result"] = _publish(tmp_path, pg_dsn, DAY_B, "run-b")
                except BaseException as exc:  # reported by the main thread
                    outcome["error"] = exc

            publisher = threading.Thread(target=publish_b)
            publisher.start()
            # Wait until the swap is blocked behind our reader transaction.
            with psycopg.connect(pg_dsn, autocommit=True) as watcher:
                deadline = time.monotonic() + 60
                while not watcher.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted"
                ).fetchone()[0]:
                    assert publisher.is_alive(), outcome
                    assert time.monotonic() < deadline, "the swap never waited for the reader"
                    time.sleep(0.05)
            during = _snapshot(cur, "segments_test")
        reader.commit()  # ends the reader transaction: the swap can go on
        publisher.join(timeout=60)
        assert not publisher.is_alive()
        assert "error" not in outcome, outcome.get("error")
        assert during == before  # same refresh, same rows, in every table
        for count_ids in during["seen"].values():
            assert count_ids[1] == ["2026-09-01"]
        with reader.cursor() as cur:
            after = _snapshot(cur, "segments_test")
        reader.commit()
        assert after["refresh_id"] == "2026-10-01"
        assert all(ids == ["2026-10-01"] for _, ids in after["seen"].values())
        assert after["expected"] == outcome["result"].row_counts  # type: ignore[union-attr]
    finally:
        reader.close()
    assert _schemas(pg_dsn, "segments_test") == ["segments_test"]


def test_swap_timeout_keeps_live_schema(tmp_path: Path, pg_dsn: str) -> None:
    _publish(tmp_path, pg_dsn, DAY_A, "run-a")
    with psycopg.connect(pg_dsn) as reader:
        reader.execute("SELECT count(*) FROM segments_test.customer_rfm").fetchone()
        with pytest.raises(RuntimeError, match="kept the previous refresh"):
            _publish(tmp_path, pg_dsn, DAY_B, "run-b", pg_lock_timeout_seconds=1)
        reader.rollback()
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT refresh_id FROM segments_test.refresh_info").fetchone() == (
            "2026-09-01",
        )
    assert _schemas(pg_dsn, "segments_test") == ["segments_test"]
