"""Data stewards' corrections: `never_merge` and `force_merge` pairs of source customer ids."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Overrides:
    """Pairs of source customer ids a steward separated (never_merge) or joined (force_merge)."""

    never_merge: list[tuple[str, str]] = field(default_factory=list)
    force_merge: list[tuple[str, str]] = field(default_factory=list)


def _pairs(raw: object, key: str, path: Path) -> list[tuple[str, str]]:
    """Validate one list of pairs; ids are compared as text (YAML may read 1042 as a number)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"{path}: '{key}' must be a list of [id, id] pairs")
    pairs = []
    for item in raw:
        if not isinstance(item, list | tuple) or len(item) != 2 or None in item:
            raise ValueError(f"{path}: '{key}' entry {item!r} is not a pair of two ids")
        pairs.append((str(item[0]).strip(), str(item[1]).strip()))
    return pairs


def load_overrides(path: str | Path | None) -> Overrides:
    """Read the steward file; a missing file (or empty path) means no overrides.

    A malformed file raises ValueError: silently ignoring a steward's correction would re-merge
    people someone already separated by hand.
    """
    if not path:
        return Overrides()
    file = Path(path).expanduser()
    if not file.exists():
        log.info("identity overrides file %s not found: no overrides", file)
        return Overrides()
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{file}: expected a mapping with never_merge / force_merge")
    unknown = set(data) - {"never_merge", "force_merge"}
    if unknown:
        raise ValueError(f"{file}: unknown keys {sorted(unknown)}")
    return Overrides(
        never_merge=_pairs(data.get("never_merge"), "never_merge", file),
        force_merge=_pairs(data.get("force_merge"), "force_merge", file),
    )
