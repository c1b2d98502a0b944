"""Ingestion assets: landing exports -> raw tables -> clean tables + quarantine."""

import logging

import dagster as dg
from pydantic import Field

from pipeline.ingest.entities import ENTITIES
from pipeline.lib.resources import WAREHOUSE_POOL, RefreshSettings, Warehouse

RAW_KEYS = {entity: dg.AssetKey(["raw", entity]) for entity in ENTITIES}
CLEAN_KEYS = {entity: dg.AssetKey(["clean", entity]) for entity in ENTITIES}
QUARANTINE_KEY = dg.AssetKey(["clean", "quarantine"])


def _log(context: dg.AssetExecutionContext) -> logging.Logger:
    """Dagster's logger for the library code (it only needs a `logging.Logger`-like object)."""
    return context.log  # type: ignore[return-value]


class ExtractConfig(dg.Config):
    """Run options of the extraction (`segments refresh --full` sets `full`)."""

    full: bool = Field(
        default=False,
        description="Read every landing file again, including those unchanged since their "
        "last load (same content, mapping and reader code), which are otherwise kept as loaded.",
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key,
            group_name="ingest",
            description=f"Raw `{entity}` rows as exported "
            "(all text) with lineage: source file, row, checksum, load time.",
        )
        for entity, key in RAW_KEYS.items()
    ],
    pool=WAREHOUSE_POOL,
)
def extract_landing(
    context: dg.AssetExecutionContext,
    config: ExtractConfig,
    warehouse: Warehouse,
    settings: RefreshSettings,
):
    """Load the exports of the landing directory into `raw.<entity>`.

    Encoding, delimiter, decimal separator and date format are detected per file and logged.
    Re-loading a file replaces its rows; a file unchanged since its last load (same content,
    mapping and reader code) is not read again unless `full`. A file loaded earlier and gone from
    the landing directory has its raw rows dropped (metadata `files_removed`: file -> rows). A
    file missing a required column fails the run here, before anything is published.
    """
    from pipeline.ingest.extract import extract_landing as extract
    from pipeline.ingest.mapping import load_mapping

    mapping = load_mapping(settings.mapping_path())
    with warehouse.connect() as con:
        report = extract(con, settings.landing_path(), mapping, _log(context), full=config.full)
        counts = dict(
            con.execute(
                "select table_name, estimated_size from duckdb_tables() where schema_name = 'raw'"
            ).fetchall()
        )
    for entity, key in RAW_KEYS.items():
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "dagster/row_count": int(counts.get(entity, 0)),
                "files_read": [f for f in report.read if report.entity_of(f) == entity],
                "files_reused": [f for f in report.reused if report.entity_of(f) == entity],
                # Named with their row counts: rows leaving the pipeline are never silent.
                "files_removed": {
                    f.source_file: f.rows for f in report.removed if f.entity == entity
                },
            },
        )
    context.log.info(f"extract: {report}")


class CleanConfig(dg.Config):
    """Run options of the cleaning (`segments refresh --full` sets `full`)."""

    full: bool = Field(
        default=False,
        description="Clean every raw row again, even when only files were added since the last "
        "cleaning with the same parameters (which cleans their rows and the rows sharing a key "
        "with them).",
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key,
            group_name="ingest",
            deps=[RAW_KEYS[entity]],
            description=f"Typed, validated `{entity}` (rejected rows are quarantined).",
        )
        for entity, key in CLEAN_KEYS.items()
    ]
    + [
        dg.AssetSpec(
            QUARANTINE_KEY,
            group_name="ingest",
            deps=list(RAW_KEYS.values()),
            description="Every rejected row or removed value, with file, row, column, reason "
            "code, message and the raw row. Rows read = accepted + deferred + rejected, per "
            "file (deferred: dated after the as-of date, left for a later refresh).",
        )
    ],
    pool=WAREHOUSE_POOL,
)
def clean_entities(
    context: dg.AssetExecutionContext,
    config: CleanConfig,
    warehouse: Warehouse,
    settings: RefreshSettings,
):
    """Type, normalise and validate the raw rows; nothing is dropped silently.

    Emails are lower-cased, phones converted to E.164, names Unicode-normalised; orders of
    unknown customers create the customer. Every rejected row lands in `clean.quarantine`.
    When files were only added since the last cleaning (same parameters, the as-of date the
    same or later), only their rows and the rows sharing a key with them are cleaned; metadata
    `cleaning` says which and why, `raw_rows_cleaned` how many rows.
    """
    from pipeline.ingest.clean import clean_entities as clean

    with warehouse.connect() as con:
        report = clean(
            con,
            settings.as_of_date(),
            settings.refresh.currency,
            _log(context),
            date_floor=settings.date_floor_date(),
            full=config.full,
        )
        counts = {
            entity: con.execute(f"select count(*) from clean.{entity}").fetchone()[0]
            for entity in [*ENTITIES, "quarantine"]
        }
        reasons = con.execute(
            "select reason_code, count(*) from clean.quarantine group by 1 order by 2 desc"
        ).fetchall()
    for entity, key in CLEAN_KEYS.items():
        yield dg.MaterializeResult(asset_key=key, metadata={"dagster/row_count": counts[entity]})
    yield dg.MaterializeResult(
        asset_key=QUARANTINE_KEY,
        metadata={
            "dagster/row_count": counts["quarantine"],
            # Read by the CLI summary (pipeline/cli.py, `cleaning_mode`).
            "cleaning": report.mode,
            "raw_rows_cleaned": report.rows_cleaned,
            "per_reason": dg.MetadataValue.md(
                "| reason | rows |\n|---|---|\n"
                + "\n".join(f"| {reason} | {n} |" for reason, n in reasons)
            ),
        },
    )
    context.log.info(f"clean: {report}")
