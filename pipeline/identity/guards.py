"""Precision guards: evidence that two records are different people, whatever else matches.

The classic false merges in customer data share a lot: a household shares address and landline,
twins also share last name and birth date, homonyms share first name, last name and town. What
tells them apart is a clearly different first name or a clearly different birth date. These
guards are applied to every candidate link (deterministic or probabilistic) and, during
clustering, to every pair of records two clusters would bring together, so chains of individually
plausible links cannot join two people either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: First names at least this similar (Jaro-Winkler on folded names) may be the same person.
FIRST_NAME_MIN_SIMILARITY = 0.85
#: Swapped first/last names (with typos) must be at least this similar on both sides.
SWAPPED_MIN_SIMILARITY = 0.80


@dataclass(frozen=True)
class Profile:
    """The fields of one source record the guards look at (folded names, birth date, gender)."""

    first_name: str | None
    last_name: str | None
    birth_date: dt.date | None
    gender: str | None = None


def gender_code(value: str | None) -> str | None:
    """'m' or 'f' from the usual spellings (M, male, H, homme, F, female, femme), else None."""
    if not value or not value.strip():
        return None
    first = value.strip()[0].lower()
    return {"m": "m", "h": "m", "f": "f"}.get(first)


def jaro_winkler(a: str, b: str, prefix_scale: float = 0.1) -> float:
    """Jaro-Winkler similarity in [0, 1] (same definition as DuckDB's jaro_winkler_similarity)."""
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    window = max(max(la, lb) // 2 - 1, 0)
    matched_a = [False] * la
    matched_b = [False] * lb
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(lb, i + window + 1)):
            if not matched_b[j] and b[j] == ch:
                matched_a[i] = matched_b[j] = True
                matches += 1
                break
    if not matches:
        return 0.0
    transpositions = 0
    j = 0
    for i in range(la):
        if matched_a[i]:
            while not matched_b[j]:
                j += 1
            if a[i] != b[j]:
                transpositions += 1
            j += 1
    m = float(matches)
    jaro = (m / la + m / lb + (m - transpositions / 2) / m) / 3
    prefix = 0
    for ca, cb in zip(a[:4], b[:4], strict=False):
        if ca != cb:
            break
        prefix += 1
    return jaro + prefix * prefix_scale * (1 - jaro)


def _levenshtein_at_most_one(a: str, b: str) -> bool:
    """True when a and b differ by at most one substitution, insertion or deletion."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def first_names_compatible(a: Profile, b: Profile, strict: bool = True) -> bool:
    """Could these first names belong to one person (typo, initial, compound name, swap)?

    A missing first name is compatible with anything: absence is not evidence. `strict=False`
    is used between records that are not directly linked but would share a cluster: two typo
    variants of one name ('cecale' / 'cicile') may be two edits apart.
    """
    fa, fb = a.first_name, b.first_name
    if not fa or not fb or fa == fb:
        return True
    if not strict and min(len(fa), len(fb)) >= 5 and _levenshtein(fa, fb) <= 2:
        return True
    # A typo: similar overall, or one edit apart (Jaro-Winkler is harsh on short names: guy/gyy).
    if jaro_winkler(fa, fb) >= FIRST_NAME_MIN_SIMILARITY or _levenshtein_at_most_one(fa, fb):
        return True
    # 'jean' vs 'jean pierre', or an initial 'm' vs 'marie'.
    if fa.split()[0] == fb.split()[0] or fa.startswith(fb) or fb.startswith(fa):
        return True
    # First and last names swapped between the two records, possibly with a typo on one side.
    if a.last_name and b.last_name:
        return (
            jaro_winkler(fa, b.last_name) >= SWAPPED_MIN_SIMILARITY
            and jaro_winkler(a.last_name, fb) >= SWAPPED_MIN_SIMILARITY
        )
    return False


def birth_dates_compatible(a: Profile, b: Profile) -> bool:
    """Could these birth dates belong to one person (equal, one-digit typo, day/month swap)?"""
    da, db = a.birth_date, b.birth_date
    if da is None or db is None or da == db:
        return True
    if da.year == db.year and da.month == db.day and da.day == db.month:
        return True
    return _levenshtein_at_most_one(da.strftime("%Y%m%d"), db.strftime("%Y%m%d"))


def genders_compatible(a: Profile, b: Profile) -> bool:
    """Different genders with different first names (Louis / Louise twins) are two people.

    Gender alone is not trusted (data entry errors are common), only together with a first name
    that is not exactly the same.
    """
    if a.gender is None or b.gender is None or a.gender == b.gender:
        return True
    return bool(a.first_name and a.first_name == b.first_name)


def conflict(a: Profile, b: Profile, strict: bool = True) -> str | None:
    """Name of the guard that says a and b are different people, or None.

    `strict` applies to the two records of a link; clusters compare their other members with
    `strict=False` (see first_names_compatible).
    """
    if not first_names_compatible(a, b, strict):
        return "first_name_conflict"
    if not genders_compatible(a, b):
        return "gender_conflict"
    if not birth_dates_compatible(a, b):
        return "birth_date_conflict"
    return None
