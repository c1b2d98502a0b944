"""Everything the insight report shows, read from the warehouse marts and history as aggregates.

Only aggregates leave the warehouse: identity.customers is read for birth_date and region and
never for names, e-mails or phones, so the report can be shared without personal data.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

#: Segment code used by segment_kpis / kpi_history for the all-customers row.
ALL = "All"
#: Age bands of the persona sheets (lower bound inclusive, label).
AGE_BANDS = [(0, "<25"), (25, "25-34"), (35, "35-44"), (45, "45-54"), (55, "55-64"), (65, "65+")]
SEASONS = {
    12: "winter",
    1: "winter",
    2: "winter",
    3: "spring",
    4: "spring",
    5: "spring",
    6: "summer",
    7: "summer",
    8: "summer",
    9: "autumn",
    10: "autumn",
    11: "autumn",
}
KPI_METRICS = ["nps", "churn_rate", "return_rate", "tickets_per_customer"]


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """True when schema.table exists (table or view)."""
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of a table, in order."""
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return {name: dtype for name, dtype in rows}


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """A query result as a pandas DataFrame."""
    return con.execute(sql, params or []).df()


def _num(value: Any) -> float | None:
    """A float, or None for NULL / NaN (pandas and DuckDB both produce them)."""
    if value is None or value is pd.NA:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


@dataclass
class Segment:
    """A segment as the report names it: code, label in the report language, rule priority."""

    code: str
    label: str
    priority: int
    action: str


@dataclass
class Persona:
    """A data-driven sheet for one segment: every number is an aggregate of its customers."""

    segment: Segment
    customers: int
    share: float
    revenue: float
    revenue_share: float
    avg_monetary: float
    median_recency: float | None
    median_frequency: float | None
    median_basket: float | None
    mean_r_score: float
    mean_f_score: float
    categories: list[tuple[str, float]] = field(default_factory=list)
    channels: list[tuple[str, float]] = field(default_factory=list)
    seasons: list[tuple[str, float]] = field(default_factory=list)
    regions: list[tuple[str, float]] = field(default_factory=list)
    region_known: float = 0.0
    age_bands: list[tuple[str, float]] = field(default_factory=list)
    age_known: float = 0.0
    nps: float | None = None
    tone: str = "light"
    trend: float | None = None
    act_score: float = 0.0


def report_as_of(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The as-of date of the data in the marts (what the report describes)."""
    row = con.execute("select max(as_of) from marts.customer_rfm").fetchone()
    if not row or row[0] is None:
        raise ValueError("marts.customer_rfm is empty: nothing to report")
    value = row[0]
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def load_segments(con: duckdb.DuckDBPyConnection, language: str) -> list[Segment]:
    """Segments with customers, ordered by rule priority, labelled from the segments seed.

    The seed holds actions in both languages; customer_rfm only carries the dbt language's, so
    the seed wins when present.
    """
    seed_cols = columns(con, "marts", "segments") if table_exists(con, "marts", "segments") else {}
    action_col = f"recommended_action_{language}"
    if action_col in seed_cols:
        action_sql = f"coalesce(s.{action_col}, r.recommended_action)"
        join = "left join marts.segments s on s.segment = r.segment"
    else:
        action_sql, join = "r.recommended_action", ""
    df = _df(
        con,
        f"""
        select r.segment, any_value(r.label_fr) as label_fr, any_value(r.label_en) as label_en,
               min(r.priority) as priority, any_value({action_sql}) as action
        from marts.customer_rfm r {join}
        where r.segment is not null
        group by r.segment
        order by min(r.priority) nulls last, r.segment
        """,
    )
    label_col = f"label_{language}"
    return [
        Segment(
            code=str(row.segment),
            label=str(getattr(row, label_col, None) or row.segment),
            priority=int(row.priority) if _num(row.priority) is not None else 99,
            action=str(row.action or ""),
        )
        for row in df.itertuples()
    ]


def segment_distribution(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Segment, customers, share, revenue and revenue share from customer_rfm, by priority."""
    return _df(
        con,
        """
        select segment,
               count(*) as customers,
               count(*) / sum(count(*)) over () as share,
               cast(sum(monetary) as double) as revenue,
               cast(sum(monetary) as double) / nullif(sum(sum(monetary)) over (), 0)
                   as revenue_share,
               min(priority) as priority
        from marts.customer_rfm
        where segment is not null
        group by segment
        order by min(priority) nulls last, segment
        """,
    )


def segment_distribution_markdown(con: duckdb.DuckDBPyConnection) -> str:
    """Markdown table (segment, customers, share, revenue) for Dagster asset metadata."""
    df = segment_distribution(con)
    lines = ["| segment | customers | share | revenue |", "|---|---:|---:|---:|"]
    for row in df.itertuples():
        lines.append(
            f"| {row.segment} | {int(row.customers):,} | {float(row.share):.1%} "
            f"| {_num(row.revenue) or 0.0:,.2f} |"
        )
    total_customers = int(df["customers"].sum()) if len(df) else 0
    total_revenue = float(df["revenue"].fillna(0).sum()) if len(df) else 0.0
    lines.append(f"| **total** | {total_customers:,} | 100.0% | {total_revenue:,.2f} |")
    return "\n".join(lines)


def kpi_refreshes(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> list[dt.date]:
    """Distinct as-of dates in history.kpi_history up to this refresh, oldest first."""
    if not table_exists(con, "history", "kpi_history"):
        return []
    rows = con.execute(
        "select distinct cast(as_of as date) from history.kpi_history "
        "where cast(as_of as date) <= ? order by 1",
        [as_of],
    ).fetchall()
    return [r[0] for r in rows]


def headline(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> dict[str, Any]:
    """Overall KPIs now and, when history has an earlier refresh, the same KPIs then."""
    metrics = [
        "customers",
        "revenue",
        "avg_basket",
        "avg_frequency",
        "avg_recency_days",
        *KPI_METRICS,
    ]
    current = _df(con, "select * from marts.segment_kpis where segment = ?", [ALL])
    now = {m: _num(current[m].iloc[0]) if m in current and len(current) else None for m in metrics}
    refreshes = kpi_refreshes(con, as_of)
    previous: dict[str, float | None] | None = None
    previous_as_of = None
    earlier = [d for d in refreshes if d < as_of]
    if earlier:
        previous_as_of = earlier[-1]
        prev = _df(
            con,
            "select * from history.kpi_history where segment = ? and cast(as_of as date) = ?",
            [ALL, previous_as_of],
        )
        previous = {m: _num(prev[m].iloc[0]) if m in prev and len(prev) else None for m in metrics}
    return {"now": now, "previous": previous, "previous_as_of": previous_as_of, "metrics": metrics}


def rf_grid(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Customer count and average monetary per (r_score, f_score) cell."""
    return _df(
        con,
        """
        select r_score, f_score, count(*) as customers,
               cast(avg(monetary) as double) as avg_monetary
        from marts.customer_rfm group by r_score, f_score order by r_score, f_score
        """,
    )


def retention(con: duckdb.DuckDBPyConnection, max_cohorts: int = 24) -> pd.DataFrame:
    """Retention rate per cohort and period index, for the most recent cohorts."""
    return _df(
        con,
        """
        with recent as (
            select distinct cohort from marts.cohort_retention order by cohort desc limit ?
        )
        select cast(c.cohort as varchar) as cohort, c.period_index, c.cohort_size,
               c.retention_rate
        from marts.cohort_retention c join recent using (cohort)
        order by c.cohort, c.period_index
        """,
        [max_cohorts],
    )


def season_comparison(con: duckdb.DuckDBPyConnection) -> tuple[list[int], pd.DataFrame]:
    """January vs July acquisition months with their CLV at each horizon (3/6/12 months).

    Horizons are read from the `clv_<n>m` column names, so a new horizon needs no code change.
    """
    if not table_exists(con, "marts", "cohort_season_comparison"):
        return [], pd.DataFrame()
    cols = columns(con, "marts", "cohort_season_comparison")
    horizons = sorted(int(m.group(1)) for c in cols if (m := re.fullmatch(r"clv_(\d+)m", c)))
    df = _df(
        con,
        "select * from marts.cohort_season_comparison where acquisition_month in (1, 7) "
        "order by acquisition_month",
    )
    return horizons, df


def transitions(
    con: duckdb.DuckDBPyConnection, as_of: dt.date
) -> tuple[dt.date | None, pd.DataFrame]:
    """Segment moves into this refresh from the previous one (empty on the first refresh)."""
    if not table_exists(con, "history", "segment_transitions"):
        return None, pd.DataFrame()
    row = con.execute(
        "select max(cast(from_as_of as date)) from history.segment_transitions "
        "where cast(to_as_of as date) = ? and from_as_of is not null",
        [as_of],
    ).fetchone()
    if not row or row[0] is None:
        return None, pd.DataFrame()
    df = _df(
        con,
        """
        select from_segment, to_segment, sum(customers) as customers
        from history.segment_transitions
        where cast(to_as_of as date) = ? and cast(from_as_of as date) = ?
        group by from_segment, to_segment
        """,
        [as_of, row[0]],
    )
    return row[0], df


def kpis(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """segment_kpis of this refresh, one row per segment (including 'All')."""
    return _df(con, "select * from marts.segment_kpis")


def kpi_trends(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    """kpi_history up to this refresh (segment, as_of, KPI metrics), oldest first."""
    if not table_exists(con, "history", "kpi_history"):
        return pd.DataFrame(columns=["segment", "as_of", "customers", *KPI_METRICS])
    return _df(
        con,
        "select * from history.kpi_history where cast(as_of as date) <= ? order by as_of",
        [as_of],
    )


def exclusions(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Campaign exclusion summary: distinct customers, customers per reason, revenue at stake.

    Reasons may be a LIST column or a delimited string; both are unnested per reason.
    """
    if not table_exists(con, "marts", "campaign_exclusions"):
        return {"customers": 0, "revenue": 0.0, "reasons": []}
    cols = columns(con, "marts", "campaign_exclusions")
    id_col = next(c for c in ("customer_id", "customer") if c in cols)
    reason_col = next((c for c in ("reasons", "reason", "exclusion_reasons") if c in cols), None)
    money_col = next((c for c in ("monetary", "revenue") if c in cols), None)
    money = f"cast(max({money_col}) as double)" if money_col else "0.0"
    total = con.execute(
        f"""
        select count(*), coalesce(sum(m), 0) from (
            select {id_col}, {money} as m from marts.campaign_exclusions group by {id_col}
        )
        """
    ).fetchone()
    reasons: list[tuple[str, int]] = []
    if reason_col:
        rtype = cols[reason_col].upper()
        if rtype.endswith("[]") or rtype.startswith("LIST"):
            unnested = f"unnest({reason_col})"
        else:
            unnested = f"trim(unnest(regexp_split_to_array({reason_col}, '[,;|]')))"
        rows = con.execute(
            f"""
            select reason, count(distinct {id_col}) as n from (
                select {id_col}, {unnested} as reason from marts.campaign_exclusions
            ) where reason is not null and reason <> ''
            group by reason order by n desc, reason
            """
        ).fetchall()
        reasons = [(str(r), int(n)) for r, n in rows]
    return {"customers": int(total[0]), "revenue": float(total[1]), "reasons": reasons}


def _mix(
    con: duckdb.DuckDBPyConnection, sql: str, top: int = 3
) -> dict[str, list[tuple[str, float]]]:
    """Per segment, the `top` most frequent values of (segment, value, n) rows with their share."""
    df = _df(con, sql)
    out: dict[str, list[tuple[str, float]]] = {}
    for segment, group in df.groupby("segment", sort=False):
        total = float(group["n"].sum())
        ranked = group.sort_values(["n", "value"], ascending=[False, True]).head(top)
        out[str(segment)] = [
            (str(v), float(n) / total) for v, n in zip(ranked["value"], ranked["n"], strict=True)
        ]
    return out


def _tone(mean_r: float, mean_f: float, buckets: int) -> str:
    """Tone of message from where the segment sits on the R x F plane (midpoint split)."""
    mid = (buckets + 1) / 2
    if mean_r >= mid and mean_f >= mid:
        return "reward"
    if mean_r >= mid:
        return "nurture"
    if mean_f >= mid:
        return "winback"
    return "light"


def personas(
    con: duckdb.DuckDBPyConnection,
    segments: list[Segment],
    as_of: dt.date,
    refreshes: list[dt.date],
) -> list[Persona]:
    """One persona per segment with customers, computed in DuckDB from the marts.

    Trend is the relative change in the segment's customer count since the previous refresh in
    history.kpi_history (None on the first refresh). The act-first score weighs revenue share
    and customer share, and boosts shrinking segments (value at risk first).
    """
    base = _df(
        con,
        """
        select segment,
               count(*) as customers,
               count(*) / sum(count(*)) over () as share,
               cast(sum(monetary) as double) as revenue,
               cast(sum(monetary) as double) / nullif(sum(sum(monetary)) over (), 0)
                   as revenue_share,
               cast(avg(monetary) as double) as avg_monetary,
               median(cast(recency_days as double)) as median_recency,
               median(cast(frequency as double)) as median_frequency,
               median(cast(avg_basket as double)) as median_basket,
               avg(r_score) as mean_r, avg(f_score) as mean_f
        from marts.customer_rfm where segment is not null group by segment
        """,
    ).set_index("segment")
    buckets_row = con.execute(
        "select greatest(max(r_score), max(f_score)) from marts.customer_rfm"
    ).fetchone()
    buckets = int(buckets_row[0] or 5)
    prefs = table_exists(con, "marts", "customer_preferences")
    categories = channels = {}
    if prefs:
        categories = _mix(
            con,
            """
            select r.segment, p.favourite_category as value, count(*) as n
            from marts.customer_rfm r join marts.customer_preferences p using (customer_id)
            where p.favourite_category is not null and r.segment is not null group by 1, 2""",
        )
        channels = _mix(
            con,
            """
            select r.segment, p.favourite_channel as value, count(*) as n
            from marts.customer_rfm r join marts.customer_preferences p using (customer_id)
            where p.favourite_channel is not null and r.segment is not null group by 1, 2""",
        )
    season_case = " ".join(f"when {m} then '{s}'" for m, s in SEASONS.items())
    seasons = _mix(
        con,
        f"""
        select segment, case month(first_order_date) {season_case} end as value, count(*) as n
        from marts.customer_rfm where first_order_date is not null and segment is not null
        group by 1, 2""",
        top=4,
    )
    regions: dict[str, list[tuple[str, float]]] = {}
    ages: dict[str, list[tuple[str, float]]] = {}
    known: dict[str, tuple[float, float]] = {}
    if table_exists(con, "identity", "customers"):
        # Aggregates only: birth_date and region are the sole identity columns read.
        regions = _mix(
            con,
            """
            select r.segment, c.region as value, count(*) as n
            from marts.customer_rfm r join identity.customers c using (customer_id)
            where c.region is not null and trim(c.region) <> '' and r.segment is not null
            group by 1, 2""",
        )
        band_case = " ".join(
            f"when age >= {lo} then '{label}'" for lo, label in reversed(AGE_BANDS)
        )
        ages = _mix(
            con,
            f"""
            select segment, case {band_case} end as value, count(*) as n from (
                select r.segment,
                       date_part('year', age(cast(r.as_of as date), c.birth_date)) as age
                from marts.customer_rfm r join identity.customers c using (customer_id)
                where c.birth_date is not null and c.birth_date <= cast(r.as_of as date)
                  and r.segment is not null)
            group by 1, 2""",
            top=len(AGE_BANDS),
        )
        for row in con.execute("""
            select r.segment,
                   avg(case when c.region is not null and trim(c.region) <> '' then 1 else 0 end),
                   avg(case when c.birth_date is not null then 1 else 0 end)
            from marts.customer_rfm r left join identity.customers c using (customer_id)
            where r.segment is not null group by 1""").fetchall():
            known[str(row[0])] = (float(row[1]), float(row[2]))
    kpi_df = kpis(con) if table_exists(con, "marts", "segment_kpis") else pd.DataFrame()
    nps = (
        {str(s): _num(v) for s, v in zip(kpi_df["segment"], kpi_df["nps"], strict=True)}
        if "nps" in kpi_df
        else {}
    )
    previous = [d for d in refreshes if d < as_of]
    prev_counts: dict[str, float] = {}
    if previous:
        for seg, n in con.execute(
            "select segment, customers from history.kpi_history where cast(as_of as date) = ?",
            [previous[-1]],
        ).fetchall():
            prev_counts[str(seg)] = float(n or 0)
    out: list[Persona] = []
    for seg in segments:
        if seg.code not in base.index:
            continue
        row = base.loc[seg.code]
        customers = int(row["customers"])
        trend = None
        if previous:
            before = prev_counts.get(seg.code, 0.0)
            trend = (customers - before) / before if before else 1.0
        share, revenue_share = float(row["share"]), _num(row["revenue_share"]) or 0.0
        act = revenue_share + 0.5 * share
        if trend is not None and trend < 0:
            act *= 1 - trend
        region_known, age_known = known.get(seg.code, (0.0, 0.0))
        out.append(
            Persona(
                segment=seg,
                customers=customers,
                share=share,
                revenue=_num(row["revenue"]) or 0.0,
                revenue_share=revenue_share,
                avg_monetary=_num(row["avg_monetary"]) or 0.0,
                median_recency=_num(row["median_recency"]),
                median_frequency=_num(row["median_frequency"]),
                median_basket=_num(row["median_basket"]),
                mean_r_score=float(row["mean_r"]),
                mean_f_score=float(row["mean_f"]),
                categories=categories.get(seg.code, []),
                channels=channels.get(seg.code, []),
                seasons=seasons.get(seg.code, []),
                regions=regions.get(seg.code, []),
                region_known=region_known,
                age_bands=sorted(
                    ages.get(seg.code, []),
                    key=lambda item: [b for _, b in AGE_BANDS].index(item[0]),
                ),
                age_known=age_known,
                nps=nps.get(seg.code),
                tone=_tone(float(row["mean_r"]), float(row["mean_f"]), buckets),
                trend=trend,
                act_score=act,
            )
        )
    return out
