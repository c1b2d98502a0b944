"""Golden records: one row per master customer, built from its source records (survivorship).

Survivorship rules (documented in docs/identity.md):

- every field: the most recent non-empty value, "most recent" meaning the latest updated_at,
  then the latest created_at, then the most complete source record (most non-empty fields),
  then the smallest source id (only so that the result is deterministic);
- marketing_opt_in follows the same rule, which is what consent law asks: the value of the most
  recent record that states consent (a later opt-out beats an earlier opt-in);
- the postal address (address_line, postal_code, city, region) survives as one block, taken from
  the most recent record with any of them, so a street is never paired with another record's town;
- created_at is the earliest (customer since), updated_at the latest, derived_from_orders is
  true only when every source record was derived from orders;
- completeness_score: share of the 11 profile fields (email, first_name, last_name, phone,
  birth_date, gender, address_line, postal_code, city, region, country) that are filled;
- freshness_days: days between the as-of date and the freshest source record
  (updated_at, else created_at); source_record_count: number of source records.
"""

from __future__ import annotations

import datetime as dt

import duckdb

PROFILE_FIELDS = (
    "email", "first_name", "last_name", "phone", "birth_date", "gender",
    "address_line", "postal_code", "city", "region", "country",
)  # fmt: skip
ADDRESS_BLOCK = ("address_line", "postal_code", "city", "region")
#: Columns with their own rule (the rest follow "most recent non-empty").
SPECIAL = {"customer_id", "created_at", "updated_at", "derived_from_orders", *ADDRESS_BLOCK}


def _filled(column: str, dtype: str, prefix: str = "s.") -> str:
    """SQL predicate: the column holds a value (text must be non-blank)."""
    if dtype.upper() == "VARCHAR":
        return f"nullif(trim({prefix}{column}), '') IS NOT NULL"
    return f"{prefix}{column} IS NOT NULL"


def golden_sql(source: str, mapping: str, as_of: dt.date, columns: list[tuple[str, str]]) -> str:
    """SELECT building the golden records from `source` (clean.customers-shaped) and `mapping`.

    `columns` lists (name, type) of `source`; the golden record keeps them in the same order,
    with customer_id = master id, followed by completeness_score, freshness_days and
    source_record_count.
    """
    types = dict(columns)
    recency = (
        "s.updated_at DESC NULLS LAST, s.created_at DESC NULLS LAST, "
        "s._completeness DESC, s.customer_id"
    )
    completeness = " + ".join(
        f"({_filled(c, types[c])})::INTEGER" for c in PROFILE_FIELDS if c in types
    )
    has_address = " OR ".join(_filled(c, types[c]) for c in ADDRESS_BLOCK if c in types)

    select = []
    for name, dtype in columns:
        if name == "customer_id":
            select.append("m.customer_id AS customer_id")
        elif name == "created_at":
            select.append("min(s.created_at) AS created_at")
        elif name == "updated_at":
            select.append("max(coalesce(s.updated_at, s.created_at)) AS updated_at")
        elif name == "derived_from_orders":
            select.append("coalesce(bool_and(s.derived_from_orders), false) AS derived_from_orders")
        elif name in ADDRESS_BLOCK:
            select.append(
                f"first(s.{name} ORDER BY {recency}) FILTER (WHERE {has_address}) AS {name}"
            )
        else:
            select.append(
                f"first(s.{name} ORDER BY {recency}) FILTER (WHERE {_filled(name, dtype)}) "
                f"AS {name}"
            )
    golden_profile = " + ".join(
        f"({_filled(c, types[c], prefix='')})::INTEGER" for c in PROFILE_FIELDS if c in types
    )
    n_profile = sum(1 for c in PROFILE_FIELDS if c in types) or 1
    names = ", ".join(name for name, _ in columns)
    return f"""
    WITH s AS (
        SELECT s.*, ({completeness or "0"}) AS _completeness FROM {source} s
    ), g AS (
        SELECT
            {", ".join(select)},
            DATE '{as_of.isoformat()}'
                - max(coalesce(s.updated_at, s.created_at))::DATE AS freshness_days,
            count(*)::INTEGER AS source_record_count
        FROM s JOIN {mapping} m ON m.source_customer_id = s.customer_id
        GROUP BY m.customer_id
    )
    SELECT {names},
        round(({golden_profile or "0"}) / {n_profile}, 3)::DOUBLE AS completeness_score,
        freshness_days::INTEGER AS freshness_days,
        source_record_count
    FROM g
    ORDER BY customer_id
    """


def source_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """(name, type) of the columns of `table`, in order."""
    rows = con.execute(f"DESCRIBE {table}").fetchall()
    return [(r[0], r[1]) for r in rows]
