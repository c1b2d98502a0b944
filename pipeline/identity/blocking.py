"""Blocking: which pairs of records the model compares at all.

A duplicate is only found if it shares at least one blocking key with its original, so the keys
are chosen so that every field can be corrupted and some key still survives: exact keys (same
mailbox, phone, name + birth date, address), phonetic keys of the names (typos and respellings),
name prefixes (typos late in a name), postal code + birth year and initials + birth date (both
names corrupted), address words + postal code (names and birth date corrupted), birth date +
postal code, and swapped first/last names.

Each key is an equi-join, so the work grows with the size of the key groups, not with N^2. A
key value shared by more than MAX_GROUP records (postal code + birth year in a big town at 1M
records, a placeholder phone) carries little identity and would cost millions of pairs: such
values are dropped from that key only; the other keys still cover their records.

Keys are columns of the features table (`add_blocking_keys`), so a later incremental run can
look new records up by the same keys against existing ones.
"""

from __future__ import annotations

import duckdb
from splink import block_on

#: Largest group of records sharing one key value that is still compared pairwise
#: (MAX_GROUP^2 / 2 = 5,000 comparisons for one value).
MAX_GROUP = 100


def _key(*columns: str) -> str:
    """SQL: the columns joined by '|', NULL as soon as one is NULL."""
    return " || '|' || ".join(columns)


#: Blocking keys: name -> SQL over the features. Order matters only for reporting (splink counts
#: a pair under the first rule that produces it).
BLOCKING_KEYS: dict[str, str] = {
    "email": "email_canon",
    "phone": "phone",
    "last_name_dob": _key("last_name_f", "dob_key"),
    "first_name_dob": _key("first_name_f", "dob_key"),
    "names_postcode": _key("first_name_f", "last_name_f", "postal_code_f"),
    "phonetic_names_year": _key("first_ph", "last_ph", "birth_year"),
    "phonetic_names_postcode": _key("first_ph", "last_ph", "postal_code_f"),
    "name_prefixes_postcode": _key(
        "substr(first_name_f, 1, 2)", "substr(last_name_f, 1, 3)", "postal_code_f"
    ),
    "initials_dob": _key("substr(first_name_f, 1, 1)", "substr(last_name_f, 1, 1)", "dob_key"),
    "postcode_year": _key("postal_code_f", "birth_year"),
    "dob_postcode": _key("dob_key", "postal_code_f"),
    "address": _key("house_number", "substr(street_key, 1, 4)"),
    "first_name_postcode": _key("first_name_f", "postal_code_f"),
    "last_name_postcode": _key("last_name_f", "postal_code_f"),
    "street_postcode": _key("street_key", "postal_code_f"),
    "street_names": _key("street_key", "last_ph"),
    "phonetic_names": _key("first_ph", "last_ph"),
    "email_user": "email_local",
}
#: Swapped names, which no equi-join of a column with itself finds: both names swapped
#: (phonetically), or one name entered in the other field with the same birth date.
SWAP_KEYS = {
    "bk_swap_a": _key("first_ph", "last_ph"),
    "bk_swap_b": _key("last_ph", "first_ph"),
    "bk_moved_a": _key("first_ph", "dob_key"),
    "bk_moved_b": _key("last_ph", "dob_key"),
}
SWAP_RULES = (
    "l.bk_swap_a = r.bk_swap_b",
    "l.bk_moved_a = r.bk_moved_b",
    "l.bk_moved_b = r.bk_moved_a",
)


def _column(name: str) -> str:
    return f"bk_{name}"


def add_blocking_keys(con: duckdb.DuckDBPyConnection, features: str) -> None:
    """Add one column per blocking key to `features` (NULL where the value is too common)."""
    capped = ",\n".join(
        f"CASE WHEN count(*) OVER (PARTITION BY {expr}) <= {MAX_GROUP} THEN {expr} END "
        f"AS {_column(name)}"
        for name, expr in BLOCKING_KEYS.items()
    )
    swap = ",\n".join(f"{expr} AS {name}" for name, expr in SWAP_KEYS.items())
    con.execute(
        f"CREATE OR REPLACE TABLE {features} AS SELECT *, {capped}, {swap} FROM {features} "
        f"ORDER BY unique_id"
    )


def blocking_rules() -> list:
    """Splink blocking rules on the key columns (plus the swapped-names rule)."""
    return [block_on(_column(name)) for name in BLOCKING_KEYS] + list(SWAP_RULES)


def blocked_pairs(con: duckdb.DuckDBPyConnection, features: str, target: str) -> int:
    """Create table `target` (id_l, id_r) with every distinct pair the blocking keys produce.

    Used to report the candidate pairs and the pair recall of the blocking alone; the model
    receives the same pairs through `blocking_rules`. Adds the key columns when missing.
    """
    columns = {r[0] for r in con.execute(f"DESCRIBE {features}").fetchall()}
    if _column(next(iter(BLOCKING_KEYS))) not in columns:
        add_blocking_keys(con, features)
    joins = [
        f"SELECT l.unique_id AS id_l, r.unique_id AS id_r FROM {features} l "
        f"JOIN {features} r ON l.{_column(name)} = r.{_column(name)} "
        f"AND l.unique_id < r.unique_id"
        for name in BLOCKING_KEYS
    ]
    joins += [
        f"SELECT least(l.unique_id, r.unique_id), greatest(l.unique_id, r.unique_id) "
        f"FROM {features} l JOIN {features} r ON {rule} AND l.unique_id <> r.unique_id"
        for rule in SWAP_RULES
    ]
    con.execute(f"CREATE OR REPLACE TABLE {target} AS {' UNION '.join(joins)}")
    return con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
