"""Quality gate definitions: the reviewable YAML files under `expectations/`, loaded and checked.

One file per gate (one Dagster asset check). A gate holds suites; a suite is one SQL query on the
warehouse (the batch) and the Great Expectations expectations its result frame must meet. This
module only reads and validates those files and turns them into GX objects; running them is
`pipeline.quality.runner`'s job. Nothing here writes under `expectations/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import great_expectations as gx
import yaml
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.expectations.metadata_types import FailureSeverity

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"

#: `error` blocks downstream assets, `warn` is reported without blocking (GX severities).
SEVERITIES: dict[str, FailureSeverity] = {
    "error": FailureSeverity.CRITICAL,
    "warn": FailureSeverity.WARNING,
}

_NAME = re.compile(r"^[a-z][a-z0-9_.]*$")
_SQL_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


class SuiteDefinitionError(ValueError):
    """A gate file under `expectations/` is malformed (raised at load time, never at run time)."""


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation as written in the gate file: GX type, kwargs and blocking severity."""

    type: str
    kwargs: dict[str, Any]
    severity: str = "error"
    notes: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the expectation looks at (empty for table-level expectations)."""
        names = ("column", "column_A", "column_B")
        cols = [self.kwargs[n] for n in names if n in self.kwargs]
        cols += list(self.kwargs.get("column_list") or [])
        return tuple(cols)

    @property
    def label(self) -> str:
        """Readable name used in run logs and check metadata, e.g. `expect_x(order_id)`."""
        return f"{self.type}({','.join(self.columns)})"

    def to_gx(self) -> gx.expectations.Expectation:
        """The GX 1.x expectation object (severity set natively; meta names the label)."""
        config = ExpectationConfiguration(
            type=self.type,
            kwargs=dict(self.kwargs),
            meta={"label": self.label},
            notes=self.notes,
            severity=SEVERITIES[self.severity],
        )
        return config.to_domain_obj()


@dataclass(frozen=True)
class SuiteSpec:
    """A suite: the SQL that builds its batch and the expectations on that batch."""

    name: str
    description: str
    query: str
    expectations: tuple[ExpectationSpec, ...]
    #: Key columns: the only values copied into sample lists (never other, possibly PII, columns).
    key: tuple[str, ...] = ()
    #: True when the batch holds personal data: results then keep counts only, never values.
    pii: bool = False
    #: Name of an extra DuckDB file the query reads (e.g. `published`); missing file = skipped.
    attach: str | None = None
    #: Column whose value on a failing row is quoted in the failure message (e.g. both counts of
    #: a volume comparison). Not allowed on `pii` suites.
    explain: str | None = None
    #: The clean table (`clean.<entity>`) whose delta copy replaces it after a delta cleaning
    #: (`pipeline.quality.delta_scope`); the query must read it as `FROM <table>`.
    delta: str | None = None

    @property
    def sql_parameters(self) -> tuple[str, ...]:
        """Named parameters (`$as_of`) the query uses; DuckDB rejects unused ones."""
        return tuple(dict.fromkeys(_SQL_PARAM.findall(self.query)))

    def to_gx(self) -> gx.ExpectationSuite:
        """A fresh GX suite built from this definition (the files stay the source of truth)."""
        return gx.ExpectationSuite(
            name=self.name,
            expectations=[e.to_gx() for e in self.expectations],
            meta={"description": self.description},
        )


@dataclass(frozen=True)
class GateSpec:
    """One gate file: the suites one Dagster asset check runs on the asset it protects."""

    name: str
    description: str
    level: str
    suites: tuple[SuiteSpec, ...] = field(default_factory=tuple)

    @property
    def expectation_count(self) -> int:
        """How many expectations the gate evaluates when no suite is skipped."""
        return sum(len(s.expectations) for s in self.suites)


def _expectation(raw: Any, where: str) -> ExpectationSpec:
    if not isinstance(raw, dict) or "type" not in raw:
        raise SuiteDefinitionError(f"{where}: each expectation needs a 'type'")
    severity = raw.get("severity", "error")
    if severity not in SEVERITIES:
        raise SuiteDefinitionError(f"{where}: severity must be error or warn, got {severity!r}")
    unknown = set(raw) - {"type", "kwargs", "severity", "notes"}
    if unknown:
        raise SuiteDefinitionError(f"{where}: unknown keys {sorted(unknown)}")
    spec = ExpectationSpec(
        type=raw["type"],
        kwargs=dict(raw.get("kwargs") or {}),
        severity=severity,
        notes=raw.get("notes"),
    )
    # Build once now so a typo in a type or kwarg fails when the file loads, not mid-run.
    try:
        spec.to_gx()
    except Exception as exc:  # GX raises several unrelated types for bad configurations
        raise SuiteDefinitionError(f"{where}: invalid expectation {spec.label}: {exc}") from exc
    return spec


def _suite(raw: Any, where: str) -> SuiteSpec:
    if not isinstance(raw, dict):
        raise SuiteDefinitionError(f"{where}: a suite must be a mapping")
    missing = {"name", "query", "expectations"} - set(raw)
    if missing:
        raise SuiteDefinitionError(f"{where}: missing {sorted(missing)}")
    name = raw["name"]
    if not _NAME.match(name):
        raise SuiteDefinitionError(f"{where}: suite name {name!r} must match {_NAME.pattern}")
    key = raw.get("key") or []
    explain = raw.get("explain")
    if explain is not None and (not isinstance(explain, str) or raw.get("pii")):
        raise SuiteDefinitionError(
            f"{where}: suite {name}: explain must name one column, and pii suites quote nothing"
        )
    delta = raw.get("delta")
    if delta is not None and not (
        isinstance(delta, str)
        and delta.startswith("clean.")
        and delta_pattern(delta).search(raw["query"])
    ):
        raise SuiteDefinitionError(
            f"{where}: suite {name}: delta must name a clean table the query reads as FROM <table>"
        )
    expectations = tuple(
        _expectation(e, f"{where} suite {name} #{i + 1}") for i, e in enumerate(raw["expectations"])
    )
    if not expectations:
        raise SuiteDefinitionError(f"{where}: suite {name} has no expectations")
    return SuiteSpec(
        name=name,
        description=str(raw.get("description", "")).strip(),
        query=raw["query"],
        expectations=expectations,
        key=tuple([key] if isinstance(key, str) else key),
        pii=bool(raw.get("pii", False)),
        attach=raw.get("attach"),
        explain=explain,
        delta=delta,
    )


def delta_pattern(table: str) -> re.Pattern[str]:
    """`FROM <table>` as a suite query reads it (the text a delta batch replaces)."""
    return re.compile(rf"\bFROM\s+{re.escape(table)}\b(?![\w.])", re.IGNORECASE)


def parse_gate(text: str, source: str = "<string>") -> GateSpec:
    """Parse one gate file's YAML text into a `GateSpec`, rejecting malformed definitions."""
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or "gate" not in raw or "suites" not in raw:
        raise SuiteDefinitionError(f"{source}: needs 'gate' and 'suites'")
    suites = tuple(_suite(s, source) for s in raw["suites"])
    names = [s.name for s in suites]
    if len(set(names)) != len(names):
        raise SuiteDefinitionError(f"{source}: duplicate suite names {names}")
    return GateSpec(
        name=raw["gate"],
        description=str(raw.get("description", "")).strip(),
        level=raw.get("level", ""),
        suites=suites,
    )


@cache
def load_gate(name: str, directory: Path = EXPECTATIONS_DIR) -> GateSpec:
    """The gate defined in `expectations/<name>.yml` (cached: read-only at run time)."""
    path = directory / f"{name}.yml"
    gate = parse_gate(path.read_text(encoding="utf-8"), str(path))
    if gate.name != name:
        raise SuiteDefinitionError(f"{path}: gate name {gate.name!r} differs from the file name")
    return gate


def gate_names(directory: Path = EXPECTATIONS_DIR) -> list[str]:
    """Every gate defined under `expectations/`, sorted."""
    return sorted(p.stem for p in directory.glob("*.yml"))
