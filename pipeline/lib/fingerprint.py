"""What a refresh read, as one record: the no-op skip and the new-data sensor both compare with it.

A refresh depends on the landing files (content, by sha256), its effective settings (as-of date
included), the mapping and steward-override files, the dbt project's source files and the
pipeline version. Each successful refresh, whoever started it (CLI, schedule, sensor), writes
`<state>/last_refresh.json` (the `refresh_record` asset, last step of the job):

* `segments refresh` skips a run whose fingerprint equals the recorded one (nothing would change);
* the new-data sensor compares the landing part only: new content in the landing directory since
  the last successful refresh, whatever its as-of date or settings.

Shared code: the caller lists the landing files (the ingest's rule decides which count).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

RECORD_FILE = "last_refresh.json"
_CHUNK = 1 << 20
#: dbt project folders whose files change what a refresh builds.
_DBT_FOLDERS = ("models", "macros", "seeds", "tests")


def file_sha256(path: Path) -> str:
    """sha256 of a file's content, read in 1 MiB chunks (exports can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def json_digest(value: Any) -> str:
    """sha256 of a value's canonical JSON (sorted keys): equal values, equal digests."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def code_digest(files: Iterable[Path], packages: Iterable[str] = ()) -> str:
    """sha256 of source files (in the order given) and of installed packages' versions: a step
    that keeps earlier results while its code and libraries are the same compares this."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    for package in packages:
        digest.update(metadata.version(package).encode())
    return digest.hexdigest()


def _tree(root: Path) -> list[tuple[str, str]]:
    """(relative path, sha256) of every file below `root`, sorted; empty when root is absent."""
    if not root.exists():
        return []
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return [(str(p.relative_to(root)) if p != root else p.name, file_sha256(p)) for p in files]


def settings_digest(resources: Mapping[str, Any]) -> str:
    """Digest of the run's resource configs (`settings`, `warehouse`, `serving`)."""
    return json_digest({name: resources.get(name) for name in ("settings", "warehouse", "serving")})


def inputs_digest(
    mapping_file: Path | None, overrides_file: Path | None, dbt_project_dir: Path
) -> str:
    """Digest of the files besides the exports that shape a refresh, and the pipeline version."""
    try:
        version = metadata.version("customer-segments")
    except metadata.PackageNotFoundError:
        version = "unknown"
    dbt_files = [entry for folder in _DBT_FOLDERS for entry in _tree(dbt_project_dir / folder)]
    return json_digest(
        {
            "mapping": _tree(mapping_file) if mapping_file else [],
            "identity_overrides": _tree(overrides_file) if overrides_file else [],
            "dbt": dbt_files + _tree(dbt_project_dir / "dbt_project.yml"),
            "version": version,
        }
    )


@dataclass(frozen=True)
class RefreshFingerprint:
    """The three parts of what a refresh reads; `digest` is the whole."""

    #: {path relative to the landing directory: sha256} of the export files read.
    landing: dict[str, str]
    settings: str
    inputs: str

    @property
    def digest(self) -> str:
        """One value for the whole: equal digests mean equal published tables."""
        return json_digest({"landing": self.landing, "settings": self.settings, "in": self.inputs})


@dataclass(frozen=True)
class RefreshRecord:
    """The last successful refresh: its fingerprint, which run, why, as of when."""

    fingerprint: str
    landing: dict[str, str]
    settings: str
    inputs: str
    run_id: str
    as_of: str
    trigger: str = ""
    reason: str = ""
    recorded_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    @classmethod
    def of(cls, fingerprint: RefreshFingerprint, **details: str) -> RefreshRecord:
        """A record of `fingerprint` with the run's details (run_id, as_of, trigger, reason)."""
        return cls(
            fingerprint=fingerprint.digest,
            landing=dict(fingerprint.landing),
            settings=fingerprint.settings,
            inputs=fingerprint.inputs,
            **details,
        )


def read_record(state_dir: Path) -> RefreshRecord | None:
    """The record of the last successful refresh, or None (none yet, or an older format)."""
    path = Path(state_dir) / RECORD_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        return RefreshRecord(**data)
    except TypeError:  # written by an older version: no landing part, as if never refreshed
        return None


def write_record(state_dir: Path, record: RefreshRecord) -> Path:
    """Write the record atomically: a crash never leaves half a file."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / f".{RECORD_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(record), indent=1, sort_keys=True), encoding="utf-8")
    final = state_dir / RECORD_FILE
    tmp.replace(final)
    return final
