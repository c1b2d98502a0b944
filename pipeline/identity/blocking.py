"""Blocking: which pairs of records the model compares at all.

A duplicate is only found if it shares at least one blocking key with its original, so the keys
are chosen so that every field can be corrupted and some key still survives: exact keys (same
mailbox, phone, name + birth date, address), phonetic keys of the names (typos and respellings),
name prefixes (typos late in a name), postal code + birth year and initials + birth date (both
names corrupted), address words + postal code (names and birth date corrupted), birth date +
postal code, the town versions of the postal-code keys (a postal code with a changed or swapped
digit, or none), street word + birth date, and swapped first/last names.

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
#: (at most 435 comparisons for one value). Loose keys (a first name + postal code) work on a few
#: thousand records and switch themselves off, value by value, where they would cost too much.
MAX_GROUP = 15
LOOSE_MAX_GROUP = 5


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
    "dob_postcode": _key("dob_key", "postal_code_f"),
    "address": _key("house_number", "substr(street_key, 1, 4)"),
    # The town mirrors of the postal-code keys: a postal code with a changed or swapped digit
    # (or none) loses every postal-code key, the town survives it. (dob_town is loose, below.)
    "name_prefixes_town": _key("substr(first_name_f, 1, 2)", "substr(last_name_f, 1, 3)", "city_f"),
    # Both names and the location corrupted: the street's name and the birth date survive.
    "street_dob": _key("street_key", "dob_key"),
    "email_user": "email_local",
    # Loose keys: each finds a few duplicates no other key finds on typo-heavy sets (measured
    # on the Febrl sets: 0.1-0.5% of true pairs each) but, in a big town, groups of thousands.
    # Their values are compared only in groups of at most LOOSE_MAX_GROUP records.
    "postcode_year": _key("postal_code_f", "birth_year"),
    "phonetic_names": _key("first_ph", "last_ph"),
    "street_names": _key("street_key", "last_ph"),
    "first_name_postcode": _key("first_name_f", "postal_code_f"),
    "last_name_postcode": _key("last_name_f", "postal_code_f"),
    "street_postcode": _key("street_key", "postal_code_f"),
    # Loose because a big town has many postal codes: at 1M records ~9 Parisians share each
    # birth date (estimated ~1.25M chance pairs with the strict cap, ~0.4M loose); the same
    # quality on every benchmark set either way (measured).
    "dob_town": _key("dob_key", "city_f"),
}
LOOSE_KEYS = frozenset(
    {
        "postcode_year", "phonetic_names", "street_names", "first_name_postcode",
        "last_name_postcode", "street_postcode", "dob_town",
    }
)  # fmt: skip
#: Swapped names, which no equi-join of a column with itself finds: both names swapped
#: (phonetically), or one name entered in the other field with the same birth date.
SWAP_KEYS = {
    "swap_a": _key("first_ph", "last_ph"),
    "swap_b": _key("last_ph", "first_ph"),
    "moved_a": _key("first_ph", "dob_key"),
    "moved_b": _key("last_ph", "dob_key"),
}
SWAP_COLUMNS = tuple(f"bk_{name}" for name in SWAP_KEYS)
SWAP_RULES = (
    "l.bk_swap_a = r.bk_swap_b",
    "l.bk_moved_a = r.bk_moved_b",
    "l.bk_moved_b = r.bk_moved_a",
)


def _column(name: str) -> str:
    return f"bk_{name}"


def add_blocking_keys(con: duckdb.DuckDBPyConnection, features: str) -> None:
    """Add one column per blocking key to `features` (NULL where the value is too common).

    Keys are 64-bit hashes of the key text (joins on integers are cheaper than on strings; a
    collision only adds a pair for the model to score) and are computed and counted on a narrow
    table, then joined back once.
    """
    hashed = ",\n".join(
        f"CASE WHEN ({expr}) IS NOT NULL THEN hash({expr}) END AS {_column(name)}"
        for name, expr in {**BLOCKING_KEYS, **SWAP_KEYS}.items()
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __keys AS SELECT unique_id, {hashed} FROM {features}"
    )
    # The swap keys are capped too, each column by its own count: metaphone codes of first and
    # last names collide (a first name's code is often some last name's), and on a common birth
    # date (the youngest adults of the demo share one) uncapped they made 4.7M of the 11.2M
    # candidate pairs at 1M records, 0.3% of them true pairs no other key finds (measured,
    # issue 15).
    caps = {
        _column(name): LOOSE_MAX_GROUP if name in LOOSE_KEYS else MAX_GROUP
        for name in BLOCKING_KEYS
    }
    caps.update(dict.fromkeys(SWAP_COLUMNS, MAX_GROUP))
    # The over-frequent values of every key (a few thousand) are found by one GROUP BY per key
    # and removed by a semi-join: 27 window counts over 1M rows took 10.4 s at 1M records.
    common = " UNION ALL ".join(
        f"SELECT '{c}' AS key, {c} AS value FROM __keys WHERE {c} IS NOT NULL "
        f"GROUP BY {c} HAVING count(*) > {cap}"
        for c, cap in caps.items()
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE __common AS {common}")
    capped = ",\n".join(
        f"CASE WHEN {c} IN (SELECT value FROM __common WHERE key = '{c}') THEN NULL "
        f"ELSE {c} END AS {c}"
        for c in caps
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE __capped AS SELECT unique_id, {capped} FROM __keys")
    # No ORDER BY: nothing downstream reads the rows in order (EM training sorts its own copy,
    # clustering sorts the links), and sorting the wide table cost 1-2 s at 1M records.
    con.execute(
        f"CREATE OR REPLACE TABLE {features} AS SELECT f.*, k.* EXCLUDE (unique_id) "
        f"FROM {features} f JOIN __capped k USING (unique_id)"
    )
    con.execute("DROP TABLE __keys")
    con.execute("DROP TABLE __common")
    con.execute("DROP TABLE __capped")


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
