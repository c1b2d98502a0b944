"""dbt models as Dagster assets: RFM scores, segments, cohorts, KPIs, then segment history.

Two dbt asset definitions over one project: the history models append each refresh, so they run
in their own step *after* the mart quality gates (blocking asset checks). A refresh that fails a
gate therefore never reaches the history tables, not only the published ones.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from pydantic import Field

from pipeline.lib.resources import WAREHOUSE_POOL, RefreshSettings, Warehouse
from pipeline.lib.sql import quote_relation, table_exists
from pipeline.segments.dbt_parse import (
    dbt_environment,
    environment,
    invocation_target,
    kept_parse_state,
)
from pipeline.segments.distribution import segment_distribution_markdown
from pipeline.segments.project import dbt_project, translator
from pipeline.segments.spark import export_clean_parquet, load_spark_tables, spark_environment

HISTORY_SELECT = "path:models/history"
#: Models built by the KPI monitoring job only (pipeline/automation/monitor.py), never by a refresh.
MONITORING_SELECT = "path:models/monitoring"
#: dbt tests a refresh leaves out because the quality gates before dbt already establish what
#: they check (tagged `covered_by_gate` in the models' YAML, the gates named in their `meta`):
#: the keys of the staging and filtering views over the largest tables, each a full pass over
#: every order or refund (30 s of the dbt step at 10M orders). They still run with `dbt
#: build` by hand and in the test suite (tests/test_rfm_models.py), which catch a model change
#: that would break the property the gates guarantee upstream (a fan-out join, say).
GATE_COVERED_SELECT = "tag:covered_by_gate"


#: Marts whose Dagster page shows the segment distribution (the story, before any BI tool).
DISTRIBUTION_MODELS = ("customer_rfm", "segment_kpis")


def _table_metadata(con, key: dg.AssetKey) -> dict[str, Any]:
    """Row count of a built model (key = [schema, name]) and, for the main marts, segments."""
    schema, name = key.path[0], key.path[-1]
    # views and ephemeral nodes: nothing worth counting
    if not table_exists(con, schema, name, views=False):
        return {}
    metadata: dict[str, Any] = {
        "dagster/row_count": con.execute(
            f"select count(*) from {quote_relation(schema, name)}"
        ).fetchone()[0]
    }
    if name in DISTRIBUTION_MODELS:
        metadata["segment_distribution"] = dg.MetadataValue.md(segment_distribution_markdown(con))
    return metadata


def _spark_dir(warehouse: Warehouse, settings: RefreshSettings) -> Path:
    """Where the Spark session keeps its warehouse and metastore (kept between runs)."""
    if settings.refresh.spark_dir:
        return Path(settings.refresh.spark_dir).expanduser().resolve()
    return warehouse.resolved_path().parent / "spark"


def _prepare_spark(
    context: dg.AssetExecutionContext, warehouse: Warehouse, settings: RefreshSettings
) -> tuple[dict[str, Any], dict[str, str]]:
    """Hand the clean tables to Spark as Parquet; returns the vars the `spark` target reads and
    the environment its profile output reads to find its folders.

    Cleaning and identity stay in Python/DuckDB; only the modelling moves. The environment is
    set only around the dbt invocations (`_build`), so a long-lived process that runs a Spark
    refresh keeps no Spark settings for its next run.
    """
    spark_dir = _spark_dir(warehouse, settings)
    spark_dir.mkdir(parents=True, exist_ok=True)
    exported = export_clean_parquet(warehouse.resolved_path(), spark_dir / "parquet")
    context.log.info(f"exported {len(exported)} clean tables to Parquet for Spark")
    spark_vars = {
        "spark_parquet_root": str(spark_dir / "parquet"),
        "spark_parquet_tables": sorted(exported),
    }
    return spark_vars, spark_environment(spark_dir)


def _build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    settings: RefreshSettings,
    extra_vars: dict[str, Any] | None = None,
):
    """`dbt build` of the step's selection with this run's warehouse path and settings.

    Both reach dbt in the environment, not as `--vars`, so dbt re-uses its parse of the project
    (pipeline/segments/dbt_parse.py). Events are held until dbt exits: dbt writes the warehouse
    from its own process, so row counts and the segment distribution can only be read once its
    write lock is released.
    """
    dbt_vars = settings.dbt_vars() | (extra_vars or {})
    context.log.info(f"dbt settings (SEGMENTS_DBT_VARS): {json.dumps(dbt_vars)}")
    env = dbt_environment(warehouse.resolved_path(), dbt_vars)
    # dbt unit tests check the SQL with fixed fixture rows, not this run's data: the same
    # result on every refresh, so they run in the test suite (tests/test_rfm_models.py) as dbt
    # advises, not in production (20 s of every Spark refresh, 2 s on DuckDB).
    args, target = ["build", "--exclude-resource-type", "unit_test"], "duckdb"
    if settings.refresh.engine == "spark":
        spark_vars, spark_env = _prepare_spark(context, warehouse, settings)
        env |= spark_env
        args += ["--target", "spark", "--vars", json.dumps(spark_vars)]
        target = "spark"
    target_root = Path(dbt_project.project_dir) / dbt_project.target_path
    invocation_dir = invocation_target(target_root, context.op_def.name, context.run_id)
    with (
        environment(env),
        kept_parse_state(target_root, invocation_dir, warehouse.resolved_path(), target),
    ):
        events = list(dbt.cli(args, context=context, target_path=invocation_dir).stream())
    if settings.refresh.engine == "spark":
        # Gates, publication and the report read the DuckDB warehouse whatever the engine.
        loaded = load_spark_tables(_spark_dir(warehouse, settings), warehouse.resolved_path())
        context.log.info(f"loaded back from Spark: {loaded}")
        # Python assets downstream (predictions, behaviour clusters) also read staging and
        # intermediate relations, which Spark keeps as views of its own: build those in DuckDB
        # too, from the same clean tables (views and a few small tables, seconds at demo scale).
        with environment(env):
            dbt.cli(
                [
                    "build",
                    "--select",
                    "+path:models/intermediate path:models/staging",  # one token: dbt splits it
                    "--resource-type",
                    "model",
                    "--resource-type",
                    "seed",
                ],
                manifest=dbt_project.manifest_path,
            ).wait()
        context.log.info("built staging and intermediate models in DuckDB for the Python assets")
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
    exclude=f"{HISTORY_SELECT} {MONITORING_SELECT} {GATE_COVERED_SELECT}",
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
    replaces that refresh's rows. In a run that publishes, the history is journaled and kept
    only if the publication succeeds (`pipeline.serving.history`).
    """
    from pipeline.serving.history import journaled_history

    with journaled_history(context, warehouse, settings):
        yield from _build(context, dbt, warehouse, settings)


class MonitorConfig(dg.Config):
    """What the monitoring run compares with (set by the monitor sensor)."""

    published_as_of: str = Field(description="As-of date YYYY-MM-DD of the published refresh.")
    new_files: list[str] = Field(
        default=[],
        description="Landing files (relative paths) the published refresh did not read: their "
        "answers are the ones received since.",
    )


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    select=MONITORING_SELECT,
    name="segment_monitoring_dbt_assets",
    pool=WAREHOUSE_POOL,
)
def segment_monitoring_dbt_assets(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    settings: RefreshSettings,
    config: MonitorConfig,
):
    """Measure churn and NPS between refreshes (`kpi_monitor`), like with like.

    Only the KPI monitoring job builds it, after ingesting the landing as of today: the figures
    at the published as-of date, since it, and today, with the run id as monitor id.
    """
    yield from _build(
        context,
        dbt,
        warehouse,
        settings,
        {
            "monitor_published_as_of": config.published_as_of,
            "monitor_new_files": config.new_files,
            "monitor_id": context.run_id,
        },
    )


DBT_ASSETS = (segment_dbt_assets, segment_history_dbt_assets, segment_monitoring_dbt_assets)


def model_key(model_name: str) -> dg.AssetKey:
    """Asset key of a dbt model or seed, looked up in the manifest (never spelled as a string)."""
    from dagster_dbt import get_asset_key_for_model

    for assets_def in DBT_ASSETS:
        try:
            return get_asset_key_for_model([assets_def], model_name)
        except KeyError:
            continue
    raise KeyError(f"no dbt model or seed named {model_name!r} in the manifest")
