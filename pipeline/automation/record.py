"""The refresh record: what the last successful refresh read, and what the landing holds now.

Which landing files count is the ingest's rule (`pipeline.ingest.extract.discover_files`, with the
mapping's patterns): the sensors and the no-op check never look at a file the ingest would ignore.
The record itself (`<state>/last_refresh.json`) is written by the `refresh_record` asset at the
end of every successful refresh (`pipeline.lib.fingerprint`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.ingest.extract import discover_files
from pipeline.ingest.mapping import load_mapping
from pipeline.lib.fingerprint import (
    RefreshFingerprint,
    file_sha256,
    inputs_digest,
    settings_digest,
)
from pipeline.lib.paths import DBT_PROJECT_DIR
from pipeline.lib.resources import RefreshSettings

# discover_files warns about every ignored file: a sensor looking every minute must not repeat it.
_quiet = logging.getLogger(f"{__name__}.discover")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


@dataclass(frozen=True)
class LandingFile:
    """One export the ingest would read: its entity, size, mtime and content checksum."""

    entity: str
    size: int
    mtime_ns: int
    sha256: str


def landing_files(
    landing: Path, mapping_file: Path | None, known: Mapping[str, LandingFile] | None = None
) -> dict[str, LandingFile]:
    """{path relative to the landing dir: file} of the exports the ingest reads.

    Files whose size and mtime equal those in `known` keep their checksum (not re-hashed).
    """
    if not landing.is_dir():
        return {}
    found, _ignored = discover_files(landing, load_mapping(mapping_file), _quiet)
    known = known or {}
    files: dict[str, LandingFile] = {}
    for entity, paths in found.items():
        for path in paths:
            rel = path.relative_to(landing).as_posix()
            stat = path.stat()
            previous = known.get(rel)
            if previous and (previous.size, previous.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                files[rel] = previous
            else:
                files[rel] = LandingFile(entity, stat.st_size, stat.st_mtime_ns, file_sha256(path))
    return files


def fingerprint_of(
    settings: RefreshSettings,
    resources: Mapping[str, Any],
    landing: Mapping[str, str] | None = None,
) -> RefreshFingerprint:
    """The fingerprint of a refresh with these settings.

    `resources` holds the run's resource configs (`settings`, `warehouse`, `serving`); `landing`
    the {path: sha256} read, by default the landing directory as it is now.
    """
    if landing is None:
        current = landing_files(settings.landing_path(), settings.mapping_path())
        landing = {rel: f.sha256 for rel, f in current.items()}
    overrides = settings.paths.identity_overrides_file
    return RefreshFingerprint(
        landing=dict(landing),
        settings=settings_digest(resources),
        inputs=inputs_digest(
            settings.mapping_path(),
            Path(overrides).expanduser().resolve() if overrides else None,
            DBT_PROJECT_DIR,
        ),
    )


def run_config_fingerprint(run_config: Mapping[str, Any]) -> RefreshFingerprint:
    """The fingerprint of the refresh a run config describes, on the landing as it is now."""
    resources = {name: value["config"] for name, value in run_config["resources"].items()}
    return fingerprint_of(RefreshSettings(**resources["settings"]), resources)
