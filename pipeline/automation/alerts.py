"""The alerts table (`<state>/alerts.duckdb`): why automation started a run, and failed runs.

One row per event, with the reason in columns (trigger, reason, reason_metric, reason_before,
reason_after, reason_threshold):

* `alert_kind = 'trigger'`: a schedule or sensor requested a run (id `trigger:<run key>`);
* `alert_kind = 'run_failed'`: a monitored run failed (id = its run id), optionally POSTed to a
  webhook.

Alerts live in their own small DuckDB file, never in the warehouse: a failed run may leave the
warehouse locked, or another refresh may already be writing it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import requests

from pipeline.lib.reasons import RunReason

ALERTS_FILE = "alerts.duckdb"

_COLUMNS = """
    alert_id varchar primary key,
    raised_at timestamp not null,
    alert_kind varchar not null,
    job_name varchar,
    run_id varchar,
    run_key varchar,
    as_of varchar,
    trigger_kind varchar,
    reason varchar,
    reason_metric varchar,
    reason_segment varchar,
    reason_before double,
    reason_after double,
    reason_threshold double,
    message varchar,
    failed_steps varchar,
    webhook_status varchar
"""


@dataclass
class RefreshFailure:
    """What is known about a failed run when the failure sensor sees it."""

    run_id: str
    job_name: str
    as_of: str
    reason: RunReason
    message: str
    failed_steps: list[str] = field(default_factory=list)
    raised_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def trigger(self) -> str:
        """The kind of trigger that started the failed run."""
        return self.reason.kind

    def payload(self) -> dict[str, object]:
        """The JSON body sent to the webhook."""
        return {
            "event": "segments_refresh_failed",
            "run_id": self.run_id,
            "job_name": self.job_name,
            "as_of": self.as_of,
            "trigger": self.reason.kind,
            "reason": self.reason.summary,
            "message": self.message,
            "failed_steps": self.failed_steps,
            "raised_at": self.raised_at.isoformat(timespec="seconds"),
        }


def alerts_path(state_path: Path) -> Path:
    """The alerts DuckDB file under the state directory."""
    return state_path / ALERTS_FILE


def _ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the table, moving rows of the first version (failures keyed by run id) over."""
    columns = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_name = 'alerts'"
        ).fetchall()
    }
    if columns and "alert_id" not in columns:
        con.execute("alter table alerts rename to alerts_v1")
        con.execute(f"create table alerts ({_COLUMNS})")
        con.execute(
            "insert into alerts (alert_id, raised_at, alert_kind, job_name, run_id, as_of,"
            " trigger_kind, reason, message, failed_steps, webhook_status)"
            " select run_id, raised_at, 'run_failed', job_name, run_id, as_of, trigger_kind,"
            " trigger_kind, message, failed_steps, webhook_status from alerts_v1"
        )
        con.execute("drop table alerts_v1")
    con.execute(f"create table if not exists alerts ({_COLUMNS})")


@contextmanager
def _alerts(state_path: Path, attempts: int = 5, wait_seconds: float = 0.5) -> Iterator[Any]:
    """A write connection to the alerts file; a reader holding it is waited for a little.

    A BI user or the CLI may hold the file for a moment, so a locked file is retried a few times
    before the error is raised (the sensor then retries the event on its next tick).
    """
    path = alerts_path(state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts + 1):
        try:
            con = duckdb.connect(str(path))
            break
        except duckdb.IOException:
            if attempt == attempts:
                raise
            time.sleep(wait_seconds)
    try:
        _ensure_table(con)
        yield con
    finally:
        con.close()


def _insert(con: Any, values: dict[str, Any]) -> bool:
    """Insert one alert unless its id exists; True if a new row was written."""
    exists = con.execute(
        "select count(*) from alerts where alert_id = ?", [values["alert_id"]]
    ).fetchone()[0]
    if exists:
        return False
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    con.execute(f"insert into alerts ({names}) values ({marks})", list(values.values()))
    return True


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _reason_columns(reason: RunReason) -> dict[str, Any]:
    columns = reason.columns()
    columns["trigger_kind"] = columns.pop("trigger")
    return columns


def record_alert(state_path: Path, failure: RefreshFailure) -> bool:
    """Record a failed run (once per run id); True if a new row was written."""
    with _alerts(state_path) as con:
        return _insert(
            con,
            {
                "alert_id": failure.run_id,
                "raised_at": _utc(failure.raised_at),
                "alert_kind": "run_failed",
                "job_name": failure.job_name,
                "run_id": failure.run_id,
                "as_of": failure.as_of,
                **_reason_columns(failure.reason),
                "message": failure.message,
                "failed_steps": json.dumps(failure.failed_steps),
            },
        )


def record_trigger(
    state_path: Path, reason: RunReason, *, run_key: str, job_name: str, as_of: str
) -> bool:
    """Record why a schedule or sensor requested a run (once per run key)."""
    with _alerts(state_path) as con:
        return _insert(
            con,
            {
                "alert_id": f"trigger:{run_key}",
                "raised_at": _utc(dt.datetime.now(dt.UTC)),
                "alert_kind": "trigger",
                "job_name": job_name,
                "run_key": run_key,
                "as_of": as_of,
                **_reason_columns(reason),
            },
        )


def set_webhook_status(state_path: Path, run_id: str, status: str) -> None:
    """Remember on the alert whether the webhook got it (for people reading the alerts table)."""
    with _alerts(state_path) as con:
        con.execute("update alerts set webhook_status = ? where alert_id = ?", [status, run_id])


def post_webhook(
    url: str, failure: RefreshFailure, timeout: float, log: logging.Logger | logging.LoggerAdapter
) -> str:
    """POST the alert as JSON; return a short status. Never raises: an unreachable chat tool
    must not hide the failure itself, which is already recorded."""
    try:
        response = requests.post(url, json=failure.payload(), timeout=timeout)
    except requests.RequestException as exc:
        log.warning("alert webhook unreachable for run %s: %s", failure.run_id, exc)
        return f"error: {type(exc).__name__}"
    if response.status_code >= 400:
        log.warning(
            "alert webhook answered %s for run %s: %s",
            response.status_code,
            failure.run_id,
            response.text[:200],
        )
    return f"http {response.status_code}"


def read_alerts(state_path: Path) -> list[dict[str, object]]:
    """All recorded alerts, newest first (empty when none was ever raised)."""
    path = alerts_path(state_path)
    if not path.exists():
        return []
    con = duckdb.connect(str(path), read_only=True)
    try:
        cursor = con.execute("select * from alerts order by raised_at desc, alert_id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
