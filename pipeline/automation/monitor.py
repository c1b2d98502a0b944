"""KPI monitoring between refreshes: a light job, and the like-with-like comparison of its figures.

The `monitor_kpis` job ingests the landing as of today (extract and clean, without the gates) and
builds the dbt model `kpi_monitor`: churn and NPS of the last published refresh's customers at
three bases (see the model). Nothing is published and no history row is added.

`evaluate_monitor` decides whether the figures justify a refresh. It compares like with like:

* NPS of the answers received since the last refresh (in landing files it did not read) with the
  NPS it published (at least `min_new_answers` answers): a fall of `nps_drop_points` or more is
  a drop;
* churn rate at the published as-of date, recomputed on today's data, with the published one:
  a rise of `churn_rate_rise` or more is a drop. Churn at today's date is kept for reading but
  never compared with the published figure: it moves with the date alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dagster as dg
import duckdb

from pipeline.ingest.assets import clean_entities, extract_landing
from pipeline.lib.codes import OVERALL
from pipeline.lib.reasons import RunReason
from pipeline.lib.resources import Warehouse
from pipeline.lib.settings import KpiDropSection
from pipeline.lib.writer_lock import WarehouseBusy, writer_lock
from pipeline.segments.assets import segment_monitoring_dbt_assets

MONITOR_JOB_NAME = "monitor_kpis"
MONITOR_TABLE = "monitoring.kpi_monitor"
#: The overall row of `segment_kpis`, `kpi_history` and `kpi_monitor`.
OVERALL_SEGMENT = OVERALL

kpi_monitor_job = dg.define_asset_job(
    MONITOR_JOB_NAME,
    selection=(
        dg.AssetSelection.assets(extract_landing, clean_entities).without_checks()
        | dg.AssetSelection.assets(segment_monitoring_dbt_assets)
    ),
    executor_def=dg.in_process_executor,
    description="Between refreshes: ingest the landing as of today and measure churn and NPS "
    "against the published refresh (monitoring.kpi_monitor). Publishes nothing.",
    tags={"segments/kind": "monitor"},
)


class WarehouseUnavailable(RuntimeError):
    """The warehouse cannot be read right now (missing, locked by a run, no monitor table yet)."""


@dataclass(frozen=True)
class MonitorRow:
    """One row of `monitoring.kpi_monitor`."""

    monitor_id: str
    monitored_at: dt.datetime
    published_as_of: dt.date
    today_as_of: dt.date
    basis: str
    segment: str
    customers: int | None
    churn_rate: float | None
    nps_responses: int
    nps: float | None
    published_nps: float | None
    published_churn_rate: float | None


def read_latest_monitor(warehouse: Warehouse) -> list[MonitorRow]:
    """The rows of the latest monitoring run (empty when none ran yet).

    Reads only while no run holds the warehouse's writer lock, and holds it for the query: a
    reader process makes DuckDB refuse a writer, so a run opening the file between two of its
    steps would fail (the daemon's KPI-drop sensor did that to a refresh). A run that starts
    meanwhile waits for the query. While a run holds the lock this raises WarehouseUnavailable.
    """
    path = warehouse.resolved_path()
    if not path.exists():
        raise WarehouseUnavailable(f"no warehouse at {path} yet")
    columns = ", ".join(MonitorRow.__dataclass_fields__)
    try:
        with (
            writer_lock(path, "the KPI-drop sensor reads the latest monitoring run", wait=False),
            warehouse.connect(read_only=True) as con,
        ):
            rows = con.execute(
                f"select {columns} from {MONITOR_TABLE} where monitor_id = ("
                f"  select monitor_id from {MONITOR_TABLE}"
                "   order by monitored_at desc, monitor_id desc limit 1)"
            ).fetchall()
    except WarehouseBusy as busy:
        raise WarehouseUnavailable(f"warehouse busy (held by {busy.holder})") from busy
    except duckdb.IOException as exc:
        raise WarehouseUnavailable(f"warehouse busy (a run is writing it): {exc}") from exc
    except duckdb.CatalogException:
        return []
    return [MonitorRow(*row) for row in rows]


@dataclass(frozen=True)
class KpiMove:
    """A watched KPI that moved past its threshold, like with like."""

    segment: str
    metric: str
    before: float
    after: float
    threshold: float
    basis: str

    def describe(self) -> str:
        """`All nps 40.5 -> 12.2 (answers since 2026-10-01, n=41; threshold 10)`."""
        return (
            f"{self.segment} {self.metric} {self.before:.4g} -> {self.after:.4g} "
            f"({self.basis}; threshold {self.threshold:g})"
        )


def evaluate_monitor(rows: Sequence[MonitorRow], config: KpiDropSection) -> list[KpiMove]:
    """KPI moves past their thresholds in one monitoring run, overall and in watched segments."""
    watched = [OVERALL_SEGMENT, *[s for s in config.watched_segments if s != OVERALL_SEGMENT]]
    by_key = {(row.basis, row.segment): row for row in rows}
    moves: list[KpiMove] = []
    for segment in watched:
        published = by_key.get(("published", segment))
        since = by_key.get(("since_published", segment))
        if published is None:
            continue
        if (
            since is not None
            and since.nps is not None
            and published.published_nps is not None
            and since.nps_responses >= config.min_new_answers
            # The epsilon keeps e.g. a 9.9999999 fall at the 10-point threshold.
            and published.published_nps - since.nps >= config.nps_drop_points - 1e-9
        ):
            moves.append(
                KpiMove(
                    segment,
                    "nps",
                    published.published_nps,
                    since.nps,
                    config.nps_drop_points,
                    f"{since.nps_responses} answers received since the refresh as of "
                    f"{published.published_as_of}",
                )
            )
        if (
            published.churn_rate is not None
            and published.published_churn_rate is not None
            and published.churn_rate - published.published_churn_rate
            >= config.churn_rate_rise - 1e-9
        ):
            moves.append(
                KpiMove(
                    segment,
                    "churn_rate",
                    published.published_churn_rate,
                    published.churn_rate,
                    config.churn_rate_rise,
                    f"at {published.published_as_of}, recomputed on data as of "
                    f"{published.today_as_of}",
                )
            )
    return moves


def drop_reason(moves: Iterable[KpiMove]) -> RunReason:
    """The reason of a KPI-drop refresh: the first move in the tags, all of them in the text."""
    moves = list(moves)
    first = moves[0]
    return RunReason(
        kind="kpi_drop",
        summary="KPI drop: " + "; ".join(move.describe() for move in moves),
        metric=first.metric,
        segment=first.segment,
        before=first.before,
        after=first.after,
        threshold=first.threshold,
        extra={"segments/kpi_moves": ",".join(f"{m.segment}:{m.metric}" for m in moves)},
    )
