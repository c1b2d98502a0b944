"""What a refresh depends on, as one digest: lets `segments refresh` skip a run that would
rebuild exactly what is already published (the no-op refresh).

Inputs: the landing files (content, by sha256), every refresh setting (as-of date included), the
mapping and steward-override files, the dbt project's source files and the pipeline version.
Schedules and sensors do not use it: the new-data sensor already fires on changed checksums only.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.segments.project import DBT_PROJECT_DIR

FINGERPRINT_FILE = "last_refresh.json"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """sha256 of a file's content, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _tree(root: Path) -> list[tuple[str, str]]:
    """(relative path, sha256) of every file below `root`, sorted; empty when root is absent."""
    if not root.exists():
        return []
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return [(str(p.relative_to(root)) if p != root else p.name, file_sha256(p)) for p in files]


def refresh_fingerprint(settings: dict[str, Any], landing: Path, warehouse: Path) -> str:
    """Digest of everything a refresh reads; equal digests mean equal published tables."""
    try:
        version = metadata.version("customer-segments")
    except metadata.PackageNotFoundError:
        version = "unknown"
    dbt_sources = [
        entry
        for folder in ("models", "macros", "seeds", "tests")
        for entry in _tree(DBT_PROJECT_DIR / folder)
    ] + _tree(DBT_PROJECT_DIR / "dbt_project.yml")
    payload = {
        "settings": settings,
        "warehouse": str(warehouse),
        "landing": _tree(landing),
        "mapping": _tree(Path(settings["mapping_file"])) if settings.get("mapping_file") else [],
        "identity_overrides": _tree(Path(settings.get("identity_overrides_file") or "-")),
        "dbt": dbt_sources,
        "version": version,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def last_fingerprint(state_dir: Path) -> dict[str, Any] | None:
    """The fingerprint recorded by the last successful refresh, if any."""
    path = state_dir / FINGERPRINT_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def record_fingerprint(state_dir: Path, fingerprint: str, run_id: str, as_of: str) -> None:
    """Record a successful refresh (written atomically: a crash never leaves half a file)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / f".{FINGERPRINT_FILE}.tmp"
    tmp.write_text(
        json.dumps({"fingerprint": fingerprint, "run_id": run_id, "as_of": as_of}),
        encoding="utf-8",
    )
    tmp.replace(state_dir / FINGERPRINT_FILE)
