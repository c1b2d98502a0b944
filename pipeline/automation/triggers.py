"""Business-event trigger files: what `segments trigger` writes and the sensor reads.

One YAML file per event in `<state>/triggers/`. People may also drop such files by hand; only
`kind` is required there (the id defaults to the file name, so renaming a file makes a new event).

    id: 20250401T081500Z-price_change-1a2b3c
    kind: price_change
    note: Prices +5% on the whole catalogue
    created_at: '2025-04-01T08:15:00+00:00'
    created_by: alice
    as_of: ''            # optional YYYY-MM-DD; empty = the day the sensor sees the event
    settings:            # optional: settings of this refresh only (`segments trigger --set`)
      refresh.score_buckets: 3
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.lib.settings import SegmentsSettings, SettingsError

EVENT_KINDS: tuple[str, ...] = (
    "price_change",
    "new_offer",
    "competitor_launch",
    "regulation",
    "geographic_expansion",
    "other",
)
TRIGGER_SUFFIXES = (".yaml", ".yml")


class TriggerFileError(ValueError):
    """A trigger file that cannot be read as an event (bad YAML, unknown kind, bad date)."""


@dataclass(frozen=True)
class BusinessEvent:
    """One business event asking for a refresh."""

    event_id: str
    kind: str
    note: str
    created_at: str
    created_by: str
    as_of: dt.date | None
    path: Path
    #: Dotted settings of this event's refresh only (`refresh.score_buckets: 3`).
    settings: dict[str, object] = field(default_factory=dict)


def triggers_dir(state_path: Path) -> Path:
    """The folder the business-event sensor watches (created on demand)."""
    folder = state_path / "triggers"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _parse_as_of(value: object, path: Path) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise TriggerFileError(f"{path.name}: as_of must be YYYY-MM-DD, got {value!r}") from exc


def read_trigger_file(path: Path) -> BusinessEvent:
    """Parse and validate one trigger file; raise TriggerFileError with the reason otherwise."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TriggerFileError(f"{path.name}: not readable as YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise TriggerFileError(f"{path.name}: expected a mapping with at least 'kind'")
    kind = str(data.get("kind") or "").strip()
    if kind not in EVENT_KINDS:
        raise TriggerFileError(
            f"{path.name}: kind must be one of {', '.join(EVENT_KINDS)}, got {kind or 'nothing'!r}"
        )
    event_id = str(data.get("id") or path.stem).strip()
    overrides = data.get("settings") or {}
    if not isinstance(overrides, dict):
        raise TriggerFileError(f"{path.name}: settings must map section.key to a value")
    try:
        SegmentsSettings().with_values(overrides)
    except SettingsError as exc:
        raise TriggerFileError(f"{path.name}: settings: {'; '.join(exc.lines)}") from exc
    return BusinessEvent(
        event_id=event_id,
        kind=kind,
        note=str(data.get("note") or "").strip(),
        created_at=str(data.get("created_at") or ""),
        created_by=str(data.get("created_by") or ""),
        as_of=_parse_as_of(data.get("as_of"), path),
        path=path,
        settings={str(k): v for k, v in overrides.items()},
    )


def list_trigger_files(folder: Path) -> list[Path]:
    """Trigger files in `folder`, oldest name first; hidden and temporary files are skipped."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in TRIGGER_SUFFIXES
    )


def write_trigger_file(
    state_path: Path,
    kind: str,
    note: str,
    as_of: dt.date | None = None,
    now: dt.datetime | None = None,
    settings: dict[str, object] | None = None,
) -> BusinessEvent:
    """Write a new event file atomically and return the event.

    The file appears under its final name only once complete (write to a hidden temporary file,
    then rename), so the sensor never reads half an event. `settings` (dotted keys) apply to
    this event's refresh only; they are validated before anything is written.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(EVENT_KINDS)}, got {kind!r}")
    if not note.strip():
        raise ValueError("note must say what happened")
    if settings:
        SegmentsSettings().with_values(settings)  # raises SettingsError naming the key
    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    event_id = f"{created:%Y%m%dT%H%M%S}Z-{kind}-{secrets.token_hex(3)}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        user = ""
    payload = {
        "id": event_id,
        "kind": kind,
        "note": note.strip(),
        "created_at": created.isoformat(timespec="seconds"),
        "created_by": user,
        "as_of": as_of.isoformat() if as_of else "",
    }
    if settings:
        payload["settings"] = dict(settings)
    folder = triggers_dir(state_path)
    final = folder / f"{event_id}.yaml"
    tmp = folder / f".{event_id}.yaml.tmp"
    tmp.write_text(yaml.safe_dump(payload, sort_keys=False, allow_unicode=True), encoding="utf-8")
    os.replace(tmp, final)
    return read_trigger_file(final)
