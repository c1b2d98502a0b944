"""Helpers of the report tests (this module holds no tests): the real demo refresh, copied.

The report tests read the warehouse of a real refresh of the demo exports (the session fixture
`refreshed`): every mart the report shows is built by dbt, tested and published as in
production. A copy is used so that a test never sees another test's re-run of the refresh.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
from conftest import DEMO_AS_OF

#: The synthetic earlier refresh `add_previous_refresh` writes into history.
PREVIOUS_AS_OF = dt.date(2026, 7, 1)
#: Share of customers given another segment at the previous refresh (every 5th customer).
MOVED_EVERY = 5


def copy_warehouse(refreshed: dict, dest: Path) -> Path:
    """A private copy of the refreshed demo warehouse."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(refreshed["warehouse"], dest)
    return dest


def add_previous_refresh(warehouse: Path) -> None:
    """Give the copy a previous refresh in history: KPIs 3 months earlier (Champions 20% fewer,
    Lost 25% more than now) and the matching segment migrations (every 5th customer came from
    the next segment in seed order), so the report shows changes, trends and migrations."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            """
            insert into history.kpi_history by name
            select * replace (
                cast(? as date) || '|' || segment as history_key,
                cast(? as date) as as_of,
                cast(round(customers * case segment when 'Champions' then 0.8
                                                    when 'Lost' then 1.25 else 1.0 end)
                     as integer) as customers,
                nps - 4 as nps)
            from history.kpi_history where as_of = ?
            """,
            [PREVIOUS_AS_OF, PREVIOUS_AS_OF, DEMO_AS_OF],
        )
        con.execute(
            """
            insert into history.segment_transitions by name
            with ranked as (
                select segment, priority, first_value(segment) over (order by priority) as first
                from marts.segments
            ), ordered as (
                select segment, lead(segment, 1, first) over (order by priority) as next_segment
                from ranked
            ), moves as (
                select case when row_number() over (order by r.customer_id) % ? = 0
                            then o.next_segment else r.segment end as from_segment,
                       r.segment as to_segment, r.monetary
                from marts.customer_rfm r join ordered o on o.segment = r.segment
            )
            select cast(? as date) as from_as_of, cast(? as date) as to_as_of, from_segment,
                   to_segment, count(*) as customers, sum(monetary) as revenue,
                   sum(monetary) as previous_revenue,
                   count(*) / sum(count(*)) over (partition by from_segment)
                       as share_of_from_segment
            from moves group by from_segment, to_segment
            """,
            [MOVED_EVERY, PREVIOUS_AS_OF, DEMO_AS_OF],
        )
