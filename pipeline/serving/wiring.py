"""The publication asset, built from the dbt asset keys it waits for.

Kept apart from `assets.py` (which reads the dbt manifest) so the asset can be built and tested
with any upstream keys.
"""

from collections.abc import Callable, Mapping, Sequence

import dagster as dg

from pipeline.lib.reasons import RunReason
from pipeline.lib.resources import WAREHOUSE_POOL, RefreshSettings, Warehouse
from pipeline.serving.docs import TableDoc, dbt_descriptions
from pipeline.serving.history import settle_publication
from pipeline.serving.options import ServingOptions
from pipeline.serving.publish import publish_refresh

PUBLISHED_REFRESH_KEY = dg.AssetKey(["serving", "published_refresh"])
#: dbt folders (= Dagster groups given by the segments translator) whose models BI tools read.
SERVED_DBT_GROUPS = ("marts", "history")


def served_dbt_keys(
    *assets_defs: dg.AssetsDefinition, groups: Sequence[str] = SERVED_DBT_GROUPS
) -> list[dg.AssetKey]:
    """Asset keys of the dbt models and seeds in `groups`, as the dbt manifest declares them.

    Computed when the definitions load, so a new mart is published (and waited for) without
    touching the serving code.
    """
    return sorted(
        (
            spec.key
            for assets_def in assets_defs
            for spec in assets_def.specs
            if spec.group_name in groups
        ),
        key=lambda key: key.to_user_string(),
    )


def dbt_model_descriptions() -> dict[str, TableDoc]:
    """Descriptions of the dbt models and seeds from the project's parsed manifest."""
    from pipeline.segments.project import dbt_project

    return dbt_descriptions(dbt_project.manifest_path)


def build_published_refresh(
    deps: Sequence[dg.AssetKey],
    descriptions: Callable[[], Mapping[str, TableDoc]] = dbt_model_descriptions,
) -> dg.AssetsDefinition:
    """The `["serving", "published_refresh"]` asset, downstream of `deps`.

    `descriptions()` is read at run time: the table and column comments of the publication.
    """

    @dg.asset(
        key=PUBLISHED_REFRESH_KEY,
        deps=list(deps),
        pool=WAREHOUSE_POOL,
        group_name="serving",
        kinds={"duckdb", "parquet"},
    )
    def published_refresh(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: RefreshSettings,
        serving: ServingOptions,
    ) -> dg.MaterializeResult:
        """Publish the marts and history tables for BI tools, atomically.

        Builds a new serving DuckDB file (pseudonymous customer keys, no personal data),
        Parquet/CSV exports and, when configured, a PostgreSQL schema, then switches each one
        in a single step: readers see the previous refresh or this one, never a mix. The
        refresh id is the as-of date; `refresh_info` also says why the run happened. This run's
        history rows are kept only if the serving file now holds this refresh; otherwise they are
        rolled back (`pipeline.serving.history`).
        """
        state = settings.state_path()
        try:
            result = publish_refresh(
                warehouse_path=warehouse.resolved_path(),
                state_dir=state,
                as_of=settings.as_of_date(),
                run_id=context.run_id,
                options=serving,
                log=context.log.info,
                descriptions=descriptions(),
                reason=RunReason.from_tags(context.run.tags),
                duckdb_config=warehouse.duckdb_config(),
            )
        finally:
            # Publication and history are one unit: this run's history stays only if served.
            settle_publication(context, warehouse, state)
        metadata: dict[str, object] = {
            "refresh_id": result.refresh_id,
            "serving_file": dg.MetadataValue.path(str(result.serving_path)),
            "row_counts": dg.MetadataValue.json(result.row_counts),
            "dropped_pii_columns": dg.MetadataValue.json(result.dropped_columns),
            "undescribed_columns": dg.MetadataValue.json(result.undescribed_columns),
            "dagster/row_count": sum(result.row_counts.values()),
            "postgres_schema": result.postgres_schema or "disabled",
            "trigger": RunReason.from_tags(context.run.tags).summary,
        }
        if result.export_dir is not None:
            metadata["export_dir"] = dg.MetadataValue.path(str(result.export_dir))
        if result.campaign_rows is not None:
            metadata["campaign_contacts"] = result.campaign_rows
        if result.removed_refreshes:
            metadata["removed_refreshes"] = dg.MetadataValue.json(result.removed_refreshes)
        return dg.MaterializeResult(metadata=metadata)

    return published_refresh
