"""Why a run happened: the run tags every trigger writes and every reader of them parses.

A schedule or sensor states its reason once, as a `RunReason`; the reason travels as run tags
(`segments/trigger`, `segments/reason`, `segments/reason_metric`...), which the publication copies
into `refresh_info` of the serving file, the report prints in its header and the alerts table
keeps. Shared code: the automation domain writes reasons, serving, report and CLI read them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TAG_AS_OF = "segments/as_of"
TAG_TRIGGER = "segments/trigger"
TAG_REASON = "segments/reason"
TAG_METRIC = "segments/reason_metric"
TAG_SEGMENT = "segments/reason_segment"
TAG_BEFORE = "segments/reason_before"
TAG_AFTER = "segments/reason_after"
TAG_THRESHOLD = "segments/reason_threshold"
#: Run tags hold short labels: long notes or file lists are cut.
MAX_TAG_CHARS = 200

#: SQL types of `RunReason.columns()` (refresh_info, alerts).
COLUMN_TYPES = {
    "trigger": "VARCHAR",
    "reason": "VARCHAR",
    "reason_metric": "VARCHAR",
    "reason_segment": "VARCHAR",
    "reason_before": "DOUBLE",
    "reason_after": "DOUBLE",
    "reason_threshold": "DOUBLE",
}
#: Trigger kinds and how people read them.
KINDS = {
    "cli": "segments refresh (command line)",
    "schedule": "scheduled refresh",
    "new_data": "new exports in the landing directory",
    "kpi_drop": "KPI drop seen by the monitoring job",
    "business_event": "business event",
    "backfill": "backfill of a past as-of date",
    "kpi_monitor": "new KPI feed answers to monitor",
    "manual": "started by hand",
}


def short(text: str, limit: int = MAX_TAG_CHARS) -> str:
    """`text` cut to `limit` characters (run tags are labels, not documents)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


@dataclass(frozen=True)
class RunReason:
    """Why one run was started: its kind, a sentence, and for KPI triggers the measured move."""

    kind: str
    summary: str
    metric: str = ""
    segment: str = ""
    before: float | None = None
    after: float | None = None
    threshold: float | None = None
    #: More tags for the run (e.g. `segments/new_files`), kept verbatim.
    extra: dict[str, str] = field(default_factory=dict)

    def tags(self, as_of: str | None = None) -> dict[str, str]:
        """The run tags of this reason (and of the as-of date when given)."""
        tags = {TAG_TRIGGER: self.kind, TAG_REASON: short(self.summary)}
        if as_of:
            tags[TAG_AS_OF] = as_of
        if self.metric:
            tags[TAG_METRIC] = self.metric
        if self.segment:
            tags[TAG_SEGMENT] = self.segment
        for tag, value in ((TAG_BEFORE, self.before), (TAG_AFTER, self.after)):
            if value is not None:
                tags[tag] = f"{value:.6g}"
        if self.threshold is not None:
            tags[TAG_THRESHOLD] = f"{self.threshold:g}"
        return {**tags, **{k: short(v) for k, v in self.extra.items()}}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> RunReason:
        """The reason of a run from its tags; runs started by hand read as `manual`."""
        kind = tags.get(TAG_TRIGGER) or "manual"
        return cls(
            kind=kind,
            summary=tags.get(TAG_REASON) or KINDS.get(kind, kind),
            metric=tags.get(TAG_METRIC, ""),
            segment=tags.get(TAG_SEGMENT, ""),
            before=_number(tags.get(TAG_BEFORE)),
            after=_number(tags.get(TAG_AFTER)),
            threshold=_number(tags.get(TAG_THRESHOLD)),
        )

    def columns(self) -> dict[str, Any]:
        """The reason as table columns (refresh_info, alerts): trigger, reason, reason_*."""
        return {
            "trigger": self.kind,
            "reason": self.summary,
            "reason_metric": self.metric or None,
            "reason_segment": self.segment or None,
            "reason_before": self.before,
            "reason_after": self.after,
            "reason_threshold": self.threshold,
        }
