"""Descriptions of the published tables and columns, so BI tools show what each one means.

The dbt YAML describes every model, seed and column once; the publication copies those
descriptions as comments on the serving file's tables and columns (`COMMENT ON`, which DuckDB
shows in `duckdb_tables()` / `duckdb_columns()` and BI drivers read), then on the PostgreSQL
tables, and lists them in the table `data_dictionary` (also exported as Parquet/CSV, for tools
that read no comment). Columns the publication itself adds or renames (refresh_id, the
pseudonymous keys) and its own tables are described here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.lib.sql import quote_ident, sql_literal

DICTIONARY_TABLE = "data_dictionary"
REFRESH_ID_DESCRIPTION = (
    "Refresh this row belongs to (the as-of date, YYYY-MM-DD); the same in every table of one "
    "publication."
)
CUSTOMER_KEY_DESCRIPTION = (
    "Pseudonymous customer key: HMAC-SHA256 of the master customer id with the deployment's "
    "secret key, hex encoded. Stable across refreshes, not reversible without the key."
)


@dataclass(frozen=True)
class TableDoc:
    """A table's description, its columns' descriptions (by column name), and the columns the
    dbt YAML keeps out of the publication (`meta: {publish: false}`)."""

    description: str
    columns: dict[str, str] = field(default_factory=dict)
    withheld: frozenset[str] = frozenset()


#: The publication's own tables.
PUBLICATION_DOCS: dict[str, TableDoc] = {
    "refresh_info": TableDoc(
        "Which refresh this serving file holds (one row): read it first.",
        {
            "refresh_id": REFRESH_ID_DESCRIPTION,
            "as_of": "As-of date of the refresh: nothing dated after it was read.",
            "published_at": "When the publication switched this refresh in (UTC).",
            "run_id": "Dagster run that published it.",
            "tables": "Published tables, comma separated.",
            "row_counts": "Rows per published table (JSON object).",
            "table_count": "Number of published tables.",
            "total_rows": "Rows in all published tables.",
            "trigger": "What started the refresh: cli, schedule, new_data, kpi_drop, "
            "business_event, backfill or manual.",
            "reason": "Why the refresh ran, in one sentence.",
            "reason_metric": "For a KPI drop: the metric that moved (nps, churn_rate); else empty.",
            "reason_segment": "For a KPI drop: the segment watched ('All' = every customer).",
            "reason_before": "For a KPI drop: the published value of the metric.",
            "reason_after": "For a KPI drop: the value the monitoring job measured.",
            "reason_threshold": "For a KPI drop: the setting the move exceeded.",
        },
    ),
    "refresh_tables": TableDoc(
        "One row per published table: where it comes from and how many rows it has.",
        {
            "refresh_id": REFRESH_ID_DESCRIPTION,
            "table_name": "Published table.",
            "source": "Warehouse table it was copied from (schema.table).",
            "row_count": "Rows published.",
        },
    ),
    DICTIONARY_TABLE: TableDoc(
        "Every published table and column with its type and description (the comments of this "
        "file, for tools that do not read comments).",
        {
            "refresh_id": REFRESH_ID_DESCRIPTION,
            "table_name": "Published table.",
            "column_name": "Column of the table ('' for the table's own description).",
            "data_type": "Column type in this file ('' for the table's own description).",
            "description": "What the table or column holds.",
        },
    ),
}


def dbt_descriptions(manifest_path: Path) -> dict[str, TableDoc]:
    """Descriptions of every dbt model and seed, by relation name, from a dbt manifest."""
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    docs: dict[str, TableDoc] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") not in ("model", "seed"):
            continue
        columns = {
            name: (column.get("description") or "").strip()
            for name, column in (node.get("columns") or {}).items()
        }
        withheld = frozenset(
            name
            for name, column in (node.get("columns") or {}).items()
            if (column.get("meta") or {}).get("publish") is False
            or (column.get("config", {}).get("meta") or {}).get("publish") is False
        )
        docs[node.get("alias") or node["name"]] = TableDoc(
            (node.get("description") or "").strip(), columns, withheld
        )
    return docs


def warehouse_doc(
    con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str
) -> TableDoc | None:
    """The comments a warehouse table carries (tables built in Python, not by dbt, describe
    themselves with `COMMENT ON`), or None when it has none."""
    row = con.execute(
        "SELECT comment FROM duckdb_tables() "
        "WHERE database_name = ? AND schema_name = ? AND table_name = ?",
        [catalog, schema, table],
    ).fetchone()
    columns = dict(
        con.execute(
            "SELECT column_name, comment FROM duckdb_columns() "
            "WHERE database_name = ? AND schema_name = ? AND table_name = ? "
            "AND comment IS NOT NULL",
            [catalog, schema, table],
        ).fetchall()
    )
    if not (row and row[0]) and not columns:
        return None
    return TableDoc((row[0] if row else None) or "", columns)


def column_description(doc: TableDoc | None, column: str, source_column: str) -> str:
    """Description of a published column; `source_column` is its warehouse name."""
    if column == "refresh_id":
        return REFRESH_ID_DESCRIPTION
    if column != source_column and column.endswith("customer_key"):
        return CUSTOMER_KEY_DESCRIPTION
    return (doc.columns.get(source_column, "") if doc else "").strip()


def apply_comments(
    con: duckdb.DuckDBPyConnection,
    table: str,
    doc: TableDoc | None,
    renamed: Mapping[str, str] | None = None,
) -> list[str]:
    """`COMMENT ON` the table and each of its columns; returns the columns left undescribed.

    `renamed` maps published column names to their warehouse names (customer_key ->
    customer_id), whose description they inherit unless they are a pseudonymous key.
    """
    renamed = renamed or {}
    relation = quote_ident(table)
    if doc and doc.description:
        con.execute(f"COMMENT ON TABLE {relation} IS {sql_literal(doc.description)}")
    missing = []
    for (column,) in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ? ORDER BY column_index",
        [table],
    ).fetchall():
        text = column_description(doc, column, renamed.get(column, column))
        if text:
            con.execute(
                f"COMMENT ON COLUMN {relation}.{quote_ident(column)} IS {sql_literal(text)}"
            )
        else:
            missing.append(column)
    return missing


def write_dictionary(con: duckdb.DuckDBPyConnection, refresh_id: str, tables: list[str]) -> None:
    """The table `data_dictionary` from the comments of `tables` (and of itself)."""
    con.execute(
        f"CREATE TABLE {DICTIONARY_TABLE} (refresh_id VARCHAR, table_name VARCHAR, "
        "column_name VARCHAR, data_type VARCHAR, description VARCHAR)"
    )
    apply_comments(con, DICTIONARY_TABLE, PUBLICATION_DOCS[DICTIONARY_TABLE])
    everything = [*tables, DICTIONARY_TABLE]
    con.execute(
        f"""INSERT INTO {DICTIONARY_TABLE}
            SELECT ?, table_name, '', '', coalesce(comment, '') FROM duckdb_tables()
            WHERE database_name = current_database() AND schema_name = 'main'
              AND list_contains(?, table_name)
            UNION ALL
            SELECT ?, table_name, column_name, data_type, coalesce(comment, '')
            FROM duckdb_columns()
            WHERE database_name = current_database() AND schema_name = 'main'
              AND list_contains(?, table_name)""",
        [refresh_id, everything, refresh_id, everything],
    )


def table_comments(con: duckdb.DuckDBPyConnection, table: str) -> tuple[str | None, dict[str, str]]:
    """The comment of a table of `con`'s main schema and of its columns (PostgreSQL copies them)."""
    row = con.execute(
        "SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ?",
        [table],
    ).fetchone()
    columns = dict(
        con.execute(
            "SELECT column_name, comment FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = 'main' "
            "AND table_name = ? AND comment IS NOT NULL",
            [table],
        ).fetchall()
    )
    return (row[0] if row else None), columns
