"""Fault injection into the landing tables, with the ground truth of every bad row.

Each landing table is a `pyarrow.Table` of string columns in final row order. A fault replaces one
value of one row with a bad one derived from the original value (so it stays plausible) and is
recorded as (file, 1-based data row, column, reason code). One row carries at most one fault, and
only rows flagged eligible by the caller are touched (e.g. orders without refunds), so that a fault
never hides another expectation of the demo.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.demo import reference as ref

logger = logging.getLogger(__name__)

#: Planted rows cleaning must quarantine, by the reason the ingest gives them (each is one of
#: `pipeline.ingest.rules.REASONS`: tests/test_demo_generator.py checks it).
QUARANTINED = (
    "missing_required",
    "unparsable_date",
    "implausible_date",
    "invalid_amount",
    "negative_amount",
    "unknown_status",
    "duplicate_order_id",
    "invalid_email",
    "extra_fields",
    "missing_fields",
)
#: Planted rows the pipeline must keep, which are not faults of the row itself:
#: `unknown_customer`, an order of a customer missing from the customer export (cleaning keeps it
#: and derives the customer, `derived_from_orders`), and `deferred`, a row dated after the as-of
#: date (the export was taken later): left for a later refresh, neither used nor quarantined.
KEPT = ("unknown_customer", "deferred")
#: Every code of the ground truth's `expected_reason_code` column.
REASON_CODES = QUARANTINED + KEPT
#: Dates real exports hold that no business event has: placeholders and typos of old eras.
IMPLAUSIBLE_DAYS = (date(1899, 12, 31), date(1, 1, 1), date(1850, 6, 15))
#: How long after the as-of date the export behind the demo was taken.
EXPORT_LAG_DAYS = 60
UNKNOWN_STATUSES = ("shipped", "pending", "on_hold")


@dataclass(frozen=True)
class Fault:
    """One injected bad value: `row` is 1-based over data rows (header excluded)."""

    file: str
    row: int
    column: str
    reason: str


@dataclass(frozen=True)
class FaultSpec:
    """Inject `reason` into `column`; `kind` says how dates are written ("date" or "timestamp")."""

    reason: str
    column: str
    #: "date" or "timestamp"; "two_digit_year" writes a day-first date with a 2-digit year.
    kind: str = "date"


def fault_count(rows: int) -> int:
    """How many faults of one kind a file of `rows` rows receives."""
    return int(min(ref.MAX_FAULTS, max(ref.MIN_FAULTS, round(rows * ref.FAULT_RATE))))


class FaultInjector:
    """Applies fault specs to tables and accumulates the ground truth."""

    def __init__(self, rng: np.random.Generator, as_of: date) -> None:
        self.rng = rng
        self.as_of = as_of
        self.faults: list[Fault] = []

    def record(self, file: str, rows: np.ndarray, column: str, reason: str) -> None:
        """Register faults that the caller created itself (0-based `rows`)."""
        self.faults.extend(Fault(file, int(i) + 1, column, reason) for i in rows)

    def inject(
        self,
        file: str,
        table: pa.Table,
        specs: Sequence[FaultSpec],
        eligible: np.ndarray,
        day_first: bool = False,
    ) -> pa.Table:
        """Return `table` with `fault_count(rows)` faults per spec on distinct eligible rows."""
        k = fault_count(table.num_rows)
        candidates = np.flatnonzero(eligible)
        # A random pool a few times larger than needed (some values may be empty) instead of
        # shuffling millions of rows.
        pool = min(len(candidates), 4 * k * len(specs) + 64)
        order = self.rng.choice(candidates, pool, replace=False)
        used = np.zeros(table.num_rows, dtype=bool)
        for spec in specs:
            column = table[spec.column].combine_chunks()
            # Rows whose value is already empty cannot show a bad value in that column.
            present = pc.is_valid(column).to_numpy(zero_copy_only=False)
            rows = order[~used[order] & present[order]][:k]
            if len(rows) < k:
                logger.warning("%s: only %d rows for %s", file, len(rows), spec.reason)
            if len(rows) == 0:
                continue
            used[rows] = True
            rows = np.sort(rows)
            originals = column.take(pa.array(rows)).to_pylist()
            bad = [self._bad_value(spec, v, day_first) for v in originals]
            mask = np.zeros(table.num_rows, dtype=bool)
            mask[rows] = True
            patched = pc.replace_with_mask(column, pa.array(mask), pa.array(bad, pa.string()))
            table = table.set_column(
                table.schema.get_field_index(spec.column), spec.column, patched
            )
            self.record(file, rows, spec.column, spec.reason)
        return table

    def _format_day(self, value: date, kind: str, day_first: bool) -> str:
        if day_first:
            text = f"{value.day:02d}/{value.month:02d}/{value.year:04d}"
            return text + " 10:12" if kind == "timestamp" else text
        text = f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        return text + " 10:12:00" if kind == "timestamp" else text

    def _bad_value(self, spec: FaultSpec, value: str, day_first: bool) -> str | None:
        pick = int(self.rng.integers(0, 3))
        reason = spec.reason
        if reason == "missing_required":
            return None
        if reason == "unparsable_date" and spec.kind == "two_digit_year":
            # '05/03/85' among four-digit years: never read as year 0085 (nor guessed).
            return value[:6] + value[8:10] if day_first else value[2:10]
        if reason == "unparsable_date":
            year = value[6:10] if day_first else value[:4]
            day = value[:2] if day_first else value[8:10]
            if day_first:
                return (f"30/02/{year}", f"{day}/13/{year}", f"00/00/{year}")[pick]
            return (f"{year}-02-30", f"{year}-13-{day}", f"{year}-00-00")[pick]
        if reason == "deferred":
            later = self.as_of + timedelta(days=int(self.rng.integers(1, EXPORT_LAG_DAYS + 1)))
            return self._format_day(later, spec.kind, day_first)
        if reason == "implausible_date":
            return self._format_day(IMPLAUSIBLE_DAYS[pick], spec.kind, day_first)
        if reason == "invalid_amount":
            return ("#VALUE!", f"{value}.00", "O" + value[1:])[pick]
        if reason == "negative_amount":
            return "-" + value
        if reason == "unknown_status":
            return UNKNOWN_STATUSES[pick]
        if reason == "invalid_email":
            local, _, domain = value.partition("@")
            return (f"{local}.{domain}", f"{local}@", f"{local}@@{domain}")[pick]
        raise ValueError(f"no generator for fault {reason}")
