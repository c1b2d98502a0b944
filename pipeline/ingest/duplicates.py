"""Duplicate detection of the cleaning step: exact copies and rows sharing a key.

`classify` decides every raw row's fate (valid, exact copy of a kept row, older version of a
key) and exposes it as the view `_f_<entity>`; `KEPT` is the condition of a row that ends in its
clean table.
"""

from __future__ import annotations

import duckdb

from pipeline.ingest.rules import GENERATED_ID, KEYS, OUTPUT, Check, nulling_checks, output_value

# Short names: these modules build long SQL strings out of them.
from pipeline.lib.sql import quote_ident as _q
from pipeline.lib.sql import sql_literal as _lit


def reported_key(entity: str) -> str:
    """The key column named in duplicate_key messages (order lines: their line number)."""
    return KEYS[entity][0] if len(KEYS[entity]) == 1 else "line_number"


#: A row ends in its clean table: valid, the most recent of its exact copies, then of its key.
KEPT = "_err IS NULL AND _rn_content = 1 AND _rn_key = 1"


def classify(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    checks: list[Check],
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
    values = {c: output_value(entity, c, checks, currency) for c in outputs}
    if entity == "customers":
        # Contract: updated_at is the last change seen, created_at when the export has none.
        values["updated_at"] = f"coalesce({values['updated_at']}, {values['created_at']})"
    select = ", ".join(f"{v} AS {_q(c)}" for c, v in values.items())
    # The message of each value removed from the row (NULL when its check passes).
    nulled = "".join(
        f"CASE WHEN {c.condition} THEN {c.message} END AS _nulled_{i}, "
        for i, c in enumerate(nulling_checks(entity, checks))
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
    key_col = reported_key(entity)
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
