"""Automation settings: the refresh cadence and the sensors' thresholds, from a small YAML file.

The values shape definitions (a schedule's cron string, a sensor's interval), so they are read
when the code location loads, not per run: they cannot live in run config. Defaults match
`config/automation.yaml`; a missing file means defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_FILE = REPO_ROOT / "config" / "automation.yaml"
CONFIG_ENV = "SEGMENTS_AUTOMATION_CONFIG"
WEBHOOK_ENV = "SEGMENTS_ALERT_WEBHOOK"

MIN_CADENCE_MONTHS = 3
MAX_CADENCE_MONTHS = 6


def check_cadence(cadence_months: int) -> int:
    """Return `cadence_months` if it is an allowed refresh cadence (3..6), else raise ValueError.

    Segments move slowly: refreshing more often than quarterly mostly shows noise, and less often
    than half-yearly lets campaigns run on stale segments.
    """
    if isinstance(cadence_months, bool) or not isinstance(cadence_months, int):
        raise ValueError(f"cadence_months must be an integer, got {cadence_months!r}")
    if not MIN_CADENCE_MONTHS <= cadence_months <= MAX_CADENCE_MONTHS:
        raise ValueError(
            f"cadence_months must be between {MIN_CADENCE_MONTHS} and {MAX_CADENCE_MONTHS} "
            f"(a refresh every 3 to 6 months), got {cadence_months}"
        )
    return cadence_months


def check_timezone(timezone: str) -> str:
    """Return `timezone` if it is an IANA timezone name (e.g. Europe/Paris), else raise."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown timezone {timezone!r} (use an IANA name such as Europe/Paris)"
        ) from exc
    return timezone


class _Section(BaseModel):
    # A typo in the YAML must fail loudly rather than silently keep a default.
    model_config = ConfigDict(extra="forbid")


class ScheduleConfig(_Section):
    """The periodic refresh: every `cadence_months` months on the 1st at `hour` in `timezone`."""

    cadence_months: int = 3
    timezone: str = "Europe/Paris"
    hour: int = Field(default=6, ge=0, le=23)
    enabled: bool = True

    @field_validator("cadence_months")
    @classmethod
    def _valid_cadence(cls, value: int) -> int:
        return check_cadence(value)

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        return check_timezone(value)


class KpiDropConfig(_Section):
    """When a KPI move in `history.kpi_history` is large enough to refresh early."""

    enabled: bool = True
    minimum_interval_seconds: int = Field(default=300, ge=1)
    window_refreshes: int = Field(default=1, ge=1)
    nps_drop_points: float = Field(default=10.0, gt=0)
    churn_rate_rise: float = Field(default=0.05, gt=0)
    watched_segments: list[str] = Field(default_factory=lambda: ["Champions"])


class NewDataConfig(_Section):
    """Watching the landing directory for new or changed exports."""

    enabled: bool = True
    minimum_interval_seconds: int = Field(default=60, ge=1)
    settle_seconds: float = Field(default=60.0, ge=0)


class BusinessEventsConfig(_Section):
    """Watching `<state>/triggers/` for business-event files."""

    enabled: bool = True
    minimum_interval_seconds: int = Field(default=30, ge=1)


class RunFailureConfig(_Section):
    """Alerting on failed refreshes."""

    enabled: bool = True
    webhook_url: str = ""
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)

    def resolved_webhook_url(self) -> str:
        """The webhook to call: $SEGMENTS_ALERT_WEBHOOK when set (secrets stay out of git)."""
        return os.environ.get(WEBHOOK_ENV, "") or self.webhook_url


class AutomationConfig(_Section):
    """Everything `config/automation.yaml` may hold."""

    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    kpi_drop: KpiDropConfig = Field(default_factory=KpiDropConfig)
    new_data: NewDataConfig = Field(default_factory=NewDataConfig)
    business_events: BusinessEventsConfig = Field(default_factory=BusinessEventsConfig)
    run_failure: RunFailureConfig = Field(default_factory=RunFailureConfig)


def config_path() -> Path:
    """The automation YAML in use: $SEGMENTS_AUTOMATION_CONFIG, else config/automation.yaml."""
    env = os.environ.get(CONFIG_ENV)
    return Path(env).expanduser().resolve() if env else DEFAULT_CONFIG_FILE


def load_automation_config(path: Path | str | None = None) -> AutomationConfig:
    """Read and validate the automation YAML (a missing file gives the defaults).

    Errors name the file and the offending key, e.g. a cadence of 7 months.
    """
    file = Path(path) if path is not None else config_path()
    if not file.exists():
        return AutomationConfig()
    raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{file}: expected a mapping at the top level")
    try:
        return AutomationConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{file}: invalid automation config:\n{exc}") from exc
