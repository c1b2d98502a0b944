"""The SQL fast path for plain French numbers gives exactly what `phonenumbers` gives."""

from __future__ import annotations

import random

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.ingest.phones import fr_plain_e164_sql, to_e164

TRICKY = [
    "06 12 34 56 78",
    "0612345678",
    "+33612345678",
    "+33 6 12 34 56 78",
    "01 23 45 67 89",
    "09 99 99 99 99",
    "+33 1 23 45 67 89",
    "0012345678",  # 0 then 0: not plain, left to phonenumbers
    "+33 06 12 34 56 78",  # trunk 0 after the country code: left to phonenumbers
    "061234567",  # a digit short
    "06123456789",  # a digit too many
    "+3361234567",
    "+44 20 7946 0958",
    "06.12.34.56.78",  # dots: left to phonenumbers
    "06-12-34-56-78",
    "(0)6 12 34 56 78",
    "+33\u00a06 12 34 56 78",  # non-breaking space: left to phonenumbers
    "0 6 1 2 3 4 5 6 7 8",
    "",
    "abc",
]


def _fast(values: list[tuple[str, str]]) -> list[str | None]:
    con = duckdb.connect()
    con.execute("CREATE TABLE v (i INTEGER, raw VARCHAR, region VARCHAR)")
    rows = [(i, raw, region) for i, (raw, region) in enumerate(values)]
    con.executemany("INSERT INTO v VALUES (?, ?, ?)", rows)
    sql = fr_plain_e164_sql("raw", "region")
    return [row[0] for row in con.execute(f"SELECT {sql} FROM v ORDER BY i").fetchall()]


def _check(values: list[tuple[str, str]]) -> int:
    """Every value the fast path converts is converted identically by phonenumbers."""
    converted = 0
    for (raw, region), fast in zip(values, _fast(values), strict=True):
        if fast is not None:
            converted += 1
            assert fast == to_e164(raw, region), (raw, region, fast)
    return converted


def test_tricky_values_agree_with_phonenumbers() -> None:
    values = [(v, "FR") for v in TRICKY] + [(v, "BE") for v in TRICKY]
    assert _check(values) == 8  # the 8 plain French forms above, and only for region FR
    assert _fast([("06 12 34 56 78", "FR")]) == ["+33612345678"]
    assert _fast([("06 12 34 56 78", "BE")]) == [None]


def test_generated_french_numbers_agree_with_phonenumbers() -> None:
    rng = random.Random(7)
    values = []
    for _ in range(5000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.choice([8, 9, 10])))
        spaced = " ".join(digits[i : i + 2] for i in range(0, len(digits), 2))
        prefix = rng.choice(["0", "+33", "+33 ", "0033", ""])
        values.append((prefix + rng.choice([digits, spaced]), "FR"))
    assert _check(values) > 500


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="+0123456789 .-()", max_size=16))
def test_any_short_text_agrees_with_phonenumbers(raw: str) -> None:
    _check([(raw, "FR")])
