"""Parquet and CSV exports of a publication, the `latest` pointer and retention.

Layout (under the state directory):
    exports/<refresh_id>/<table>.parquet|csv, exports/<refresh_id>/_refresh.json
    exports/latest -> <refresh_id>   (symlink, switched atomically)
    exports/LATEST                    (text file with the refresh id; the pointer on Windows)
Each folder is written under a hidden temporary name and renamed into place when complete.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb

from pipeline.lib.permissions import share
from pipeline.lib.sql import quote_ident, sql_literal
from pipeline.serving.files import fsync_dir, remove_path, switch_symlink, write_text_atomic

EXPORTS_DIR = "exports"
CAMPAIGN_DIR = "campaign"
REFRESH_MANIFEST = "_refresh.json"
LATEST_LINK = "latest"
LATEST_FILE = "LATEST"
UTF8_BOM = b"\xef\xbb\xbf"
#: Prefixes of work-in-progress entries; anything with them is debris of a killed publication.
TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"


def write_table_exports(
    con: duckdb.DuckDBPyConnection,
    tables: list[str],
    out_dir: Path,
    *,
    parquet: bool = True,
    csv: bool = True,
    csv_delimiter: str = ";",
    csv_bom: bool = True,
    csv_decimal_comma: bool = True,
) -> list[Path]:
    """Export each table of `con` (main schema) to `out_dir` as Parquet and/or CSV."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for table in tables:
        if parquet:
            target = out_dir / f"{table}.parquet"
            con.execute(
                f"COPY (SELECT * FROM {quote_ident(table)}) TO {sql_literal(target)} "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
            written.append(target)
        if csv:
            target = out_dir / f"{table}.csv"
            _write_csv(con, table, target, csv_delimiter, csv_bom, csv_decimal_comma)
            written.append(target)
    return written


def _write_csv(
    con: duckdb.DuckDBPyConnection,
    table: str,
    target: Path,
    delimiter: str,
    bom: bool,
    decimal_comma: bool,
) -> None:
    """One CSV file; DuckDB writes neither a BOM nor decimal commas, so both are added here."""
    select = []
    for name, column_type, *_ in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall():
        col = quote_ident(name)
        numeric = column_type.startswith("DECIMAL") or column_type in ("DOUBLE", "FLOAT")
        if decimal_comma and numeric:
            # French Excel reads "12,50" as a number and "12.50" as text (or a date).
            select.append(f"replace(CAST({col} AS VARCHAR), '.', ',') AS {col}")
        else:
            select.append(col)
    body = target.with_name(target.name + ".body")
    con.execute(
        f"COPY (SELECT {', '.join(select)} FROM {quote_ident(table)}) TO {sql_literal(body)} "
        f"(FORMAT csv, HEADER true, DELIMITER {sql_literal(delimiter)})"
    )
    if not bom:
        os.replace(body, target)
        return
    with open(target, "wb") as out, open(body, "rb") as src:
        # The BOM makes Excel decode UTF-8 (accents in labels) instead of the ANSI code page.
        out.write(UTF8_BOM)
        shutil.copyfileobj(src, out, length=1 << 20)
    body.unlink()


def write_manifest(folder: Path, info: dict[str, Any]) -> None:
    """Describe the refresh a folder holds (read by retention and by people)."""
    (folder / REFRESH_MANIFEST).write_text(
        json.dumps(info, indent=2, default=str, sort_keys=True), encoding="utf-8"
    )


def install_folder(root: Path, tmp_dir: Path, refresh_id: str, run_tag: str) -> Path:
    """Move a completed temporary folder to `root/<refresh_id>` and switch the latest pointers.

    Re-publishing the same refresh id moves the previous folder aside first (a directory cannot
    be renamed over a non-empty one) and deletes it once the new one is in place.
    """
    target = root / refresh_id
    previous = root / f"{OLD_PREFIX}{refresh_id}-{run_tag}"
    if target.exists():
        os.replace(target, previous)
    os.replace(tmp_dir, target)
    fsync_dir(root)
    switch_symlink(root / LATEST_LINK, refresh_id)
    write_text_atomic(root / LATEST_FILE, refresh_id + "\n")
    # The pointer holds a refresh id only; who may read the folders is decided by `root`'s mode.
    share(root / LATEST_FILE)
    remove_path(previous)
    return target


def latest_refresh(root: Path) -> str | None:
    """The refresh id `latest` points to (symlink first, else the LATEST file)."""
    link = root / LATEST_LINK
    if link.is_symlink():
        return Path(os.readlink(link)).name
    marker = root / LATEST_FILE
    if marker.exists():
        return marker.read_text(encoding="utf-8").strip() or None
    return None


def published_folders(root: Path) -> list[tuple[str, Path]]:
    """Completed refresh folders as (published_at, path), most recent first."""
    if not root.is_dir():
        return []
    folders = []
    for entry in root.iterdir():
        if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue
        manifest = entry / REFRESH_MANIFEST
        if manifest.exists():
            published = str(json.loads(manifest.read_text(encoding="utf-8"))["published_at"])
        else:
            # A folder without manifest (copied by hand?): order it by modification time.
            published = dt.datetime.fromtimestamp(entry.stat().st_mtime, dt.UTC).isoformat()
        folders.append((published, entry))
    # Publication order, not refresh-id order: a backfill of an old as-of is a recent publication.
    return sorted(folders, key=lambda item: item[0], reverse=True)


def apply_retention(root: Path, keep: int) -> list[str]:
    """Delete all but the `keep` most recently published folders; never the `latest` one."""
    current = latest_refresh(root)
    removed = []
    for _, folder in published_folders(root)[keep:]:
        if folder.name == current:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


def clean_debris(root: Path) -> list[str]:
    """Remove temporary folders/links left by a publication that was killed."""
    if not root.is_dir():
        return []
    removed = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(OLD_PREFIX):
            # Killed between moving the previous folder aside and installing the new one:
            # the aside copy is the only one left, so put it back instead of deleting it.
            refresh_id = entry.name[len(OLD_PREFIX) :].rsplit("-", 1)[0]
            if not (root / refresh_id).exists():
                os.replace(entry, root / refresh_id)
                continue
        if entry.name.startswith((TMP_PREFIX, OLD_PREFIX)) or (
            entry.name.startswith(".") and entry.name.endswith(".tmp")
        ):
            remove_path(entry)
            removed.append(entry.name)
    return removed
