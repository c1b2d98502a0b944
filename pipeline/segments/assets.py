"""dbt models as Dagster assets: RFM scores, segments, cohorts, KPIs and history."""

import json

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from pipeline.lib.resources import WAREHOUSE_POOL, RefreshSettings, Warehouse
from pipeline.segments.project import dbt_project, translator


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    pool=WAREHOUSE_POOL,
)
def segment_dbt_assets(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    settings: RefreshSettings,
):
    """Build and test every dbt model and seed of the selection (`dbt build`).

    The warehouse path and the scoring knobs reach dbt as vars, so SQL sees exactly the as-of
    date and thresholds of this run. A failing dbt test fails the step: nothing downstream runs.
    """
    dbt_vars = settings.dbt_vars() | {"warehouse_path": str(warehouse.resolved_path())}
    context.log.info(f"dbt vars: {json.dumps(dbt_vars)}")
    yield from dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context).stream()

