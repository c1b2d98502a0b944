"""SQL fragments of the cleaning step: reading amounts, dates, integers and booleans as written
in the exports, and the text of quarantine messages. Pure functions returning SQL text."""

from __future__ import annotations

from pipeline.ingest.entities import AMOUNT, BOOLEAN, DATE, ENTITIES, INTEGER, TIMESTAMP

# Short names: these modules build long SQL strings out of them.
from pipeline.lib.sql import quote_ident as _q
from pipeline.lib.sql import sql_literal as _lit


def message_sql(column: str, text: str) -> str:
    """SQL building '<file> row <n>: column <c>: <text>' where `text` is itself SQL."""
    return (
        f"_source_file || ' row ' || CAST(_source_row AS VARCHAR) || "
        f"': column {column}: ' || {text}"
    )


def shown_sql(col: str) -> str:
    """SQL quoting a raw value for messages: 'value'."""
    return f"'''' || t_{col} || ''''"


_CURRENCY = r"(€|\$|£|EUR|USD|GBP|CHF)"

_GROUP_SPACE = "[ \u00a0\u202f]"


def amount_text_sql(v: str) -> str:
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


#: Appended to a value and to its strptime format. DuckDB 1.5.5's strptime reads the byte after
#: the value when the value ends while the format still has a literal to match: every
#: '31/12/2025 10:30' tried with '%d/%m/%Y %H:%M:%S' reads one byte past its end, which crashed
#: the process when a value ended at the end of a memory page (SIGSEGV in the cleaning step: at
#: the third run of a loop over the 1M-order demo, and in the 10M-order benchmark). With the
#: sentinel, that byte is the value's own '|', which no directive consumes and which only the
#: format's own final '|' matches: results are unchanged, and the parser never reaches the end of
#: the value with format left. strptime accepts trailing whitespace (' ', tab, newline, carriage
#: return, vertical tab, form feed): it is removed before the sentinel, so it still is.
STRPTIME_SENTINEL = "|"
_TRAILING_SPACE = " || ".join(f"chr({c})" for c in (32, 9, 10, 11, 12, 13))


def timestamp_sql(v: str, formats: list[str]) -> str:
    """Parse ISO dates/timestamps, or the file's (detected or configured) strptime format."""
    branches = []
    end = STRPTIME_SENTINEL
    for fmt in formats:
        tries = ", ".join(
            f"try_strptime(rtrim({v}, {_TRAILING_SPACE}) || {_lit(end)}, "
            f"{_lit(fmt + suffix + end)})"
            for suffix in ("", " %H:%M:%S", " %H:%M")
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


def integer_sql(v: str) -> str:
    return (
        f"CASE WHEN regexp_full_match({v}, '[+-]?\\d+([.,]0+)?') "
        f"THEN try_cast(regexp_replace({v}, '[.,]0+$', '') AS INTEGER) END"
    )


TRUE_WORDS = ("true", "t", "1", "yes", "y", "oui", "o", "vrai")

FALSE_WORDS = ("false", "f", "0", "no", "n", "non", "faux")


def parsed_columns_sql(entity: str, formats: list[str]) -> list[str]:
    """SELECT items `t_<col>` (trimmed text) and `p_<col>` (typed value) of each column."""
    items = []
    for col, kind in ENTITIES[entity].columns.items():
        t = f"t_{col}"
        items.append(f"nullif(trim({_q(col)}), '') AS {t}")
        if kind == AMOUNT:
            items.append(f"{amount_text_sql(t)} AS n_{col}")
        elif kind == DATE:
            items.append(f"CAST({timestamp_sql(t, formats)} AS DATE) AS p_{col}")
        elif kind == TIMESTAMP:
            items.append(f"{timestamp_sql(t, formats)} AS p_{col}")
        elif kind == INTEGER:
            items.append(f"{integer_sql(t)} AS p_{col}")
        elif kind == BOOLEAN:
            items.append(
                f"CASE WHEN lower({t}) IN ({', '.join(map(_lit, TRUE_WORDS))}) THEN true "
                f"WHEN lower({t}) IN ({', '.join(map(_lit, FALSE_WORDS))}) THEN false END "
                f"AS p_{col}"
            )
    return items
