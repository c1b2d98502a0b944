"""Cleaning: `raw.*` -> typed `clean.*` tables, `clean.quarantine` and `clean.load_log`.

Everything is rebuilt from raw on each run (deterministic, idempotent) in DuckDB SQL; only phone
numbers that are not plainly written French ones go through Python, over their distinct values.
Each raw row ends accepted in its clean table, deferred (dated after the as-of date: left for a
later refresh, not quarantined) or rejected in the quarantine with exactly one reason (the first
failing check), so per file: rows read = rows accepted + rows deferred + rows rejected.
Values removed from accepted rows (`field_nulled`) are quarantined too, as extra entries.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from pipeline.ingest import extract
from pipeline.ingest.countries import COUNTRY_NAMES, ISO2_CODES
from pipeline.ingest.entities import (
    AMOUNT,
    AS_OF_COLUMNS,
    BOOLEAN,
    DATE,
    DEFAULT_ORDER_STATUS,
    ENTITIES,
    INTEGER,
    LINEAGE_COLUMNS,
    ORDER_STATUSES,
    TIMESTAMP,
)
from pipeline.ingest.phones import DEFAULT_REGION, fr_plain_e164_sql, normalize_many

# Short names: these modules build long SQL strings out of them.
from pipeline.lib.sql import quote_ident as _q
from pipeline.lib.sql import sql_literal as _lit

REASONS = (
    "missing_required",
    "unparsable_date",
    "implausible_date",
    "future_date",
    "invalid_amount",
    "amount_out_of_range",
    "negative_amount",
    "unknown_status",
    "duplicate_order_id",
    "duplicate_row",
    "duplicate_key",
    "invalid_email",
    "invalid_phone",
    "invalid_value",
    "invalid_encoding",
    "extra_fields",
    "missing_fields",
    "malformed_row",
    "repeated_header",
)
#: Not a quarantine reason: the fate of a row dated after the as-of date (counted per file).
DEFERRED = "deferred"
#: Amounts are DECIMAL(18,2) and the marts sum them in DECIMAL(18,2) (below 10^16): a single
#: value of a trillion or more is a unit or export error (e.g. `9e15`) and could overflow sums.
AMOUNT_LIMIT = 10**12
EMAIL_RE = r"[a-z0-9._%+'-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}"
_TRUE = ("true", "t", "1", "yes", "y", "oui", "o", "vrai")
_FALSE = ("false", "f", "0", "no", "n", "non", "faux")

#: Output columns of each clean table (contract order), its key, and the prefix of ids generated
#: for rows without one: read from the EntitySpec of `entities.py`, never restated here.
OUTPUT: dict[str, list[tuple[str, str]]] = {
    name: spec.clean_columns() for name, spec in ENTITIES.items()
}
KEYS: dict[str, tuple[str, ...]] = {name: spec.key for name, spec in ENTITIES.items()}
GENERATED_ID: dict[str, tuple[str, str]] = {
    name: (spec.key[0], spec.generated_id) for name, spec in ENTITIES.items() if spec.generated_id
}


@dataclass
class EntityCounts:
    """Per-entity outcome of a cleaning run."""

    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    fields_nulled: int = 0
    #: Rows dated after the as-of date: kept in raw, left out of this refresh.
    deferred: int = 0


@dataclass
class CleanReport:
    """What `clean_entities` did: counts per entity, quarantine entries per reason, derivations."""

    entities: dict[str, EntityCounts] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    derived_customers: int = 0
    derived_by_entity: dict[str, int] = field(default_factory=dict)
    orphan_order_lines: int = 0


@dataclass(frozen=True)
class _Check:
    """One validation: when `condition` holds, the row is rejected or the field nulled."""

    column: str
    reason: str
    condition: str
    message: str
    nulls_field: bool = False


def _msg(column: str, text: str) -> str:
    """SQL building '<file> row <n>: column <c>: <text>' where `text` is itself SQL."""
    return (
        f"_source_file || ' row ' || CAST(_source_row AS VARCHAR) || "
        f"': column {column}: ' || {text}"
    )


def _shown(col: str) -> str:
    """SQL quoting a raw value for messages: 'value'."""
    return f"'''' || t_{col} || ''''"


_CURRENCY = r"(€|\$|£|EUR|USD|GBP|CHF)"
_GROUP_SPACE = "[ \u00a0\u202f]"


def _amount_text_sql(v: str) -> str:
    """Normalise a trimmed amount text to a plain SQL number (`-1234.5`, `9e15`), or NULL.

    Accepted (docs/input_contract.md): digits with the file's decimal separator; a sign; a
    currency sign or code before or after the number (`€12,50`, `12.50 EUR`, `-$3`);
    thousands groups in their exact pattern only (`1,234.50` / `1.234,50`, or spaces, also
    non-breaking, and `'` in decimal-point files); scientific notation (`1.5E3`). Anything
    else is NULL (invalid_amount), so `12,50` in a decimal-point file is never read as 1250.
    Plain numbers, most of a large file, take the first branches and skip the other regexes.
    """
    x = (
        f"regexp_replace(regexp_replace({v}, '\\s*{_CURRENCY}$', ''), "
        f"'^([+-]?)\\s*{_CURRENCY}\\s*', '\\1')"
    )
    sci = "([eE][+-]?\\d+)?"
    dot_groups = f"regexp_full_match({x}, '[+-]?\\d{{1,3}}(,\\d{{3}})+(\\.\\d+)?')"
    dot_spaces = f"regexp_full_match({x}, '[+-]?\\d{{1,3}}([ \u00a0\u202f'']\\d{{3}})+(\\.\\d+)?')"
    comma_groups = f"regexp_full_match({x}, '[+-]?\\d{{1,3}}(\\.\\d{{3}})+(,\\d+)?')"
    comma_spaces = f"regexp_full_match({x}, '[+-]?\\d{{1,3}}({_GROUP_SPACE}\\d{{3}})+(,\\d+)?')"
    return f"""CASE
        WHEN regexp_full_match({v}, '[+-]?\\d+') THEN {v}
        WHEN _decimal = '.' AND regexp_full_match({v}, '[+-]?\\d*\\.\\d+') THEN {v}
        WHEN _decimal = ',' AND regexp_full_match({v}, '[+-]?\\d*,\\d+') THEN replace({v}, ',', '.')
        WHEN _decimal = '.' AND {dot_groups} THEN replace({x}, ',', '')
        WHEN _decimal = '.' AND {dot_spaces} THEN regexp_replace({x}, '[ \u00a0\u202f'']', '', 'g')
        WHEN _decimal = '.' AND regexp_full_match({x}, '[+-]?(\\d+\\.?\\d*|\\.\\d+){sci}') THEN {x}
        WHEN _decimal = ',' AND {comma_groups} THEN replace(replace({x}, '.', ''), ',', '.')
        WHEN _decimal = ',' AND {comma_spaces}
            THEN replace(regexp_replace({x}, '{_GROUP_SPACE}', '', 'g'), ',', '.')
        WHEN _decimal = ',' AND regexp_full_match({x}, '[+-]?(\\d+,?\\d*|,\\d+){sci}')
            THEN replace({x}, ',', '.')
    END"""


def _timestamp_sql(v: str, formats: list[str]) -> str:
    """Parse ISO dates/timestamps, or the file's (detected or configured) strptime format."""
    branches = []
    for fmt in formats:
        tries = ", ".join(
            f"try_strptime({v}, {_lit(fmt + suffix)})" for suffix in ("", " %H:%M:%S", " %H:%M")
        )
        # strptime's %Y also reads '24' as year 0024: in a file of four-digit years, a value
        # without one is unparsable, never silently moved to the first century.
        guard = f"regexp_matches({v}, '\\d{{4}}') AND " if "%Y" in fmt else ""
        branches.append(f"WHEN _date_format = {_lit(fmt)} AND {guard}true THEN coalesce({tries})")
    custom = f"CASE {' '.join(branches)} END" if branches else "NULL::TIMESTAMP"
    return (
        f"CASE WHEN regexp_matches({v}, '^\\d{{4}}-\\d{{2}}-\\d{{2}}') "
        f"THEN try_cast({v} AS TIMESTAMP) ELSE {custom} END"
    )


def _integer_sql(v: str) -> str:
    return (
        f"CASE WHEN regexp_full_match({v}, '[+-]?\\d+([.,]0+)?') "
        f"THEN try_cast(regexp_replace({v}, '[.,]0+$', '') AS INTEGER) END"
    )


def _raw_columns(con: duckdb.DuckDBPyConnection, entity: str) -> list[str]:
    """Non-lineage columns of raw.<entity> (canonical first, then extra source columns)."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' "
        "AND table_name = ? ORDER BY ordinal_position",
        [entity],
    ).fetchall()
    return [r[0] for r in rows if r[0] not in LINEAGE_COLUMNS]


def _checks(entity: str, formats_note: str) -> list[_Check]:
    """Validations of one entity, in priority order (the first failing one is reported)."""
    spec = ENTITIES[entity]
    checks: list[_Check] = []
    for col in spec.required:
        checks.append(
            _Check(
                col,
                "missing_required",
                f"t_{col} IS NULL",
                _msg(col, "'required value is missing'"),
            )
        )
    typed: list[tuple[str, str]] = [
        (c, k) for c, k in spec.columns.items() if k in (AMOUNT, DATE, TIMESTAMP, INTEGER, BOOLEAN)
    ]
    for col, kind in typed:
        nulls = col not in spec.required and not (entity == "order_lines" and col == "line_number")
        bad = f"t_{col} IS NOT NULL AND p_{col} IS NULL"
        if kind == AMOUNT:
            bad = f"t_{col} IS NOT NULL AND n_{col} IS NULL"
            checks.append(
                _Check(
                    col,
                    "invalid_amount",
                    bad,
                    _msg(
                        col,
                        f"{_shown(col)} || ' is not a valid amount (decimal separator ' || "
                        "_decimal || ')'",
                    ),
                    nulls,
                )
            )
        elif kind in (DATE, TIMESTAMP):
            checks.append(
                _Check(
                    col,
                    "unparsable_date",
                    bad,
                    _msg(
                        col,
                        f"{_shown(col)} || ' is not a valid date (format ' || {formats_note} "
                        "|| ')'",
                    ),
                    nulls,
                )
            )
        elif kind == INTEGER:
            checks.append(
                _Check(
                    col,
                    "invalid_value",
                    bad,
                    _msg(col, f"{_shown(col)} || ' is not an integer (32-bit)'"),
                    nulls,
                )
            )
        else:
            checks.append(
                _Check(
                    col,
                    "invalid_value",
                    bad,
                    _msg(
                        col,
                        f"{_shown(col)} || ' is not a boolean (true/false, yes/no, oui/non, 1/0)'",
                    ),
                    nulls,
                )
            )
    for col, kind in typed:
        nulls = col not in spec.required
        if kind in (DATE, TIMESTAMP):
            checks.append(
                _Check(
                    col,
                    "implausible_date",
                    f"p_{col} < _date_floor",
                    _msg(
                        col,
                        f"{_shown(col)} || ' is before the plausibility floor ' || "
                        "CAST(_date_floor AS VARCHAR) || ' (setting date_floor)'",
                    ),
                    nulls,
                )
            )
        if (entity, col) == ("customers", "birth_date"):
            # Rows are deferred by their creation date; a birth after the as-of is an error.
            checks.append(
                _Check(
                    col,
                    "future_date",
                    f"p_{col} > _as_of",
                    _msg(
                        col,
                        f"{_shown(col)} || ' is after the as-of date ' || CAST(_as_of AS VARCHAR)",
                    ),
                    True,
                )
            )
        if kind == AMOUNT:
            checks.append(
                _Check(
                    col,
                    "amount_out_of_range",
                    f"n_{col} IS NOT NULL AND (p_{col} IS NULL OR abs(p_{col}) >= {AMOUNT_LIMIT})",
                    _msg(
                        col,
                        f"{_shown(col)} || ' is outside the accepted range (absolute value "
                        f"below {AMOUNT_LIMIT:,})'",
                    ),
                    nulls,
                )
            )
            checks.append(
                _Check(
                    col,
                    "negative_amount",
                    f"p_{col} < 0",
                    _msg(col, f"{_shown(col)} || ' is negative'"),
                    nulls,
                )
            )
    if entity == "orders":
        checks.append(
            _Check(
                "status",
                "unknown_status",
                f"coalesce(lower(t_status), {_lit(DEFAULT_ORDER_STATUS)}) NOT IN "
                f"({', '.join(_lit(s) for s in ORDER_STATUSES)})",
                _msg(
                    "status", f"{_shown('status')} || ' is not one of {', '.join(ORDER_STATUSES)}'"
                ),
            )
        )
    if entity == "refunds":
        checks.append(
            _Check(
                "amount",
                "invalid_value",
                "p_amount = 0",
                _msg("amount", "'a refund amount must be greater than 0'"),
            )
        )
    if entity == "order_lines":
        checks.append(
            _Check(
                "quantity",
                "invalid_value",
                "p_quantity < 1",
                _msg("quantity", f"{_shown('quantity')} || ' is not a positive quantity'"),
            )
        )
        checks.append(
            _Check(
                "line_number",
                "invalid_value",
                "p_line_number < 1",
                _msg("line_number", f"{_shown('line_number')} || ' is not a positive line number'"),
            )
        )
    if entity == "nps_responses":
        checks.append(
            _Check(
                "score",
                "invalid_value",
                "p_score NOT BETWEEN 0 AND 10",
                _msg("score", f"{_shown('score')} || ' is outside 0..10'"),
            )
        )
    if entity == "customers":
        checks.append(
            _Check(
                "email",
                "invalid_email",
                f"t_email IS NOT NULL AND NOT regexp_full_match(lower(t_email), {_lit(EMAIL_RE)})",
                _msg("email", f"{_shown('email')} || ' is not a valid e-mail address'"),
                True,
            )
        )
        checks.append(
            _Check(
                "country",
                "invalid_value",
                "t_country IS NOT NULL AND p_country IS NULL",
                _msg("country", f"{_shown('country')} || ' is not a known country'"),
                True,
            )
        )
    return checks


def _parsed_sql(entity: str, formats: list[str]) -> list[str]:
    """SELECT items `t_<col>` (trimmed text) and `p_<col>` (typed value) of each column."""
    items = []
    for col, kind in ENTITIES[entity].columns.items():
        t = f"t_{col}"
        items.append(f"nullif(trim({_q(col)}), '') AS {t}")
        if kind == AMOUNT:
            items.append(f"{_amount_text_sql(t)} AS n_{col}")
        elif kind == DATE:
            items.append(f"CAST({_timestamp_sql(t, formats)} AS DATE) AS p_{col}")
        elif kind == TIMESTAMP:
            items.append(f"{_timestamp_sql(t, formats)} AS p_{col}")
        elif kind == INTEGER:
            items.append(f"{_integer_sql(t)} AS p_{col}")
        elif kind == BOOLEAN:
            items.append(
                f"CASE WHEN lower({t}) IN ({', '.join(map(_lit, _TRUE))}) THEN true "
                f"WHEN lower({t}) IN ({', '.join(map(_lit, _FALSE))}) THEN false END "
                f"AS p_{col}"
            )
    return items


def _parsed_relation(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    as_of: dt.date,
    date_floor: dt.date,
    formats: list[str],
) -> tuple[list[_Check], str, str]:
    """SQL of the parsed rows of raw.<entity>: raw row + typed values + the first rejecting check.

    Returns the checks, the query (inlined in `_classify`; materialised for customers only, whose
    phones are normalised in Python in between) and the SQL of the raw row as JSON over alias
    `s` (a raw.<entity> row), built only for quarantined rows: computing it for every row would
    double the cleaning time.
    """
    raw_cols = _raw_columns(con, entity)
    # Items that need one pass over the parsed values (t_/p_ columns) go in an outer SELECT.
    extra_items = []
    if entity == "customers":
        names = ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in COUNTRY_NAMES.items())
        codes = ", ".join(_lit(c) for c in sorted(ISO2_CODES))
        extra_items.append(
            f"CASE WHEN upper(t_country) IN ({codes}) THEN upper(t_country) "
            f"ELSE MAP {{{names}}}[strip_accents(lower(t_country))] END AS p_country"
        )
    extra_items += [
        f"try_cast(n_{c} AS DECIMAL(18,2)) AS p_{c}"
        for c in ENTITIES[entity].columns_of_kind(AMOUNT)
    ]
    formats_note = "CASE WHEN _date_format = 'iso' THEN 'ISO YYYY-MM-DD' ELSE _date_format END"
    checks = _checks(entity, formats_note)
    reject = [c for c in checks if not c.nulls_field]
    encoding_col = " ".join(f"WHEN contains({_q(c)}, '\ufffd') THEN {_lit(c)}" for c in raw_cols)
    first_error = " ".join(
        f"WHEN {c.condition} THEN {{'column': {_lit(c.column)}, 'reason': {_lit(c.reason)}, "
        f"'message': {c.message}}}"
        for c in reject
    )
    raw_json = (
        "CASE WHEN s._raw_line IS NOT NULL THEN json_object('raw_line', s._raw_line) "
        "ELSE json_object(" + ", ".join(f"{_lit(c)}, s.{_q(c)}" for c in raw_cols) + ") END"
    )
    sql = f"""
        WITH base AS (
            SELECT r.*, coalesce(f.decimal_separator, '.') AS _decimal,
                   coalesce(f.date_format, 'iso') AS _date_format,
                   DATE '{as_of.isoformat()}' AS _as_of,
                   DATE '{date_floor.isoformat()}' AS _date_floor,
                   CASE {encoding_col} END AS _bad_encoding_col
            FROM raw.{entity} r
            LEFT JOIN {extract.REGISTRY_TABLE} f ON f.source_file = r._source_file
        ), parsed AS (
            SELECT *, {", ".join(_parsed_sql(entity, formats))} FROM base
        ), parsed2 AS (
            SELECT * {", " + ", ".join(extra_items) if extra_items else ""} FROM parsed
        )
        SELECT *,
            CASE WHEN _row_error IS NOT NULL THEN {{'column': NULL::VARCHAR,
                     'reason': split_part(_row_error, ':', 1), 'message': _source_file
                     || ' row ' || CAST(_source_row AS VARCHAR) || ': '
                     || trim(substr(_row_error, strpos(_row_error, ':') + 1))}}
                 {_deferral_sql(entity)}
                 WHEN _bad_encoding_col IS NOT NULL THEN {{'column': _bad_encoding_col,
                     'reason': 'invalid_encoding', 'message': _source_file || ' row '
                     || CAST(_source_row AS VARCHAR) || ': column ' || _bad_encoding_col
                     || ': contains bytes that are not valid in the file encoding'}}
                 {first_error} END AS _err
        FROM parsed2
        """
    return checks, sql, f"CAST({raw_json} AS VARCHAR)"


#: Order ids whose every row in the orders files is deferred (their lines are deferred too).
_DEFERRED_ORDERS = "_deferred_orders"


def _deferral_sql(entity: str) -> str:
    """The CASE branch giving a row dated after the as-of date the fate `deferred`.

    It comes before every check: such a row is not part of this refresh, so it is neither
    validated nor counted in the quarantine rate; a later refresh validates it.
    """
    col = AS_OF_COLUMNS.get(entity)
    if col is not None:
        condition = f"CAST(p_{col} AS DATE) > _as_of"
        text = f"{_shown(col)} || ' is after the as-of date ' || CAST(_as_of AS VARCHAR)"
    elif entity == "order_lines":
        col = "order_id"
        condition = f"t_order_id IN (SELECT order_id FROM {_DEFERRED_ORDERS})"
        text = "'order ' || t_order_id || ' is dated after the as-of date'"
    else:
        return ""
    return (
        f"WHEN {condition} THEN {{'column': {_lit(col)}, 'reason': '{DEFERRED}', "
        f"'message': {_msg(col, text)}}}"
    )


def _output_value(entity: str, col: str, checks: list[_Check], currency: str) -> str:
    """The final value of one output column (typed, normalised, field-nulled when invalid)."""
    spec = ENTITIES[entity]
    kind = spec.columns.get(col)
    if kind in (AMOUNT, DATE, TIMESTAMP, INTEGER, BOOLEAN):
        value = f"p_{col}"
    elif entity == "customers" and col == "email":
        value = "lower(t_email)"
    elif entity == "customers" and col in ("first_name", "last_name"):
        value = f"nfc_normalize(t_{col})"
    elif entity == "customers" and col == "country":
        value = "p_country"
    elif entity == "customers" and col == "phone":
        value = "_phone_e164"
    elif entity == "orders" and col == "currency":
        value = f"upper(coalesce(t_currency, {_lit(currency)}))"
    elif entity == "orders" and col == "status":
        value = f"coalesce(lower(t_status), {_lit(DEFAULT_ORDER_STATUS)})"
    else:
        value = f"t_{col}"
    nulled = [c.condition for c in checks if c.nulls_field and c.column == col]
    if nulled:
        value = f"CASE WHEN {' OR '.join(f'({c})' for c in nulled)} THEN NULL ELSE {value} END"
    return value


def _attach_phones(con: duckdb.DuckDBPyConnection, log: logging.Logger) -> int:
    """Add `_phone_e164` to the staged customers, computing E.164 once per distinct value.

    Plainly written French numbers are converted in SQL (`fr_plain_e164_sql`); the other
    distinct values go through `phonenumbers` in Python.
    """
    region = f"coalesce(p_country, '{DEFAULT_REGION}')"
    fast = fr_plain_e164_sql("t_phone", region)
    pairs = con.execute(
        f"SELECT DISTINCT t_phone, {region} FROM _cl_customers "
        f"WHERE t_phone IS NOT NULL AND _err IS NULL AND ({fast}) IS NULL"
    ).fetchall()
    phones = pd.DataFrame(normalize_many(pairs), columns=["raw", "region", "e164"], dtype=object)
    con.register("_phones_df", phones)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _cl_customers AS
                SELECT c.*, coalesce({fast}, p.e164::VARCHAR) AS _phone_e164
                FROM _cl_customers c
                LEFT JOIN _phones_df p ON p.raw = c.t_phone AND p.region = {region}"""
        )
    finally:
        con.unregister("_phones_df")
    log.info(
        "customers: %d distinct phone value(s) normalised to E.164 by phonenumbers, the plain "
        "French ones in SQL",
        len(pairs),
    )
    return len(pairs)


def _reported_key(entity: str) -> str:
    """The key column named in duplicate_key messages (order lines: their line number)."""
    return KEYS[entity][0] if len(KEYS[entity]) == 1 else "line_number"


#: A row ends in its clean table: valid, the most recent of its exact copies, then of its key.
_KEPT = "_err IS NULL AND _rn_content = 1 AND _rn_key = 1"


def _nulling_checks(entity: str, checks: list[_Check]) -> list[_Check]:
    """Checks that remove a value from an accepted row (customers: also an invalid phone)."""
    nulling = [c for c in checks if c.nulls_field]
    if entity == "customers":
        nulling.append(
            _Check(
                "phone",
                "invalid_phone",
                "t_phone IS NOT NULL AND _phone_e164 IS NULL",
                _msg(
                    "phone",
                    f"{_shown('phone')} || ' is not a valid phone number for region ' || "
                    f"coalesce(p_country, '{DEFAULT_REGION}')",
                ),
                True,
            )
        )
    return nulling


def _classify(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    checks: list[_Check],
    currency: str,
    parsed_sql: str,
) -> None:
    """Decide every raw row's fate; the view `_f_<entity>` shows each row with its fate.

    Exact copies (same cleaned content) keep the most recent one: last file in name order, then
    last row (`_rn_content`). Remaining rows sharing a key keep the most recent too (customers:
    latest updated_at first; `_rn_key`); the others are `duplicate_order_id` (orders) or
    `duplicate_key`. Rejected rows take part in neither.

    Why it is built this way: a window over every row, partitioned by all its columns, cost
    15 s per pass over 20M order lines (10M orders), against 3 s to group them by a hash. So
    the rows are hashed once (`_v_<entity>`, the only full copy), and the exact windows run
    only over the rows whose hash occurs more than once (`_dc_` copies, `_dk_` keys). They
    still partition by the real values, so a hash collision can never mark two different rows
    as copies: it only adds a row to the exact comparison.
    """
    outputs = [c for c, _ in OUTPUT[entity] if c != "derived_from_orders"]
    values = {c: _output_value(entity, c, checks, currency) for c in outputs}
    if entity == "customers":
        # Contract: updated_at is the last change seen, created_at when the export has none.
        values["updated_at"] = f"coalesce({values['updated_at']}, {values['created_at']})"
    select = ", ".join(f"{v} AS {_q(c)}" for c, v in values.items())
    # The message of each value removed from the row (NULL when its check passes).
    nulled = "".join(
        f"CASE WHEN {c.condition} THEN {c.message} END AS _nulled_{i}, "
        for i, c in enumerate(_nulling_checks(entity, checks))
    )
    output_columns = ", ".join(_q(c) for c in outputs)
    content = output_columns
    generated = ""
    if entity in GENERATED_ID:
        col, prefix = GENERATED_ID[entity]
        # A hash of the content identifies the record deterministically; `_id_generated` keeps
        # a generated id apart from the same text given in the export.
        digest = (
            "md5(to_json(struct_pack(" + ", ".join(f"{_q(c)} := {_q(c)}" for c in outputs) + ")))"
        )
        generated = (
            f"REPLACE (coalesce({_q(col)}, {_lit(prefix)} || substr({digest}, 1, 16)) "
            f"AS {_q(col)}), {_q(col)} IS NULL AS _id_generated,"
        )
        content += ", _id_generated"
    source = "_cl_customers" if entity == "customers" else f"({parsed_sql})"
    v, dc, dk, ln = (f"{w}{entity}" for w in ("_v_", "_dc_", "_dk_", "_ln_"))
    # Order lines without a number are numbered in file order within their order, among the
    # distinct valid lines (numbered ones count too): `_seq` numbers the valid lines here, the
    # exact copies set apart later are subtracted through `_ln_` (a small table).
    seq = (
        "CASE WHEN _err IS NULL THEN row_number() OVER (PARTITION BY _err IS NULL, order_id "
        "ORDER BY _source_file, _source_row) END AS _seq,"
        if entity == "order_lines"
        else ""
    )
    # `hash` below reads the columns of `checked`, before an id is generated.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {v} AS
            WITH checked AS (
                SELECT {select}, _err, {nulled}_source_file, _source_row FROM {source}
            )
            SELECT * {generated or ","} {seq}
                   CASE WHEN _err IS NULL THEN hash({output_columns}) END
                   AS _hc
            FROM checked"""
    )
    recent = "_source_file DESC, _source_row DESC"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {dc} AS
            SELECT _source_file, _source_row, row_number() OVER w AS _rn_content,
                   first_value(_source_file) OVER w AS _win_file,
                   first_value(_source_row) OVER w AS _win_row
            FROM {v}
            WHERE _hc IN (SELECT _hc FROM {v} WHERE _hc IS NOT NULL
                          GROUP BY _hc HAVING count(*) > 1)
            WINDOW w AS (PARTITION BY {content} ORDER BY {recent})"""
    )
    numbered, join_ln = "", ""
    if (
        entity == "order_lines"
        and con.execute(f"SELECT count(*) FROM {dc} WHERE _rn_content > 1").fetchone()[0]
    ):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {ln} AS
                WITH copies AS (
                    SELECT v.order_id, v._source_file, v._source_row
                    FROM {dc} c JOIN {v} v USING (_source_file, _source_row)
                    WHERE c._rn_content > 1
                )
                SELECT v._source_file, v._source_row, count(*) AS _copies_before
                FROM {v} v JOIN copies y ON y.order_id = v.order_id
                 AND (y._source_file < v._source_file
                      OR (y._source_file = v._source_file AND y._source_row < v._source_row))
                WHERE v._err IS NULL
                GROUP BY ALL"""
        )
        numbered = "- coalesce(l._copies_before, 0)"
        join_ln = f"LEFT JOIN {ln} l USING (_source_file, _source_row)"
    if entity == "order_lines":
        numbered = f"REPLACE (coalesce(v.line_number, v._seq {numbered}) AS line_number)"
    # Views, not tables: they are read twice (keys, then publication and quarantine) and cost
    # a hash join against small tables each time, where a copy would write every row again.
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _r_{entity} AS
            SELECT v.* {numbered}, coalesce(c._rn_content, 1) AS _rn_content,
                   c._win_file, c._win_row
            FROM {v} v LEFT JOIN {dc} c USING (_source_file, _source_row) {join_ln}"""
    )
    keys = ", ".join(_q(k) for k in KEYS[entity])
    key_col = _reported_key(entity)
    order = f"updated_at DESC NULLS LAST, {recent}" if entity == "customers" else recent
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {dk} AS
            WITH running AS (
                SELECT *, hash({keys}) AS _hk FROM _r_{entity}
                WHERE _err IS NULL AND _rn_content = 1
            )
            SELECT _source_file, _source_row, CAST({_q(key_col)} AS VARCHAR) AS _key_value,
                   row_number() OVER w AS _rn_key,
                   first_value(_source_file) OVER w AS _key_file,
                   first_value(_source_row) OVER w AS _key_row
            FROM running
            WHERE _hk IN (SELECT _hk FROM running GROUP BY _hk HAVING count(*) > 1)
            WINDOW w AS (PARTITION BY {keys} ORDER BY {order})"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _f_{entity} AS
            SELECT r.*, coalesce(k._rn_key, 1) AS _rn_key, k._key_file, k._key_row,
                   k._key_value
            FROM _r_{entity} r LEFT JOIN {dk} k USING (_source_file, _source_row)"""
    )


def _quarantine(
    con: duckdb.DuckDBPyConnection, entity: str, checks: list[_Check], raw_json: str
) -> None:
    """Every quarantine entry of `entity`, in one insert joined once to its raw rows.

    Rejected rows (first failing check), exact copies, older versions of a key, and the values
    removed from accepted rows (`field_nulled`).
    """
    dup_msg = (
        "_source_file || ' row ' || CAST(_source_row AS VARCHAR) || ': exact copy of ' || "
        "_win_file || ' row ' || CAST(_win_row AS VARCHAR) || ', which is kept'"
    )
    reason = "duplicate_order_id" if entity == "orders" else "duplicate_key"
    key_col = _reported_key(entity)
    key_msg = (
        f"_source_file || ' row ' || CAST(_source_row AS VARCHAR) || ': column {key_col}: ' || "
        "'''' || _key_value || ''' also in ' || _key_file || ' row ' || "
        "CAST(_key_row AS VARCHAR) || ' with different content; that more recent version is "
        "kept'"
    )
    source = f"FROM _f_{entity} WHERE"
    entries = [
        "SELECT _source_file, _source_row, _err['column'] AS column_name, "
        "_err['reason'] AS reason_code, _err['message'] AS message, 'rejected' AS action "
        f"{source} _err IS NOT NULL AND _err['reason'] <> '{DEFERRED}'",
        f"SELECT _source_file, _source_row, NULL, 'duplicate_row', {dup_msg}, 'rejected' "
        f"{source} _err IS NULL AND _rn_content > 1",
        f"SELECT _source_file, _source_row, {_lit(key_col)}, {_lit(reason)}, {key_msg}, "
        f"'rejected' {source} _err IS NULL AND _rn_content = 1 AND _rn_key > 1",
    ]
    entries += [
        f"SELECT _source_file, _source_row, {_lit(c.column)}, {_lit(c.reason)}, _nulled_{i}, "
        f"'field_nulled' {source} {_KEPT} AND _nulled_{i} IS NOT NULL"
        for i, c in enumerate(_nulling_checks(entity, checks))
    ]
    con.execute(
        f"""INSERT INTO _quarantine
            SELECT {_lit(entity)}, q._source_file, q._source_row, q.column_name, q.reason_code,
                   q.message, {raw_json}, q.action, s._loaded_at
            FROM ({" UNION ALL ".join(entries)}) q
            JOIN raw.{entity} s USING (_source_file, _source_row)"""
    )


QUARANTINE_DDL = (
    "entity VARCHAR, source_file VARCHAR, source_row BIGINT, column_name VARCHAR, "
    "reason_code VARCHAR, message VARCHAR, raw_row VARCHAR, action VARCHAR, loaded_at TIMESTAMP"
)


def _create_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The clean schema and the temporary quarantine collecting every entry of this run."""
    con.execute("CREATE SCHEMA IF NOT EXISTS clean")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _quarantine ({QUARANTINE_DDL})")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _deferred_counts "
        "(entity VARCHAR, f VARCHAR, n BIGINT, latest VARCHAR)"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_DEFERRED_ORDERS} (order_id VARCHAR)")


def _publish(con: duckdb.DuckDBPyConnection, entity: str, union_sql: str = "") -> None:
    """Replace clean.<entity> with the accepted rows (lineage columns last).

    The table is declared with explicit DDL and filled by exactly ONE insert (`union_sql` adds
    rows to it): with DuckDB 1.5.5, inside a transaction, a table created by CTAS or given an
    empty INSERT and then a large INSERT (over one row group) reads back EMPTY on the same
    connection (the data is on disk; only a reconnect shows it). Temp tables are unaffected,
    which is why the quarantine is collected in one.
    """
    outputs = OUTPUT[entity]
    ddl = ", ".join(f"{_q(c)} {t}" for c, t in outputs)
    con.execute(
        f"CREATE OR REPLACE TABLE clean.{entity} ({ddl}, _source_file VARCHAR, _source_row BIGINT)"
    )
    cols = ", ".join(_q(c) for c, _ in outputs if c != "derived_from_orders")
    derived = ", false AS derived_from_orders" if entity == "customers" else ""
    con.execute(
        f"""INSERT INTO clean.{entity} BY NAME
            SELECT {cols}{derived}, _source_file, _source_row FROM _f_{entity}
            WHERE {_KEPT} {union_sql}"""
    )


def _derived_customers_sql(
    con: duckdb.DuckDBPyConnection, log: logging.Logger, report: CleanReport
) -> str:
    """SQL (a UNION ALL BY NAME clause) of the customers referenced by orders, refunds, NPS or
    tickets but absent from the accepted customers; they are created with derived_from_orders.
    """
    refs = {
        "orders": "order_date",
        "refunds": "refunded_at",
        "nps_responses": "responded_at",
        "support_tickets": "created_at",
    }
    union = " UNION ALL ".join(
        f"SELECT customer_id, {_lit(e)} AS entity, CAST({d} AS TIMESTAMP) AS seen_at FROM clean.{e}"
        for e, d in refs.items()
    )
    # The accepted ids are copied out of the `_f_customers` view first: an anti-join of 11M
    # references against the view took 10 s at 10M orders, against a table 1 s.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _kept_customers AS "
        f"SELECT customer_id FROM _f_customers WHERE {_KEPT}"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _unknown_refs AS
            SELECT r.* FROM ({union}) r
            WHERE NOT EXISTS (
                SELECT 1 FROM _kept_customers c WHERE c.customer_id = r.customer_id)"""
    )
    for entity, customers, rows in con.execute(
        "SELECT entity, count(DISTINCT customer_id), count(*) FROM _unknown_refs "
        "GROUP BY entity ORDER BY entity"
    ).fetchall():
        report.derived_by_entity[entity] = customers
        log.warning(
            "%s: %d row(s) reference %d customer(s) absent from customers; "
            "those customers are created (derived_from_orders = true)",
            entity,
            rows,
            customers,
        )
    nulls = ", ".join(
        f"CAST(NULL AS {t}) AS {_q(c)}"
        for c, t in OUTPUT["customers"]
        if c not in ("customer_id", "created_at", "updated_at", "derived_from_orders")
    )
    report.derived_customers = con.execute(
        "SELECT count(DISTINCT customer_id) FROM _unknown_refs"
    ).fetchone()[0]
    report.orphan_order_lines = con.execute(
        "SELECT count(*) FROM clean.order_lines l WHERE NOT EXISTS "
        "(SELECT 1 FROM clean.orders o WHERE o.order_id = l.order_id)"
    ).fetchone()[0]
    if report.orphan_order_lines:
        log.warning(
            "order_lines: %d line(s) reference orders absent from orders (kept)",
            report.orphan_order_lines,
        )
    return f"""UNION ALL BY NAME
        SELECT customer_id, min(seen_at) AS created_at, min(seen_at) AS updated_at, {nulls},
               true AS derived_from_orders, NULL::VARCHAR AS _source_file,
               NULL::BIGINT AS _source_row
        FROM _unknown_refs GROUP BY customer_id"""


def _count_deferred(
    con: duckdb.DuckDBPyConnection, entity: str, as_of: dt.date, log: logging.Logger
) -> None:
    """Record, per file, the rows of `entity` deferred to a later refresh (and log them)."""
    col = AS_OF_COLUMNS.get(entity, "NULL")
    con.execute(
        f"""INSERT INTO _deferred_counts
            SELECT {_lit(entity)}, _source_file, count(*), CAST(max({col}) AS VARCHAR)
            FROM _v_{entity} WHERE _err['reason'] = '{DEFERRED}' GROUP BY ALL"""
    )
    found = con.execute(
        "SELECT f, n, latest FROM _deferred_counts WHERE entity = ? ORDER BY f", [entity]
    ).fetchall()
    if entity == "orders" and found:
        # Lines follow their order: deferred when every row of the order is deferred (an
        # order re-exported with a later date keeps its lines with its earlier version).
        con.execute(
            f"""INSERT INTO {_DEFERRED_ORDERS}
                WITH d AS (SELECT DISTINCT order_id FROM _v_orders
                           WHERE _err['reason'] = '{DEFERRED}' AND order_id IS NOT NULL)
                SELECT order_id FROM d WHERE NOT EXISTS (
                    SELECT 1 FROM _v_orders v WHERE v.order_id = d.order_id
                    AND coalesce(v._err['reason'], '') <> '{DEFERRED}')"""
        )
    for file, n, latest in found:
        log.info(
            "%s (%s): %d row(s) dated after the as-of date %s deferred to a later refresh "
            "(kept in raw, not quarantined)%s",
            file,
            entity,
            n,
            as_of.isoformat(),
            f"; latest {latest[:10]}" if latest else "",
        )


def _load_log(con: duckdb.DuckDBPyConnection) -> None:
    accepted = " UNION ALL ".join(
        f"SELECT _source_file AS f, count(*) AS n FROM clean.{e} "
        f"WHERE _source_file IS NOT NULL GROUP BY 1"
        for e in ENTITIES
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE clean.load_log AS
            SELECT r.entity, r.source_file, r.checksum, r.encoding, r.delimiter,
                   r.decimal_separator, r.date_format, r.rows_read,
                   coalesce(a.n, 0) AS rows_accepted, coalesce(d.n, 0) AS rows_deferred,
                   coalesce(q.n, 0) AS rows_rejected, r.loaded_at
            FROM {extract.REGISTRY_TABLE} r
            LEFT JOIN ({accepted}) a ON a.f = r.source_file
            LEFT JOIN _deferred_counts d ON d.f = r.source_file
            LEFT JOIN (SELECT source_file AS f, count(*) AS n FROM clean.quarantine
                       WHERE action = 'rejected' GROUP BY 1) q ON q.f = r.source_file
            ORDER BY r.entity, r.source_file"""
    )


def clean_entities(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    currency: str,
    log: logging.Logger,
    *,
    date_floor: dt.date,
) -> CleanReport:
    """Rebuild every `clean.*` table, `clean.quarantine` and `clean.load_log` from `raw.*`.

    Rows dated after `as_of` are deferred (left out, counted per file); dates before
    `date_floor` are implausible. Runs in one transaction: readers see the previous clean
    tables or the new ones, never a mix.
    """
    if date_floor > as_of:
        raise ValueError(
            f"the date floor {date_floor} is after the as-of date {as_of}: every dated row "
            "would be implausible; set date_floor (--date-floor) on or before the as-of date"
        )
    report = CleanReport()
    con.execute("BEGIN TRANSACTION")
    try:
        extract.ensure_raw_tables(con)
        _create_work_tables(con)
        formats = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT date_format FROM {extract.REGISTRY_TABLE} "
                "WHERE date_format <> 'iso' ORDER BY 1"
            ).fetchall()
        ]
        # Customers last: they gain the customers that other entities reference.
        for entity in [*(e for e in ENTITIES if e != "customers"), "customers"]:
            checks, parsed_sql, raw_json = _parsed_relation(con, entity, as_of, date_floor, formats)
            if entity == "customers":
                con.execute(f"CREATE OR REPLACE TEMP TABLE _cl_customers AS {parsed_sql}")
                _attach_phones(con, log)
            _classify(con, entity, checks, currency, parsed_sql)
            _count_deferred(con, entity, as_of, log)
            _quarantine(con, entity, checks, raw_json)
            derived = _derived_customers_sql(con, log, report) if entity == "customers" else ""
            _publish(con, entity, derived)
        con.execute(f"CREATE OR REPLACE TABLE clean.quarantine ({QUARANTINE_DDL})")
        con.execute(
            "INSERT INTO clean.quarantine SELECT * FROM _quarantine "
            "ORDER BY entity, source_file, source_row, reason_code"
        )
        _load_log(con)
        con.execute("DROP TABLE IF EXISTS _cl_customers")
        for entity in ENTITIES:
            con.execute(f"DROP VIEW IF EXISTS _f_{entity}")
            con.execute(f"DROP VIEW IF EXISTS _r_{entity}")
            for work in ("_v_", "_dc_", "_dk_", "_ln_"):
                con.execute(f"DROP TABLE IF EXISTS {work}{entity}")
        con.execute("DROP TABLE IF EXISTS _quarantine")
        con.execute("DROP TABLE IF EXISTS _deferred_counts")
        con.execute(f"DROP TABLE IF EXISTS {_DEFERRED_ORDERS}")
        con.execute("DROP TABLE IF EXISTS _unknown_refs")
        con.execute("DROP TABLE IF EXISTS _kept_customers")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    _fill_report(con, report, log)
    return report


def _fill_report(con: duckdb.DuckDBPyConnection, report: CleanReport, log: logging.Logger) -> None:
    for entity, read, acc, rej, deferred in con.execute(
        "SELECT entity, sum(rows_read), sum(rows_accepted), sum(rows_rejected), "
        "sum(rows_deferred) FROM clean.load_log GROUP BY entity"
    ).fetchall():
        report.entities[entity] = EntityCounts(int(read), int(acc), int(rej), 0, int(deferred))
    for entity, n in con.execute(
        "SELECT entity, count(*) FROM clean.quarantine WHERE action = 'field_nulled' GROUP BY 1"
    ).fetchall():
        report.entities.setdefault(entity, EntityCounts()).fields_nulled = n
    report.quarantined = dict(
        con.execute(
            "SELECT reason_code, count(*) FROM clean.quarantine GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    for entity, c in sorted(report.entities.items()):
        log.info(
            "%s: %d read, %d accepted, %d deferred, %d rejected, %d field(s) nulled",
            entity,
            c.rows_read,
            c.accepted,
            c.deferred,
            c.rejected,
            c.fields_nulled,
        )
    if report.quarantined:
        log.info("quarantine per reason: %s", report.quarantined)
