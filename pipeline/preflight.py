"""Pre-flight of a refresh's run config, before Dagster starts (`segments refresh`).

It composes the resources' own checks (`problems()` of settings, warehouse and serving; see
`pipeline.lib.preflight`) with those of the domains that `pipeline.lib` may not import: the
mapping file parses and is valid (ingest). It sits beside `definitions.py` because, like it, it
brings the domains together.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PreflightReport:
    """What `preflight` found, and how long it took."""

    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the run may start."""
        return not self.problems


def preflight(run_config: dict[str, Any], *, landing_required: bool = True) -> PreflightReport:
    """Check a refresh's run config without starting Dagster (see the module docstring).

    Builds the three resources a refresh configures (settings, warehouse, serving) from the run
    config and collects their problems; with `landing_required`, the landing folder must exist.
    """
    from pydantic import ValidationError

    from pipeline.lib.resources import RefreshSettings, Warehouse
    from pipeline.serving.options import ServingOptions

    started = time.perf_counter()
    report = PreflightReport()
    resources = run_config.get("resources", {})
    built: dict[str, Any] = {}
    for key, cls in (("settings", RefreshSettings), ("warehouse", Warehouse)):
        try:
            built[key] = cls(**resources.get(key, {}).get("config", {}))
        except ValidationError as exc:
            report.problems += [
                f"{key}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors()
            ]
    serving = ServingOptions(**resources.get("serving", {}).get("config", {}))
    if "settings" in built:
        settings: RefreshSettings = built["settings"]
        report.problems += settings.problems()
        landing = settings.landing_path()
        if landing_required and not landing.is_dir():
            report.problems.append(f"landing folder {landing} does not exist")
        mapping = settings.mapping_path()
        if mapping is not None:
            from pipeline.ingest.mapping import load_mapping

            try:
                load_mapping(mapping)
            except (ValueError, OSError) as exc:  # MappingError is a ValueError
                report.problems.append(f"mapping file: {exc}")
    if "warehouse" in built:
        report.problems += built["warehouse"].problems()
    report.problems += serving.problems()
    report.seconds = time.perf_counter() - started
    return report
