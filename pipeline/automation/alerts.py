"""Failed-refresh alerts: a row in `<state>/alerts.duckdb` and an optional JSON webhook.

Alerts live in their own small DuckDB file, never in the warehouse: a failed run may leave the
warehouse locked, or another refresh may already be writing it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import requests

ALERTS_FILE = "alerts.duckdb"

_DDL = """
create table if not exists alerts (
    run_id varchar primary key,
    raised_at timestamp not null,
    job_name varchar not null,
    as_of varchar,
    trigger_kind varchar,
    message varchar,
    failed_steps varchar,
    webhook_status varchar
)
"""


@dataclass
class RefreshFailure:
    """What is known about a failed run when the failure sensor sees it."""

    run_id: str
    job_name: str
    as_of: str
    trigger: str
    message: str
    failed_steps: list[str] = field(default_factory=list)
    raised_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def payload(self) -> dict[str, object]:
        """The JSON body sent to the webhook."""
        body = asdict(self)
        body["raised_at"] = self.raised_at.isoformat(timespec="seconds")
        return {"event": "segments_refresh_failed", **body}


def alerts_path(state_path: Path) -> Path:
    """The alerts DuckDB file under the state directory."""
    return state_path / ALERTS_FILE


def record_alert(
    state_path: Path, failure: RefreshFailure, attempts: int = 5, wait_seconds: float = 0.5
) -> bool:
    """Insert the alert (once per run id); True if a new row was written.

    A reader (a BI user, the CLI) may hold the file for a moment, so a locked file is retried a few
    times before the error is raised (the sensor then retries the event on its next tick).
    """
    path = alerts_path(state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts + 1):
        try:
            con = duckdb.connect(str(path))
        except duckdb.IOException:
            if attempt == attempts:
                raise
            time.sleep(wait_seconds)
            continue
        try:
            con.execute(_DDL)
            before = con.execute(
                "select count(*) from alerts where run_id = ?", [failure.run_id]
            ).fetchone()[0]
            con.execute(
                "insert into alerts (run_id, raised_at, job_name, as_of, trigger_kind, message,"
                " failed_steps) values (?, ?, ?, ?, ?, ?, ?) on conflict (run_id) do nothing",
                [
                    failure.run_id,
                    failure.raised_at.astimezone(dt.UTC).replace(tzinfo=None),
                    failure.job_name,
                    failure.as_of,
                    failure.trigger,
                    failure.message,
                    json.dumps(failure.failed_steps),
                ],
            )
            return before == 0
        finally:
            con.close()
    return False


def set_webhook_status(state_path: Path, run_id: str, status: str) -> None:
    """Remember on the alert whether the webhook got it (for people reading the alerts table)."""
    con = duckdb.connect(str(alerts_path(state_path)))
    try:
        con.execute("update alerts set webhook_status = ? where run_id = ?", [status, run_id])
    finally:
        con.close()


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
        cursor = con.execute("select * from alerts order by raised_at desc")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
