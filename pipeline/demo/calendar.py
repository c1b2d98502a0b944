"""The demo timeline: ~3 years of history before as_of with seasonal weights per day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from pipeline.demo import reference as ref

EPOCH = date(1970, 1, 1)
HISTORY_DAYS = 3 * 365


def to_epoch_day(value: date) -> int:
    """Days since 1970-01-01 (the integer representation used for every date in the generator)."""
    return (value - EPOCH).days


def month_of(days: np.ndarray) -> np.ndarray:
    """Calendar month (1..12) of an array of epoch days."""
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months % 12 + 1


def year_of(days: np.ndarray) -> np.ndarray:
    """Calendar year of an array of epoch days."""
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


@dataclass(frozen=True)
class Calendar:
    """Seasonal day sampler over [start, as_of].

    `cum[i]` is the total weight of the days `start .. start + i - 1`, so drawing a uniform value
    between `cum[lo - start]` and `cum[hi - start + 1]` and inverting the cumulative sum samples a
    day in [lo, hi] proportionally to the seasonal weights, for every row at once.
    """

    start: int
    as_of: int
    cum: np.ndarray

    @classmethod
    def build(cls, as_of: date, history_days: int = HISTORY_DAYS) -> Calendar:
        """Calendar ending at `as_of` with `history_days` days of history before it."""
        end = to_epoch_day(as_of)
        start = end - history_days
        days = np.arange(start, end + 1, dtype=np.int64)
        weights = ref.MONTH_WEIGHTS[month_of(days) - 1] * (1.0 + ref.YEARLY_GROWTH) ** (
            (days - end) / 365.0
        )
        cum = np.concatenate([[0.0], np.cumsum(weights)])
        return cls(start=start, as_of=end, cum=cum)

    def sample(self, lo: np.ndarray, hi: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One seasonal day in [lo, hi] (inclusive, epoch days) per row, driven by uniforms `u`."""
        lo = np.clip(lo, self.start, self.as_of)
        hi = np.clip(np.maximum(hi, lo), self.start, self.as_of)
        a = self.cum[lo - self.start]
        b = self.cum[hi - self.start + 1]
        idx = np.searchsorted(self.cum, a + u * (b - a), side="right") - 1
        return np.clip(self.start + idx, lo, hi)
