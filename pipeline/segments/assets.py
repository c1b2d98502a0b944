"""dbt models as Dagster assets: RFM scores, segments, cohorts, KPIs, then segment history.

Two dbt asset definitions over one project: the history models append each refresh, so they run
in their own step *after* the mart quality gates (blocking asset checks). A refresh that fails a
gate therefore never reaches the history tables, not only the published ones.
"""

import json
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from pipeline.lib.resources import WAREHOUSE_POOL, RefreshSettings, Warehouse
from pipeline.segments.project import dbt_project, translator

HISTORY_SELECT = "path:models/history"


#: Marts whose Dagster page shows the segment distribution (the story, before any BI tool).
DISTRIBUTION_MODELS = ("customer_rfm", "segment_kpis")


def _table_metadata(con, key: dg.AssetKey) -> dict[str, Any]:
    """Row count of a built model (key = [schema, name]) and, for the main marts, segments."""
    from pipeline.report.data import segment_distribution_markdown

    schema, name = key.path[0], key.path[-1]
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
        [schema, name],
    ).fetchone()[0]
    if not exists:  # views and ephemeral nodes: nothing worth counting
        return {}
    metadata: dict[str, Any] = {
        "dagster/row_count": con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
    }
    if name in DISTRIBUTION_MODELS:
        metadata["segment_distribution"] = dg.MetadataValue.md(segment_distribution_markdown(con))
    return metadata


def _build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    settings: RefreshSettings,
):
    """`dbt build` of the step's selection with this run's warehouse path and vars.

    Events are held until dbt exits: dbt writes the warehouse from its own process, so row counts
    and the segment distribution can only be read once its write lock is released.
    """
    dbt_vars = settings.dbt_vars() | {"warehouse_path": str(warehouse.resolved_path())}
    context.log.info(f"dbt vars: {json.dumps(dbt_vars)}")
    events = list(dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context).stream())
    with warehouse.connect(read_only=True) as con:
        for event in events:
            if isinstance(event, dg.Output):
                key = context.asset_key_for_output(event.output_name)
                event = event.with_metadata({**event.metadata, **_table_metadata(con, key)})
            yield event


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    exclude=HISTORY_SELECT,
    pool=WAREHOUSE_POOL,
)
def segment_dbt_assets(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    settings: RefreshSettings,
):
    """Build and test the staging, intermediate and mart models and the seeds (`dbt build`).

    The warehouse path and the scoring knobs reach dbt as vars, so SQL sees exactly the as-of
    date and thresholds of this run. A failing dbt test fails the step: nothing downstream runs.
    """
    yield from _build(context, dbt, warehouse, settings)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    select=HISTORY_SELECT,
    name="segment_history_dbt_assets",
    pool=WAREHOUSE_POOL,
)
def segment_history_dbt_assets(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    settings: RefreshSettings,
):
    """Append this refresh to the segment and KPI history and rebuild the transition tables.

    Runs only once the marts passed their blocking quality gates; re-running an as-of date
    replaces that refresh's rows.
    """
    yield from _build(context, dbt, warehouse, settings)


DBT_ASSETS = (segment_dbt_assets, segment_history_dbt_assets)


def model_key(model_name: str) -> dg.AssetKey:
    """Asset key of a dbt model or seed, looked up in the manifest (never spelled as a string)."""
    from dagster_dbt import get_asset_key_for_model

    for assets_def in DBT_ASSETS:
        try:
            return get_asset_key_for_model([assets_def], model_name)
        except KeyError:
            continue
    raise KeyError(f"no dbt model or seed named {model_name!r} in the manifest")
