"""A stand-in warehouse for the report tests, written from docs/contracts.md.

The report must not depend on the whole pipeline to be tested: this builds the marts, history
and identity tables it reads, with deterministic random data (and planted PII that the report
must never print).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

AS_OF = dt.date(2026, 10, 1)
PREVIOUS_AS_OF = dt.date(2026, 9, 1)
SEGMENTS = [
    # segment, label_fr, label_en, priority, typical (r, f)
    ("Champions", "Champions", "Champions", 1, (5, 5)),
    ("Loyal", "Fidèles", "Loyal", 2, (4, 4)),
    ("Can't Lose Them", "À ne pas perdre", "Can't Lose Them", 3, (1, 5)),
    ("At Risk", "À risque", "At Risk", 4, (2, 4)),
    ("New", "Nouveaux clients", "New", 6, (5, 1)),
    ("Hibernating", "En hibernation", "Hibernating", 10, (2, 1)),
    ("Lost", "Perdus", "Lost", 11, (1, 1)),
]
CATEGORIES = ["chaussures", "robes", "accessoires", "sport", "enfants"]
CHANNELS = ["web", "magasin", "app"]
REGIONS = ["Île-de-France", "Bretagne", "Occitanie", "Grand Est"]
#: Planted personal data: the report must aggregate and never show these.
PII_MARKERS = ("secret.person", "+33600000", "Zéphyrine")


def build_standin_warehouse(
    path: Path, customers: int = 400, refreshes: int = 2, seed: int = 11
) -> Path:
    """Create a DuckDB file with the marts/history/identity tables the report reads.

    `refreshes` = 1 leaves history with only the current refresh (the "first refresh" case).
    """
    rng = np.random.default_rng(seed)
    con = duckdb.connect(str(path))
    try:
        for schema in ("marts", "history", "identity"):
            con.execute(f"create schema if not exists {schema}")
        seeds = pd.DataFrame(
            [
                (s, fr, en, f"Action FR {s}", f"Action EN {s}", prio, s == "Lost")
                for s, fr, en, prio, _ in SEGMENTS
            ],
            columns=[
                "segment",
                "label_fr",
                "label_en",
                "recommended_action_fr",
                "recommended_action_en",
                "priority",
                "is_excluded_from_priority_campaigns",
            ],
        )
        con.register("seeds", seeds)
        con.execute("create or replace table marts.segments as select * from seeds")

        seg_idx = rng.choice(
            len(SEGMENTS), size=customers, p=[0.1, 0.15, 0.05, 0.15, 0.15, 0.2, 0.2]
        )
        rows = []
        for i, k in enumerate(seg_idx):
            seg, fr, en, prio, (r, f) = SEGMENTS[k]
            freq = int(max(1, f * 2 + rng.integers(-1, 2)))
            monetary = round(float(rng.gamma(2.0, 40.0 * f + 20.0)), 2)
            first = AS_OF - dt.timedelta(days=int(rng.integers(30, 900)))
            recency = int(rng.integers(1, 60) + (5 - r) * 80)
            rows.append(
                {
                    "customer_id": f"C{i:05d}",
                    "as_of": AS_OF,
                    "recency_days": recency,
                    "frequency": freq,
                    "monetary": monetary,
                    "avg_basket": round(monetary / freq, 2),
                    "first_order_date": first,
                    "last_order_date": AS_OF - dt.timedelta(days=recency),
                    "cohort": first.replace(day=1),
                    "r_score": int(np.clip(r + rng.integers(-1, 2), 1, 5)),
                    "f_score": int(np.clip(f + rng.integers(-1, 2), 1, 5)),
                    "m_score": int(rng.integers(1, 6)),
                    "segment": seg,
                    "label_fr": fr,
                    "label_en": en,
                    "recommended_action": f"Action EN {seg}",
                    "priority": prio,
                }
            )
        rfm = pd.DataFrame(rows)
        rfm["rfm_code"] = (
            rfm["r_score"].astype(str) + rfm["f_score"].astype(str) + rfm["m_score"].astype(str)
        )
        con.register("rfm", rfm)
        con.execute("""
            create or replace table marts.customer_rfm as
            select customer_id, cast(as_of as date) as as_of, recency_days, frequency,
                   cast(monetary as decimal(18, 2)) as monetary,
                   cast(avg_basket as decimal(18, 2)) as avg_basket,
                   cast(first_order_date as date) as first_order_date,
                   cast(last_order_date as date) as last_order_date, cast(cohort as date) as cohort,
                   r_score, f_score, m_score, rfm_code, segment, label_fr, label_en,
                   recommended_action, priority
            from rfm""")

        prefs = pd.DataFrame(
            {
                "customer_id": rfm["customer_id"],
                "favourite_category": rng.choice(
                    CATEGORIES, size=customers, p=[0.4, 0.25, 0.15, 0.1, 0.1]
                ),
                "favourite_channel": rng.choice(CHANNELS, size=customers, p=[0.6, 0.3, 0.1]),
                "promo_order_share": rng.random(customers).round(2),
                "return_rate": rng.random(customers).round(2),
            }
        )
        con.register("prefs", prefs)
        con.execute("create or replace table marts.customer_preferences as select * from prefs")

        births = [
            None if rng.random() < 0.2 else dt.date(int(rng.integers(1950, 2005)), 6, 15)
            for _ in range(customers)
        ]
        ident = pd.DataFrame(
            {
                "customer_id": rfm["customer_id"],
                "first_name": ["Zéphyrine"] * customers,
                "email": [f"secret.person{i}@example.com" for i in range(customers)],
                "phone": [f"+33600000{i:03d}" for i in range(customers)],
                "birth_date": births,
                "region": [
                    None if rng.random() < 0.1 else str(rng.choice(REGIONS))
                    for _ in range(customers)
                ],
                "gender": rng.choice(["F", "M"], size=customers),
            }
        )
        con.register("ident", ident)
        con.execute("""create or replace table identity.customers as
                       select * replace (cast(birth_date as date) as birth_date) from ident""")

        kpi_sql = """
            select {seg} as segment, count(*) as customers,
                   count(*) / (select count(*) from marts.customer_rfm) as share,
                   cast(sum(monetary) as double) as revenue,
                   sum(monetary) / (select sum(monetary) from marts.customer_rfm) as revenue_share,
                   cast(avg(avg_basket) as double) as avg_basket,
                   avg(frequency) as avg_frequency, avg(recency_days) as avg_recency_days,
                   avg(p.return_rate) as return_rate, 0.3 + 0.1 * min(r_score) as
                   tickets_per_customer, 50 - 10 * avg(5 - r_score) as nps,
                   count(*) * 2 as nps_responses,
                   avg(case when recency_days > 180 then 1.0 else 0.0 end) as churn_rate,
                   cast(? as date) as as_of
            from marts.customer_rfm r join marts.customer_preferences p using (customer_id)
            {group}
        """
        con.execute(
            "create or replace table marts.segment_kpis as "
            + kpi_sql.format(seg="segment", group="group by segment")
            + " union all "
            + kpi_sql.format(seg="'All'", group=""),
            [AS_OF, AS_OF],
        )

        cohorts = [dt.date(2025, m, 1) for m in range(1, 13)]
        ret = []
        for c in cohorts:
            size = int(rng.integers(20, 60))
            periods = (AS_OF.year - c.year) * 12 + AS_OF.month - c.month
            cum = 0.0
            for p in range(periods + 1):
                rate = 1.0 if p == 0 else float(np.clip(0.4 * 0.9**p + rng.normal(0, 0.03), 0, 1))
                active = round(size * rate)
                revenue = round(active * 55.0, 2)
                cum += revenue
                ret.append((c, p, size, active, active / size, active, revenue, cum / size))
        retention = pd.DataFrame(
            ret,
            columns=[
                "cohort",
                "period_index",
                "cohort_size",
                "active_customers",
                "retention_rate",
                "orders",
                "revenue",
                "clv_to_date",
            ],
        )
        con.register("retention", retention)
        con.execute(
            "create or replace table marts.cohort_retention as "
            "select * replace (cast(cohort as date) as cohort) from retention"
        )
        season = pd.DataFrame(
            {
                "acquisition_month": range(1, 13),
                "is_january_or_july": [m in (1, 7) for m in range(1, 13)],
                "cohorts": [2] * 12,
                "customers": [int(rng.integers(30, 90)) for _ in range(12)],
                "clv_3m": rng.uniform(40, 80, 12).round(2),
                "clv_6m": rng.uniform(80, 140, 12).round(2),
                "clv_12m": rng.uniform(140, 260, 12).round(2),
            }
        )
        con.register("season", season)
        con.execute(
            "create or replace table marts.cohort_season_comparison as "
            "select *, cast(? as date) as as_of from season",
            [AS_OF],
        )

        # One row per (customer, reason), as dbt's campaign_exclusions.
        excl = rfm[rfm["segment"].isin(["Lost", "Hibernating"])].head(60)
        rows = []
        for i, (cid, seg, money) in enumerate(
            zip(excl["customer_id"], excl["segment"], excl["monetary"], strict=True)
        ):
            rows.append((cid, "lost_segment" if seg == "Lost" else "one_time_promo_buyer", money))
            if i % 4 == 0:
                rows.append((cid, "serial_returner", money))
        exclusions = pd.DataFrame(rows, columns=["customer_id", "reason", "monetary"])
        con.register("exclusions", exclusions)
        con.execute(
            "create or replace table marts.campaign_exclusions as "
            "select customer_id, reason, cast(? as date) as as_of, "
            "cast(monetary as decimal(18, 2)) as monetary from exclusions",
            [AS_OF],
        )

        # kpi_history keeps a subset of the KPI columns (as dbt's history model does).
        con.execute(
            "create or replace table history.kpi_history as select as_of, segment, "
            "customers, share, revenue, revenue_share, avg_basket, return_rate, nps, "
            "nps_responses, churn_rate from marts.segment_kpis"
        )
        con.execute("""create or replace table history.segment_transitions (
            from_as_of date, to_as_of date, from_segment varchar, to_segment varchar,
            customers integer, revenue double)""")
        if refreshes >= 2:
            # The previous refresh: slightly different sizes, and moves into today's segments.
            con.execute(
                """
                insert into history.kpi_history
                select * replace (
                    cast(round(customers * (case when segment = 'Lost' then 0.8
                                                 when segment = 'Champions' then 1.25
                                                 else 1.0 end)) as bigint) as customers,
                    nps - 3 as nps, churn_rate + 0.01 as churn_rate,
                    cast(? as date) as as_of)
                from history.kpi_history""",
                [PREVIOUS_AS_OF],
            )
            moves = []
            names = [s[0] for s in SEGMENTS]
            for to_seg in names:
                for from_seg in [*names, None]:
                    n = int(rng.integers(0, 12)) if rng.random() < 0.5 else 0
                    if n:
                        moves.append((PREVIOUS_AS_OF, AS_OF, from_seg, to_seg, n, n * 50.0))
            con.executemany(
                "insert into history.segment_transitions values (?, ?, ?, ?, ?, ?)", moves
            )
    finally:
        con.close()
    return path


def test_standin_warehouse_has_the_contract_tables(tmp_path: Path) -> None:
    """The stand-in holds every table the report reads, with the planted PII in identity."""
    path = build_standin_warehouse(tmp_path / "wh.duckdb", customers=50)
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {
            f"{s}.{t}"
            for s, t in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        assert {
            "marts.customer_rfm",
            "marts.segment_kpis",
            "marts.cohort_retention",
            "marts.cohort_season_comparison",
            "marts.customer_preferences",
            "marts.campaign_exclusions",
            "marts.segments",
            "history.kpi_history",
            "history.segment_transitions",
            "identity.customers",
        } <= tables
        assert con.execute("select count(*) from marts.customer_rfm").fetchone()[0] == 50
        assert (
            con.execute("select count(distinct as_of) from history.kpi_history").fetchone()[0] == 2
        )
