"""The segment distribution as a markdown table, for the metadata of Dagster assets.

Read from the mart `segment_kpis` (one computation of the distribution, in dbt): the dbt
assets show it on their page and the report asset repeats it.
"""

from __future__ import annotations

import duckdb

from pipeline.lib.codes import OVERALL
from pipeline.lib.sql import table_exists


def segment_distribution_markdown(con: duckdb.DuckDBPyConnection) -> str:
    """Markdown table (segment, customers, share, revenue) of the segments with customers."""
    if not table_exists(con, "marts", "segment_kpis"):
        return ""
    rows = con.execute(
        "select segment, customers, share, cast(revenue as double) from marts.segment_kpis "
        "where customers > 0 order by segment = ?, priority, segment",
        [OVERALL],
    ).fetchall()
    lines = ["| segment | customers | share | revenue |", "|---|---:|---:|---:|"]
    for segment, customers, share, revenue in rows:
        name = "**total**" if segment == OVERALL else segment
        share_text, revenue_text = f"{float(share or 0):.1%}", f"{float(revenue or 0):,.2f}"
        lines.append(f"| {name} | {int(customers):,} | {share_text} | {revenue_text} |")
    return "\n".join(lines)
