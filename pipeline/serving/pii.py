"""Personal data rules of the published tables: pseudonymous keys, dropped columns, value scan.

BI tools get a `customer_key` (HMAC-SHA256 of the master customer id with a secret key) instead
of the customer id: stable across refreshes, so trends per customer still work, but not
reversible without the key. Columns named like personal data are dropped, and every published
text value is scanned afterwards, because a column name is only a hint: for emails, phone
numbers, and master customer ids in clear (a key column built from one, as `as_of|customer_id`,
would undo the pseudonymization and outlive a change of the secret key).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from pipeline.identity.registry import ID_DIGITS, ID_PREFIX
from pipeline.lib.sql import quote_ident, sql_literal

#: Column names that hold direct identifiers; matched anywhere in the name, case-insensitively.
PII_COLUMN_PATTERNS = (
    r"e_?mail",
    r"phone",
    r"mobile",
    r"first_?name",
    r"last_?name",
    r"full_?name",
    r"surname",
    r"address",
    r"street",
    r"birth",
)
#: `customer_id` or `<x>_customer_id`, replaced by `customer_key` / `<x>_customer_key`.
CUSTOMER_ID_COLUMN = re.compile(r"^(?:.*_)?customer_id$", re.IGNORECASE)

# Both regexes are written in the subset shared by Python `re` and RE2 (DuckDB), so the same
# patterns scan tables in SQL and files/values in Python.
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
#: International (+33 6 12 34 56 78, +4915112345678) or French national (06 12 34 56 78) numbers.
PHONE_PATTERN = r"^\s*(?:\+[1-9][0-9 .()/-]{6,20}[0-9]|0[1-9](?:[ .-]?[0-9]{2}){4})\s*$"
#: A master customer id (pipeline.identity.registry.format_master_id), alone or inside a value.
MASTER_ID_PATTERN = rf"(?:^|[^A-Za-z0-9]){ID_PREFIX}[0-9]{{{ID_DIGITS}}}(?:$|[^0-9])"
#: What the scan looks for in every published text value, by kind.
SCANNED_KINDS = (
    ("email", EMAIL_PATTERN),
    ("phone number", PHONE_PATTERN),
    ("master customer id", MASTER_ID_PATTERN),
)
_EMAIL_RE = re.compile(EMAIL_PATTERN)
_PHONE_RE = re.compile(PHONE_PATTERN)


def is_pii_column(name: str, extra_patterns: Iterable[str] = ()) -> bool:
    """True when a column name looks like a direct identifier (email, phone, name, address...)."""
    patterns = (*PII_COLUMN_PATTERNS, *extra_patterns)
    return any(re.search(pattern, name, re.IGNORECASE) for pattern in patterns)


def key_column_name(id_column: str) -> str:
    """`customer_id` -> `customer_key`, `merged_customer_id` -> `merged_customer_key`."""
    return id_column[: -len("_id")] + "_key"


def looks_like_pii(value: object) -> bool:
    """True when a value looks like an email address or a phone number."""
    if not isinstance(value, str):
        return False
    return bool(_EMAIL_RE.search(value) or _PHONE_RE.search(value))


#: SHA-256's block size in bytes: HMAC pads (or first hashes) the key to it.
_SHA256_BLOCK = 64


class Pseudonymizer:
    """Keyed hash of customer ids: HMAC-SHA256, hex encoded (64 characters)."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the pseudonymization key must not be empty")
        self._key = key

    def register(self, con: duckdb.DuckDBPyConnection, name: str = "segments_customer_key") -> str:
        """Define the keyed hash as a SQL macro on `con`; returns the macro's name.

        HMAC as RFC 2104 writes it, H((K ^ opad) || H((K ^ ipad) || m)), with DuckDB's own
        sha256: every row is hashed inside DuckDB, where a Python function was called for every
        2,048 rows of every customer id column (the same digests as Python's `hmac`, tested). The
        macro is TEMP: it lives in this connection's temporary catalog, never in the file
        written, so the padded key it holds does not reach the published file.
        """
        block = self._key if len(self._key) <= _SHA256_BLOCK else hashlib.sha256(self._key).digest()
        block = block.ljust(_SHA256_BLOCK, b"\0")
        inner = bytes(b ^ 0x36 for b in block).hex()
        outer = bytes(b ^ 0x5C for b in block).hex()
        con.execute(
            f"CREATE OR REPLACE TEMP MACRO {quote_ident(name)}(customer_id) AS "
            f"sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode(customer_id))))"
        )
        return name


@dataclass(frozen=True)
class PiiFinding:
    """Values that look like personal data in one column of one published table or file."""

    table: str
    column: str
    kind: str
    rows: int
    example: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}: {self.rows} value(s) look like {self.kind}s"


def scan_relation(
    con: duckdb.DuckDBPyConnection,
    relation_sql: str,
    label: str,
    skip: Iterable[str] = (),
) -> list[PiiFinding]:
    """Scan every text column of a relation (a table name or `read_parquet(...)`) for values that
    look like emails, phone numbers or master customer ids; `skip` names columns not to scan
    (the keys the publication computes itself: hex digests by construction).

    One SQL pass over the relation, with RE2, so that large tables never leave DuckDB.
    """
    skipped = {name.lower() for name in skip}
    columns = [
        name
        for name, column_type, *_ in con.execute(
            f"DESCRIBE SELECT * FROM {relation_sql}"
        ).fetchall()
        if column_type == "VARCHAR" and name.lower() not in skipped
    ]
    checks = [(name, kind, pattern) for name in columns for kind, pattern in SCANNED_KINDS]
    if not checks:
        return []
    select = []
    for index, (name, _kind, pattern) in enumerate(checks):
        col = quote_ident(name)
        match = f"regexp_matches({col}, {sql_literal(pattern)})"
        select.append(f"count(*) FILTER (WHERE {match}) AS n{index}")
        select.append(f"any_value({col}) FILTER (WHERE {match}) AS v{index}")
    row = con.execute(f"SELECT {', '.join(select)} FROM {relation_sql}").fetchone()
    findings: list[PiiFinding] = []
    for index, (name, kind, _pattern) in enumerate(checks):
        count, example = row[2 * index], row[2 * index + 1]
        if count:
            # Mask the example: the error message itself must not leak the value.
            masked = (example or "")[:2] + "***"
            findings.append(PiiFinding(label, name, kind, int(count), masked))
    return findings


def scan_file(path: str) -> list[PiiFinding]:
    """Scan an exported Parquet or CSV file for values that look like emails or phone numbers."""
    con = duckdb.connect()
    try:
        literal = sql_literal(path)
        if path.endswith(".parquet"):
            relation = f"read_parquet({literal})"
        else:
            # all_varchar: numbers and dates are scanned as the text the reader sees.
            relation = f"read_csv({literal}, all_varchar = true, header = true)"
        return scan_relation(con, relation, path)
    finally:
        con.close()
