"""Validation rules of each entity: those every entity gets follow from its EntitySpec's column
kinds and required columns; those only one entity has are data on its EntitySpec (`rules`).

The clean tables' shape (OUTPUT, KEYS, GENERATED_ID) comes from the EntitySpecs; the checks
(`entity_checks`) say, in priority order, which value rejects a row or is removed from it, with
its reason code and message; `output_value` how an accepted value is normalised; `deferral_sql`
when a row is left for a later refresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.ingest.entities import (
    AMOUNT,
    AS_OF_COLUMNS,
    BOOLEAN,
    DATE,
    DEFAULT_ORDER_STATUS,
    ENTITIES,
    INTEGER,
    TIMESTAMP,
)
from pipeline.ingest.phones import DEFAULT_REGION
from pipeline.ingest.sql_fragments import message_sql, shown_sql

# Short names: these modules build long SQL strings out of them.
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


#: Output columns of each clean table (contract order), its key, and the prefix of ids generated
#: for rows without one: read from the EntitySpec of `entities.py`, never restated here.
OUTPUT: dict[str, list[tuple[str, str]]] = {
    name: spec.clean_columns() for name, spec in ENTITIES.items()
}
KEYS: dict[str, tuple[str, ...]] = {name: spec.key for name, spec in ENTITIES.items()}

GENERATED_ID: dict[str, tuple[str, str]] = {
    name: (spec.key[0], spec.generated_id) for name, spec in ENTITIES.items() if spec.generated_id
}


@dataclass(frozen=True)
class Check:
    """One validation: when `condition` holds, the row is rejected or the field nulled."""

    column: str
    reason: str
    condition: str
    message: str
    nulls_field: bool = False


def entity_checks(entity: str, formats_note: str) -> list[Check]:
    """Validations of one entity, in priority order (the first failing one is reported)."""
    spec = ENTITIES[entity]
    checks: list[Check] = []
    for col in spec.required:
        checks.append(
            Check(
                col,
                "missing_required",
                f"t_{col} IS NULL",
                message_sql(col, "'required value is missing'"),
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
                Check(
                    col,
                    "invalid_amount",
                    bad,
                    message_sql(
                        col,
                        f"{shown_sql(col)} || ' is not a valid amount (decimal separator ' || "
                        "_decimal || ')'",
                    ),
                    nulls,
                )
            )
        elif kind in (DATE, TIMESTAMP):
            checks.append(
                Check(
                    col,
                    "unparsable_date",
                    bad,
                    message_sql(
                        col,
                        f"{shown_sql(col)} || ' is not a valid date (format ' || {formats_note} "
                        "|| ')'",
                    ),
                    nulls,
                )
            )
        elif kind == INTEGER:
            checks.append(
                Check(
                    col,
                    "invalid_value",
                    bad,
                    message_sql(col, f"{shown_sql(col)} || ' is not an integer (32-bit)'"),
                    nulls,
                )
            )
        else:
            checks.append(
                Check(
                    col,
                    "invalid_value",
                    bad,
                    message_sql(
                        col,
                        f"{shown_sql(col)} || "
                        "' is not a boolean (true/false, yes/no, oui/non, 1/0)'",
                    ),
                    nulls,
                )
            )
    for col, kind in typed:
        nulls = col not in spec.required
        if kind in (DATE, TIMESTAMP):
            checks.append(
                Check(
                    col,
                    "implausible_date",
                    f"p_{col} < _date_floor",
                    message_sql(
                        col,
                        f"{shown_sql(col)} || ' is before the plausibility floor ' || "
                        "CAST(_date_floor AS VARCHAR) || ' (setting date_floor)'",
                    ),
                    nulls,
                )
            )
        if (entity, col) == ("customers", "birth_date"):
            # Rows are deferred by their creation date; a birth after the as-of is an error.
            checks.append(
                Check(
                    col,
                    "future_date",
                    f"p_{col} > _as_of",
                    message_sql(
                        col,
                        f"{shown_sql(col)} || ' is after the as-of date ' || "
                        "CAST(_as_of AS VARCHAR)",
                    ),
                    True,
                )
            )
        if kind == AMOUNT:
            checks.append(
                Check(
                    col,
                    "amount_out_of_range",
                    f"n_{col} IS NOT NULL AND (p_{col} IS NULL OR abs(p_{col}) >= {AMOUNT_LIMIT})",
                    message_sql(
                        col,
                        f"{shown_sql(col)} || ' is outside the accepted range (absolute value "
                        f"below {AMOUNT_LIMIT:,})'",
                    ),
                    nulls,
                )
            )
            checks.append(
                Check(
                    col,
                    "negative_amount",
                    f"p_{col} < 0",
                    message_sql(col, f"{shown_sql(col)} || ' is negative'"),
                    nulls,
                )
            )
    for rule in spec.rules:
        if rule.shows_value:
            message = f"{shown_sql(rule.column)} || {_lit(' ' + rule.says)}"
        else:
            message = _lit(rule.says)
        checks.append(
            Check(
                rule.column,
                rule.reason,
                rule.rejects,
                message_sql(rule.column, message),
                rule.drops_value,
            )
        )
    return checks


#: Order ids whose every row in the orders files is deferred (their lines are deferred too).
DEFERRED_ORDERS = "_deferred_orders"


def deferral_sql(entity: str) -> str:
    """The CASE branch giving a row dated after the as-of date the fate `deferred`.

    It comes before every check: such a row is not part of this refresh, so it is neither
    validated nor counted in the quarantine rate; a later refresh validates it.
    """
    col = AS_OF_COLUMNS.get(entity)
    if col is not None:
        condition = f"CAST(p_{col} AS DATE) > _as_of"
        text = f"{shown_sql(col)} || ' is after the as-of date ' || CAST(_as_of AS VARCHAR)"
    elif entity == "order_lines":
        col = "order_id"
        condition = f"t_order_id IN (SELECT order_id FROM {DEFERRED_ORDERS})"
        text = "'order ' || t_order_id || ' is dated after the as-of date'"
    else:
        return ""
    return (
        f"WHEN {condition} THEN {{'column': {_lit(col)}, 'reason': '{DEFERRED}', "
        f"'message': {message_sql(col, text)}}}"
    )


def output_value(entity: str, col: str, checks: list[Check], currency: str) -> str:
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


def nulling_checks(entity: str, checks: list[Check]) -> list[Check]:
    """Checks that remove a value from an accepted row (customers: also an invalid phone)."""
    nulling = [c for c in checks if c.nulls_field]
    if entity == "customers":
        nulling.append(
            Check(
                "phone",
                "invalid_phone",
                "t_phone IS NOT NULL AND _phone_e164 IS NULL",
                message_sql(
                    "phone",
                    f"{shown_sql('phone')} || ' is not a valid phone number for region ' || "
                    f"coalesce(p_country, '{DEFAULT_REGION}')",
                ),
                True,
            )
        )
    return nulling
