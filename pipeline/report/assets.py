"""The insight report asset: one static HTML file per published refresh."""

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb

from pipeline.lib.paths import serving_path
from pipeline.lib.permissions import shared_dir
from pipeline.lib.reasons import RunReason
from pipeline.lib.resources import WAREHOUSE_POOL, RefreshSettings, Warehouse
from pipeline.report.data import report_as_of
from pipeline.report.i18n import STRINGS
from pipeline.report.render import build_report
from pipeline.segments.assets import model_key
from pipeline.segments.distribution import segment_distribution_markdown

#: Every dbt model and seed the report reads (only marts and history: no aggregate of its own).
REPORT_MODELS = (
    "segments",
    "segment_kpis",
    "rfm_grid",
    "cohort_retention",
    "cohort_season_comparison",
    "campaign_exclusion_summary",
    "segment_personas",
    "segment_persona_breakdowns",
    "segment_support_themes",
    "segment_star_products",
    "segment_campaign_kpis",
    "acquisition_costs",
    "segment_priority",
    "kpi_history",
    "segment_transitions",
)
PUBLISHED_REFRESH = dg.AssetKey(["serving", "published_refresh"])
REPORT_KEY = dg.AssetKey(["report", "insight_report"])


def report_language(settings: RefreshSettings) -> str:
    """The report language (`report.language`; $SEGMENTS_REPORT_LANGUAGE overrides the file).

    The settings model only admits languages the report has strings for; this check keeps the
    two in step should one change without the other.
    """
    language = settings.report.language
    if language not in STRINGS:
        raise ValueError(f"report language must be one of {sorted(STRINGS)}, got {language!r}")
    return language


def reports_dir(settings: RefreshSettings) -> Path:
    """Folder of the HTML reports: <state dir>/reports (see docs/contracts.md), BI-facing."""
    return shared_dir(settings.state_path() / "reports")


def published_as_of(state_path: Path) -> dt.date | None:
    """As-of date of the refresh held by the serving file, or None when nothing is published.

    Read-only: the serving file belongs to the serving domain and BI tools read it concurrently.
    """
    serving = serving_path(state_path)
    if not serving.exists():
        return None
    with duckdb.connect(str(serving), read_only=True) as con:
        row = con.execute(
            "select cast(as_of as date) from refresh_info order by published_at desc limit 1"
        ).fetchone()
    return row[0] if row else None


@dg.asset(
    key=REPORT_KEY,
    deps=[*(model_key(m) for m in REPORT_MODELS), PUBLISHED_REFRESH],
    pool=WAREHOUSE_POOL,
    group_name="report",
    kinds={"html", "duckdb"},
    description="Static, self-contained HTML insight report of the published refresh: headline "
    "KPIs and changes, segment sizes, R x F grid, cohorts, migrations, KPI trends, campaigns and "
    "acquisition costs, exclusions, personas with support themes and star products, and the "
    "priority grid, all read from the marts (state dir reports/).",
)
def insight_report(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    settings: RefreshSettings,
) -> dg.MaterializeResult:
    """Render the insight report of this refresh to reports/insight_report_<as_of>.html.

    It runs after the publication and refuses to describe a refresh other than the published
    one, so the report never shows numbers BI users cannot see.
    """
    language = report_language(settings)
    with warehouse.connect(read_only=True) as con:
        as_of = report_as_of(con)
        published = published_as_of(settings.state_path())
        if published is None:
            raise dg.Failure(
                description="No published refresh (serving/segments.duckdb missing): the report "
                "only describes published refreshes."
            )
        if published != as_of:
            raise dg.Failure(
                description=f"Warehouse holds as-of {as_of} but the published refresh is "
                f"{published}: not reporting unpublished numbers."
            )
        result = build_report(
            con,
            reports_dir(settings),
            language=language,
            currency=settings.refresh.currency,
            reason=RunReason.from_tags(context.run.tags),
        )
        distribution = segment_distribution_markdown(con)
    context.log.info(f"insight report written to {result.path} ({result.size_bytes} bytes)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "latest": dg.MetadataValue.path(str(result.latest)),
            "as_of": result.as_of.isoformat(),
            "language": language,
            "size_bytes": result.size_bytes,
            "segments": result.segments,
            "customers": result.customers,
            "refreshes_in_history": result.refreshes_in_history,
            "segment_distribution": dg.MetadataValue.md(distribution),
        },
    )
