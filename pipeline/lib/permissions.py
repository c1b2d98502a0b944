"""File modes: what the pipeline creates is private, except the outputs meant for BI readers.

The warehouse (emails, phones, quarantined raw rows), the state directory (quality samples, run
logs, sensor state) and exports of personal data are owner-only. The BI-facing outputs (serving
file, Parquet/CSV exports, insight report and their folders) are published world-readable on
purpose (docs/serving.md, "File permissions").

Two mechanisms, because DuckDB creates its files itself (the `.wal` next to the warehouse comes
and goes during a run, in this process and in the dbt process): runs and the CLI set the process
umask to 077 (`private_by_default`), and the code sets explicit modes where it creates or
publishes something, so a library caller without that umask gets the same result.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SHARED_DIR = 0o755
SHARED_FILE = 0o644


def private_by_default() -> None:
    """Make every file this process (and its children, e.g. dbt) creates owner-only."""
    if os.name == "posix":
        os.umask(PRIVATE_UMASK)


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) owner-only; an existing folder keeps its mode.

    An existing folder is left alone: an administrator may have opened it on purpose (e.g.
    `chmod 711` so a BI account can reach `serving/`).
    """
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        if os.name == "posix":
            os.chmod(path, PRIVATE_DIR)
    return path


def make_private(path: Path) -> None:
    """Owner-only mode on an existing file or folder."""
    if os.name == "posix" and path.exists():
        os.chmod(path, PRIVATE_DIR if path.is_dir() else PRIVATE_FILE)


def share(path: Path) -> None:
    """World-readable mode on a BI-facing file, or on a folder and everything in it."""
    if os.name != "posix":
        return
    if path.is_dir() and not path.is_symlink():
        os.chmod(path, SHARED_DIR)
        for child in path.rglob("*"):
            if not child.is_symlink():
                os.chmod(child, SHARED_DIR if child.is_dir() else SHARED_FILE)
    elif path.is_file():
        os.chmod(path, SHARED_FILE)


def shared_dir(path: Path) -> Path:
    """Create a BI-facing folder (readable by others) if missing; returns it."""
    path.mkdir(parents=True, exist_ok=True)
    share_folder_only(path)
    return path


def share_folder_only(path: Path) -> None:
    """World-readable mode on one folder, not its content."""
    if os.name == "posix":
        os.chmod(path, SHARED_DIR)
