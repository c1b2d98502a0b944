"""A private copy of the session's demo refresh, and what a failed refresh must leave unchanged.

Used by the tests that make a real `segments refresh` fail (tests/test_refresh_failures.py,
tests/test_refresh_gates.py, tests/test_refresh_postgres.py): each starts from a copy of the
demo refresh (warehouse, state, landing) so the volume and drift gates have a real baseline.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
from pathlib import Path

import duckdb
import pandas as pd
from conftest import DEMO_AS_OF, run_cli

HISTORY_TABLES = (
    "history.segment_history",
    "history.kpi_history",
    "history.segment_transitions",
    "history.customer_segment_changes",
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_digest(con: duckdb.DuckDBPyConnection, table: str) -> str:
    rows = sorted(con.execute(f"select * from {table}").df().astype(str).itertuples(index=False))
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def workspace(refreshed: dict, tmp_path: Path) -> dict[str, Path]:
    """A private copy of the demo refresh: its warehouse, state directory and landing files."""
    paths = {
        "warehouse": tmp_path / "warehouse.duckdb",
        "state": tmp_path / "state",
        "landing": tmp_path / "landing",
    }
    shutil.copy(refreshed["warehouse"], paths["warehouse"])
    shutil.copytree(refreshed["state"], paths["state"], symlinks=True)
    shutil.copytree(refreshed["landing"], paths["landing"])
    return paths


def refresh(ws: dict[str, Path], *extra: str, as_of: str = DEMO_AS_OF.isoformat()):
    return run_cli(
        "refresh",
        "--landing", str(ws["landing"]),
        "--as-of", as_of,
        "--warehouse", str(ws["warehouse"]),
        "--state-dir", str(ws["state"]),
        *extra,
    )  # fmt: skip


def published(ws: dict[str, Path]) -> dict[str, str]:
    """Checksums of everything BI reads and of the warehouse's history tables."""
    state = ws["state"]
    files = [state / "serving" / "segments.duckdb", state / "reports" / "latest.html"]
    files += sorted((state / "exports" / "latest").iterdir())
    sums = {str(p.relative_to(state)): digest(p) for p in files}
    sums["exports/LATEST"] = (state / "exports" / "LATEST").read_text()
    with duckdb.connect(str(ws["warehouse"]), read_only=True) as con:
        sums |= {table: table_digest(con, table) for table in HISTORY_TABLES}
    return sums


def refresh_blocked(ws: dict[str, Path], *extra: str, as_of: str = DEMO_AS_OF.isoformat()) -> str:
    """Refresh; a quality gate must block it (exit code 3, said so) with everything published
    unchanged. Returns the output."""
    before = published(ws)
    code, output = refresh(ws, *extra, as_of=as_of)
    assert code == 3, output
    assert "BLOCKED by a quality gate" in output
    assert "the published tables, exports, report and history are unchanged" in output
    assert published(ws) == before
    return output


def last_lines(output: str) -> tuple[str, str]:
    """The last two lines: they must name the step, then the root cause."""
    step, cause = [line.strip() for line in output.strip().splitlines()[-2:]]
    assert step.startswith("step:") and cause.startswith("cause:"), output[-2000:]
    return step.removeprefix("step:").strip(), cause.removeprefix("cause:").strip()


def log_file(output: str) -> Path:
    line = next(line for line in output.splitlines() if "full log:" in line)
    path = Path(line.split("full log:", 1)[1].strip())
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
    return path


def orders_files(landing: Path) -> list[Path]:
    return sorted(landing.glob("orders*.csv"))


def read(path: Path) -> pd.DataFrame:
    """An orders file as text columns; the demo's planted shifted rows are left out."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="skip")


def write_unreadable_amounts(landing: Path, name: str = "orders_marketplace.csv") -> Path:
    """A new orders export of 30 rows whose amount is unreadable on 1 row in 3 ("12,50 EUR"):
    10 rejected rows, a third of the file, above the clean gate's 10% quarantine ceiling."""
    sample = read(orders_files(landing)[-1]).head(30).copy()
    sample["order_id"] = [f"MKT{i:04d}" for i in range(len(sample))]
    sample.loc[sample.index % 3 == 0, "amount"] = "12,50 EUR"
    path = landing / name
    sample.to_csv(path, index=False)
    return path


def scored_source_ids(
    warehouse: Path, count: int, *, as_of: object = None, but_segment: str | None = None
) -> list[str]:
    """`count` customers scored by the refresh as of `as_of` (default: the latest), as the
    source ids an export would carry (the smallest of each master id), optionally outside one
    segment; fails when the refresh scored fewer."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select min(m.source_customer_id) from identity.customer_identity_map m"
            " join history.segment_history h on h.customer_id = m.customer_id"
            " where h.as_of = coalesce(?, (select max(as_of) from history.segment_history))"
            " and (cast(? as varchar) is null or h.segment <> ?)"
            " group by m.customer_id order by 1 limit ?",
            [as_of, but_segment, but_segment, count],
        ).fetchall()
    assert len(rows) == count, f"{len(rows)} scored customers, {count} wanted"
    return [row[0] for row in rows]
