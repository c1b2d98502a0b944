"""The last step of every refresh: record what it read (`<state>/last_refresh.json`).

Whoever started the refresh (CLI, schedule, sensor), the record is written by the job itself,
once the publication and the report succeeded. `segments refresh` skips a run whose fingerprint
equals it; the new-data sensor fires only for landing content it does not list.
"""

import dagster as dg

from pipeline.automation.record import fingerprint_of, landing_files
from pipeline.lib.fingerprint import RefreshRecord, write_record
from pipeline.lib.reasons import RunReason
from pipeline.lib.resources import WAREHOUSE_POOL, RefreshSettings, Warehouse, resource_configs
from pipeline.report.assets import REPORT_KEY
from pipeline.serving.options import ServingOptions
from pipeline.serving.wiring import PUBLISHED_REFRESH_KEY

REFRESH_RECORD_KEY = dg.AssetKey(["automation", "refresh_record"])


def registry_checksums(warehouse: Warehouse) -> dict[str, str]:
    """{landing path: sha256} of every file the ingest loaded (`raw.file_registry`)."""
    with warehouse.connect(read_only=True) as con:
        rows = con.execute("select source_file, checksum from raw.file_registry").fetchall()
    return {str(path): str(checksum) for path, checksum in rows}


@dg.asset(
    key=REFRESH_RECORD_KEY,
    deps=[PUBLISHED_REFRESH_KEY, REPORT_KEY],
    pool=WAREHOUSE_POOL,
    group_name="automation",
    kinds={"json"},
)
def refresh_record(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    settings: RefreshSettings,
    serving: ServingOptions,
) -> dg.MaterializeResult:
    """Record the fingerprint of this successful refresh: exports read, settings, dbt project.

    The landing part lists the files as the ingest loaded them (checksums of
    `raw.file_registry`); a file changed or added since the extract step is left out, so the
    new-data sensor still sees it as new.
    """
    loaded = registry_checksums(warehouse)
    current = landing_files(settings.landing_path(), settings.mapping_path())
    read = {rel: f.sha256 for rel, f in current.items() if loaded.get(rel) == f.sha256}
    fingerprint = fingerprint_of(
        settings, resource_configs(settings, warehouse, serving), landing=read
    )
    reason = RunReason.from_tags(context.run.tags)
    path = write_record(
        settings.state_path(),
        RefreshRecord.of(
            fingerprint,
            run_id=context.run_id,
            as_of=settings.as_of_date().isoformat(),
            trigger=reason.kind,
            reason=reason.summary,
        ),
    )
    unread = sorted(set(current) - set(read))
    if unread:
        context.log.warning(f"files changed during the run, not recorded as read: {unread[:5]}")
    return dg.MaterializeResult(
        metadata={
            "fingerprint": fingerprint.digest,
            "landing_files": len(read),
            "record": dg.MetadataValue.path(str(path)),
            "trigger": reason.kind,
        }
    )
