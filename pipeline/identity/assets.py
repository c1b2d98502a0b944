"""Dagster assets of the identity domain: the identity map, golden records and merge log."""

import dagster as dg
from pydantic import Field

from pipeline.identity.overrides import load_overrides
from pipeline.identity.resolve import SOURCE_TABLE, ResolutionReport, resolve_identities
from pipeline.identity.state import resolution_inputs, unchanged
from pipeline.lib.resources import WAREHOUSE_POOL, RefreshSettings, Warehouse

CLEAN_CUSTOMERS = dg.AssetKey(["clean", "customers"])
GROUP = "identity"

_DESCRIPTIONS = {
    "customer_identity_map": "Source customer id -> master customer id (one row per source "
    "record). Master ids are stable across refreshes (see identity.master_registry).",
    "customers": "Golden record per master customer: clean.customers columns chosen by the "
    "survivorship rules, plus completeness_score, freshness_days and source_record_count.",
    "identity_merges": "Records merged into a multi-record master this run: the rule "
    "(email_exact, splink, force_merge) and score of the strongest link that attached them.",
    "master_id_merges": "Retired master ids and the id that survived (retired_id -> "
    "surviving_id, as_of), cumulative.",
    "master_id_successors": "Every retired master id's surviving id from each as-of date on, "
    "chains of merges followed to their end: segment transitions and customer history follow "
    "merged customers through it.",
}


def _common_metadata(report: ResolutionReport) -> dict[str, object]:
    """The run's numbers, attached to every identity asset."""
    return {
        "records_in": report.records_in,
        "master_customers_out": report.masters_out,
        "records_merged": report.records_merged,
        "new_master_ids": report.new_master_ids,
        "retired_master_ids": report.retired_master_ids,
        "clusters_by_size": dg.MetadataValue.json(
            {str(k): v for k, v in report.clusters_by_size.items()}
        ),
        "candidate_pairs": report.candidate_pairs,
        "candidate_pairs_by_rule": dg.MetadataValue.json(report.candidate_pairs_by_rule),
        "model_trained": report.model_trained,
        "match_weights": dg.MetadataValue.json(report.match_weights),
        "pairs_by_rule": dg.MetadataValue.json(report.pairs_by_rule),
        "pairs_refused": dg.MetadataValue.json(report.pairs_refused),
        "seconds": dg.MetadataValue.json(report.seconds),
    }


class IdentityConfig(dg.Config):
    """Run options of the resolution (`segments refresh --force` and `--full` set `resolve`)."""

    resolve: bool = Field(
        default=False,
        description="Resolve again even when the customer records, overrides, as-of date and "
        "code are those of the last resolution (whose tables otherwise stand).",
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["identity", table],
            deps=[CLEAN_CUSTOMERS],
            group_name=GROUP,
            description=description,
            kinds={"duckdb", "python"},
        )
        for table, description in _DESCRIPTIONS.items()
    ],
    pool=WAREHOUSE_POOL,
)
def identity_assets(
    context: dg.AssetExecutionContext,
    config: IdentityConfig,
    warehouse: Warehouse,
    settings: RefreshSettings,
):
    """Resolve clean.customers into master customers (one customer, one identity).

    Deterministic e-mail rule + splink model, guarded clustering with the stewards' overrides
    (settings.paths.identity_overrides_file), stable master ids and golden records; see
    docs/identity.md. When the customer records, overrides, as-of date and code are those of the
    last resolution (`pipeline.identity.state`), its tables stand (metadata `resolution`).
    """
    overrides = load_overrides(settings.paths.identity_overrides_file)
    if overrides.never_merge or overrides.force_merge:
        context.log.info(
            f"steward overrides: {len(overrides.never_merge)} never_merge, "
            f"{len(overrides.force_merge)} force_merge"
        )
    as_of = settings.as_of_date()
    with warehouse.connect() as con:
        inputs = resolution_inputs(con, SOURCE_TABLE, as_of.isoformat(), overrides)
        kept = not config.resolve and unchanged(con, inputs)
        if not kept:
            report = resolve_identities(
                con,
                as_of,
                overrides,
                scratch_config=warehouse.scratch_config("identity"),
                inputs=inputs,
            )
        counts = {
            table: con.execute(f"SELECT count(*) FROM identity.{table}").fetchone()[0]
            for table in _DESCRIPTIONS
        }
    if kept:
        # Resolving again would give the same tables (docs/identity.md, "Stable master ids").
        context.log.info(
            f"identity {as_of}: the {inputs['records']} customer records, the stewards' "
            "overrides, the as-of date and the code are those of the last resolution: its "
            f"tables stand ({counts['customer_identity_map']} records, "
            f"{counts['customers']} master customers)"
        )
        common: dict[str, object] = {"resolution": "kept: inputs unchanged"}
    else:
        context.log.info(
            f"identity {as_of}: {report.records_in} records -> {report.masters_out} master "
            f"customers ({report.records_merged} merged); clusters by size "
            f"{report.clusters_by_size}; links by rule {report.pairs_by_rule}; refused "
            f"{report.pairs_refused}; seconds {report.seconds}"
        )
        common = {"resolution": "resolved", **_common_metadata(report)}
    for table in _DESCRIPTIONS:
        yield dg.MaterializeResult(
            asset_key=["identity", table],
            metadata={"dagster/row_count": counts[table], "as_of": as_of.isoformat(), **common},
        )
