"""What the insight report shows, read from the published marts and history as they are.

The report computes no aggregate of its own: every figure is a row of a dbt mart (tested,
documented, published), so a BI tool reading the serving file shows the same numbers. The
only arithmetic here is presentation: a segment's change since the previous refresh, read from
two rows of `history.kpi_history`. No table with personal data is read.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from pipeline.lib.codes import OTHER_VALUES, OVERALL
from pipeline.lib.sql import table_exists

KPI_METRICS = ["nps", "churn_rate", "return_rate", "tickets_per_customer"]
#: Persona attributes in the order of the sheets (segment_persona_breakdowns.attribute).
PERSONA_ATTRIBUTES = [
    "age_band",
    "gender",
    "region",
    "acquisition_channel",
    "acquisition_season",
    "favourite_channel",
    "favourite_category",
    "basket_band",
    "promo_sensitivity",
    "return_behaviour",
    "support_intensity",
    "nps_group",
    "marketing_consent",
]
#: Values of the breakdowns that describe nobody in particular.
NOT_A_VALUE = {"unknown", "no_answer", OTHER_VALUES}


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


def _rows(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, where: str = "", params=None
) -> pd.DataFrame:
    """The rows of a mart (empty frame when the table does not exist)."""
    if not table_exists(con, schema, table):
        return pd.DataFrame()
    return _df(con, f"select * from {schema}.{table} {where}", params)


def num(value: Any) -> float | None:
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
    """A segment as the report names it: code, label in the report language, seed priority."""

    code: str
    label: str
    priority: int
    action: str


@dataclass
class Mix:
    """Top values of one persona attribute in a segment: (code, share) pairs, and the share of
    the segment for which the attribute is known."""

    values: list[tuple[str, float]] = field(default_factory=list)
    known_share: float | None = None
    #: True when the segment has values but every one is merged or suppressed (small cells).
    hidden: bool = False


@dataclass
class Persona:
    """A segment's persona sheet: one row of segment_personas plus its breakdowns, support
    themes and star products."""

    segment: Segment
    customers: int
    share: float
    revenue: float
    revenue_share: float
    avg_monetary: float | None
    median_recency: float | None
    median_frequency: float | None
    median_basket: float | None
    promo_order_share: float | None
    return_rate: float | None
    tickets_per_customer: float | None
    nps: float | None
    nps_responses: int
    nps_reliable: bool
    tone: str
    suppressed: bool
    mixes: dict[str, Mix] = field(default_factory=dict)
    themes: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    trend: float | None = None


def report_as_of(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The as-of date of the data in the marts (what the report describes)."""
    row = con.execute(
        "select as_of from marts.segment_kpis where segment = ? limit 1", [OVERALL]
    ).fetchone()
    if not row or row[0] is None:
        raise ValueError("marts.segment_kpis has no overall row: nothing to report")
    value = row[0]
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def load_segments(con: duckdb.DuckDBPyConnection, language: str) -> list[Segment]:
    """Every segment of the seed, labelled and with its action in the report language."""
    df = _df(con, "select * from marts.segments order by priority, segment")
    label_col, action_col = f"label_{language}", f"recommended_action_{language}"
    return [
        Segment(
            code=str(row["segment"]),
            label=str(row.get(label_col) or row["segment"]),
            priority=int(row["priority"]),
            action=str(row.get(action_col) or ""),
        )
        for _, row in df.iterrows()
    ]


def segment_distribution(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Segments with customers (segment_kpis, overall row left out), by seed priority."""
    return _df(
        con,
        "select segment, customers, share, cast(revenue as double) as revenue, revenue_share, "
        "priority from marts.segment_kpis where segment <> ? and customers > 0 "
        "order by priority, segment",
        [OVERALL],
    )


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


def previous_refresh(refreshes: list[dt.date], as_of: dt.date) -> dt.date | None:
    """The refresh before `as_of` in history, if any."""
    earlier = [d for d in refreshes if d < as_of]
    return earlier[-1] if earlier else None


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
    current = _df(con, "select * from marts.segment_kpis where segment = ?", [OVERALL])
    now = {m: num(current[m].iloc[0]) if m in current and len(current) else None for m in metrics}
    nps_n = int(current["nps_responses"].iloc[0]) if len(current) else 0
    reliable = bool(current["is_nps_reliable"].iloc[0]) if "is_nps_reliable" in current else True
    previous_as_of = previous_refresh(kpi_refreshes(con, as_of), as_of)
    previous: dict[str, float | None] | None = None
    if previous_as_of is not None:
        prev = _df(
            con,
            "select * from history.kpi_history where segment = ? and cast(as_of as date) = ?",
            [OVERALL, previous_as_of],
        )
        previous = {m: num(prev[m].iloc[0]) if m in prev and len(prev) else None for m in metrics}
    return {
        "now": now,
        "previous": previous,
        "previous_as_of": previous_as_of,
        "metrics": metrics,
        "nps_responses": nps_n,
        "nps_reliable": reliable,
    }


def rf_grid(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Customers and average monetary per (r_score, f_score) cell (marts.rfm_grid)."""
    return _rows(con, "marts", "rfm_grid", "order by r_score, f_score")


def retention(con: duckdb.DuckDBPyConnection, max_cohorts: int = 24) -> pd.DataFrame:
    """Retention per cohort and complete period, for the most recent cohorts.

    The period holding the as-of date is left out when it is partial (is_partial_period): a
    few days of a month read as a retention cliff.
    """
    if not table_exists(con, "marts", "cohort_retention"):
        return pd.DataFrame()
    partial = (
        "and not c.is_partial_period"
        if "is_partial_period" in columns(con, "marts", "cohort_retention")
        else ""
    )
    return _df(
        con,
        f"""
        with recent as (
            select distinct cohort from marts.cohort_retention order by cohort desc limit ?
        )
        select cast(c.cohort as varchar) as cohort, c.period_index, c.cohort_size,
               c.retention_rate
        from marts.cohort_retention c join recent using (cohort)
        where true {partial}
        order by c.cohort, c.period_index
        """,
        [max_cohorts],
    )


def season_comparison(con: duckdb.DuckDBPyConnection) -> tuple[list[int], pd.DataFrame]:
    """January vs July acquisition months with their figures at each horizon (3/6/12 months).

    Horizons are read from the `clv_<n>m` column names, so a new horizon needs no code change.
    """
    if not table_exists(con, "marts", "cohort_season_comparison"):
        return [], pd.DataFrame()
    cols = columns(con, "marts", "cohort_season_comparison")
    horizons = sorted(int(m.group(1)) for c in cols if (m := re.fullmatch(r"clv_(\d+)m", c)))
    df = _df(
        con,
        "select * from marts.cohort_season_comparison where is_january_or_july "
        "order by acquisition_month",
    )
    return horizons, df


def transitions(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, previous_as_of: dt.date | None
) -> pd.DataFrame:
    """Segment moves from the previous refresh into this one (empty on the first refresh)."""
    if previous_as_of is None or not table_exists(con, "history", "segment_transitions"):
        return pd.DataFrame()
    return _df(
        con,
        "select from_segment, to_segment, customers from history.segment_transitions "
        "where cast(to_as_of as date) = ? and cast(from_as_of as date) = ?",
        [as_of, previous_as_of],
    )


def kpis(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """segment_kpis of this refresh, one row per segment (including the overall row)."""
    return _rows(con, "marts", "segment_kpis")


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
    """Campaign exclusions: distinct customers, revenue at stake, customers per reason."""
    df = _rows(con, "marts", "campaign_exclusion_summary")
    if df.empty:
        return {"customers": 0, "revenue": 0.0, "reasons": []}
    overall = df[df["reason"] == OVERALL]
    reasons = df[df["reason"] != OVERALL].sort_values(
        ["customers", "reason"], ascending=[False, True]
    )
    return {
        "customers": int(overall["customers"].iloc[0]) if len(overall) else 0,
        "revenue": (num(overall["revenue_at_stake"].iloc[0]) or 0.0) if len(overall) else 0.0,
        "reasons": [(str(r.reason), int(r.customers)) for r in reasons.itertuples()],
    }


def segment_trends(
    con: duckdb.DuckDBPyConnection, previous_as_of: dt.date | None
) -> dict[str, float | None]:
    """Relative change of each segment's customers since the previous refresh (kpi_history)."""
    if previous_as_of is None:
        return {}
    before = dict(
        con.execute(
            "select segment, customers from history.kpi_history where cast(as_of as date) = ?",
            [previous_as_of],
        ).fetchall()
    )
    now = dict(con.execute("select segment, customers from marts.segment_kpis").fetchall())
    trends: dict[str, float | None] = {}
    for segment, customers in now.items():
        old = float(before.get(segment) or 0)
        trends[str(segment)] = (float(customers) - old) / old if old else None
    return trends


def personas(
    con: duckdb.DuckDBPyConnection,
    segments: list[Segment],
    trends: dict[str, float | None],
    top: int = 3,
) -> list[Persona]:
    """One persona per segment with customers, in seed priority order, from the persona marts."""
    sheets = _rows(con, "marts", "segment_personas")
    if sheets.empty:
        return []
    sheets = sheets.set_index("segment")
    breakdowns = _rows(con, "marts", "segment_persona_breakdowns", "order by value_rank")
    themes = _rows(con, "marts", "segment_support_themes", "order by topic_rank")
    items = _rows(
        con,
        "marts",
        "segment_star_products",
        "where revenue_rank is not null order by revenue_rank",
    )
    out: list[Persona] = []
    for seg in segments:
        if seg.code not in sheets.index:
            continue
        row = sheets.loc[seg.code]
        persona = Persona(
            segment=seg,
            customers=int(row["customers"]),
            share=num(row["share"]) or 0.0,
            revenue=num(row["revenue"]) or 0.0,
            revenue_share=num(row["revenue_share"]) or 0.0,
            avg_monetary=num(row["avg_monetary"]),
            median_recency=num(row["median_recency_days"]),
            median_frequency=num(row["median_frequency"]),
            median_basket=num(row["median_basket"]),
            promo_order_share=num(row["promo_order_share"]),
            return_rate=num(row["return_rate"]),
            tickets_per_customer=num(row["tickets_per_customer"]),
            nps=num(row["nps"]),
            nps_responses=int(row["nps_responses"] or 0),
            nps_reliable=bool(row["is_nps_reliable"]),
            tone=str(row["tone"]),
            suppressed=bool(row["is_suppressed"]),
            trend=trends.get(seg.code),
        )
        if not breakdowns.empty:
            mine = breakdowns[breakdowns["segment"] == seg.code]
            for attribute in PERSONA_ATTRIBUTES:
                cells = mine[mine["attribute"] == attribute]
                shown = cells[~cells["is_suppressed"] & ~cells["value"].isin(NOT_A_VALUE)]
                unknown = cells[cells["value"] == "unknown"]["share"]
                values = list(zip(shown["value"], shown["share"], strict=True))[:top]
                if not values:
                    # Nothing but unknown or unanswered values: say so, with the share.
                    plain = cells[~cells["is_suppressed"] & (cells["value"] != OTHER_VALUES)]
                    values = list(zip(plain["value"], plain["share"], strict=True))[:1]
                persona.mixes[attribute] = Mix(
                    values=[(str(v), float(s)) for v, s in values],
                    known_share=None if unknown.empty else 1.0 - float(unknown.iloc[0] or 0),
                    hidden=not values and bool((cells["value"] == OTHER_VALUES).any()),
                )
        if not themes.empty:
            persona.themes = themes[themes["segment"] == seg.code].head(top).to_dict("records")
        if not items.empty:
            mine = items[items["segment"] == seg.code]
            persona.products = mine[mine["level"] == "product"].head(top).to_dict("records")
            persona.categories = mine[mine["level"] == "category"].head(top).to_dict("records")
        out.append(persona)
    return out


def priorities(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The pertinence x impact grid, in the order to act (marts.segment_priority)."""
    return _rows(con, "marts", "segment_priority", "order by priority_rank")


def campaigns(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Results of every campaign as a whole (the overall rows of segment_campaign_kpis)."""
    return _rows(
        con,
        "marts",
        "segment_campaign_kpis",
        "where segment = ? order by first_contacted_on, campaign_id",
        [OVERALL],
    )


def campaign_segments(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per campaign and segment (overall rows left out)."""
    return _rows(
        con, "marts", "segment_campaign_kpis", "where segment <> ? order by campaign_id", [OVERALL]
    )


def acquisition_costs(con: duckdb.DuckDBPyConnection, months: int = 12) -> pd.DataFrame:
    """CAC per channel over the last `months` complete months (the partial month left out)."""
    if not table_exists(con, "marts", "acquisition_costs"):
        return pd.DataFrame()
    return _df(
        con,
        """
        with recent as (
            select distinct acquisition_month from marts.acquisition_costs
            where not is_partial_month order by acquisition_month desc limit ?
        )
        select * from marts.acquisition_costs join recent using (acquisition_month)
        order by acquisition_month, acquisition_channel
        """,
        [months],
    )
