"""Build and atomically publish one refresh of the BI-facing tables.

The pipeline writes only its private build warehouse. A publication reads it (attached
read-only) and builds everything new under temporary names, then switches each output in one
step:

* serving DuckDB file: `<state>/serving/segments.<run>.tmp.duckdb` is written, checkpointed,
  closed and fsynced, then `os.replace`d over `<state>/serving/segments.duckdb`. A reader that
  already has the file open keeps reading the old inode (a consistent old refresh); a new
  connection sees the whole new refresh;
* exports: `<state>/exports/<refresh_id>/` then the `latest` symlink and `LATEST` file;
* PostgreSQL (optional): a new schema swapped in by one transaction (`postgres.py`);
* campaign contacts (optional, personal data): `<state>/campaign/<refresh_id>/`.

Every published table carries a `refresh_id` column so a reader can check that what it read
belongs to a single refresh, and the file holds `refresh_info` / `refresh_tables`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipeline.lib.paths import SERVING_DIR, serving_path
from pipeline.lib.permissions import ensure_private_dir, make_private, share, shared_dir
from pipeline.lib.reasons import COLUMN_TYPES, KINDS, RunReason
from pipeline.lib.sql import quote_ident, quote_relation, sql_literal
from pipeline.serving import exports
from pipeline.serving.docs import (
    DICTIONARY_TABLE,
    PUBLICATION_DOCS,
    TableDoc,
    apply_comments,
    warehouse_doc,
    write_dictionary,
)
from pipeline.serving.files import fsync_dir, fsync_file, remove_path
from pipeline.serving.options import ServingOptions
from pipeline.serving.pii import (
    CUSTOMER_ID_COLUMN,
    PiiFinding,
    Pseudonymizer,
    is_pii_column,
    key_column_name,
    scan_relation,
)
from pipeline.serving.postgres import PostgresPublisher

#: Tables every serving file has besides the published marts.
INFO_TABLES = ("refresh_info", "refresh_tables", DICTIONARY_TABLE)
CAMPAIGN_TABLE = "campaign_contacts"
#: TEMP table of the customer keys of one publication (`_create_key_table`).
KEY_TABLE = "_publication_customer_keys"
#: Columns of customer_rfm copied into the campaign export when present.
CAMPAIGN_RFM_COLUMNS = ("segment", "label_fr", "label_en", "recommended_action", "priority")

Log = Callable[[str], None]


class PiiLeakError(RuntimeError):
    """A table about to be published holds values that look like emails, phone numbers or
    master customer ids in clear."""


@dataclass(frozen=True)
class SourceTable:
    """One warehouse table or view to publish."""

    schema: str
    name: str
    columns: tuple[tuple[str, str], ...]

    def relation(self, catalog: str) -> str:
        """Its quoted name in the attached warehouse `catalog`."""
        return quote_relation(catalog, self.schema, self.name)

    @property
    def customer_id_columns(self) -> list[str]:
        """Its customer id columns, each published as a customer key (`key_column_name`)."""
        return [name for name, _ in self.columns if CUSTOMER_ID_COLUMN.match(name)]


@dataclass
class PublicationResult:
    """What a publication produced (also the asset's materialization metadata)."""

    refresh_id: str
    run_id: str
    serving_path: Path
    row_counts: dict[str, int]
    sources: dict[str, str]
    dropped_columns: dict[str, list[str]]
    #: Published columns without a description (dbt YAML), per table: should stay empty.
    undescribed_columns: dict[str, list[str]] = field(default_factory=dict)
    export_dir: Path | None = None
    campaign_dir: Path | None = None
    campaign_rows: int | None = None
    postgres_schema: str | None = None
    cleaned: list[str] = field(default_factory=list)
    removed_refreshes: list[str] = field(default_factory=list)


def _safe_tag(value: str) -> str:
    """A file-name-safe form of a run id (Dagster run ids are UUIDs already)."""
    return re.sub(r"[^A-Za-z0-9_-]", "", value) or "run"


def discover_tables(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    schemas: list[str],
    exclude: list[str],
) -> list[SourceTable]:
    """Tables and views of `schemas` in the attached warehouse, with their columns.

    Discovering by schema (not a list of columns) keeps the publisher working as the marts grow.
    """
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = ? AND list_contains(?, table_schema) "
        "ORDER BY list_position(?, table_schema), table_name",
        [catalog, schemas, schemas],
    ).fetchall()
    excluded = {name.lower() for name in exclude}
    found = []
    for schema, name in rows:
        if name.lower() in excluded or f"{schema}.{name}".lower() in excluded:
            continue
        columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = ? AND table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [catalog, schema, name],
        ).fetchall()
        found.append(SourceTable(schema, name, tuple(columns)))
    names = [table.name for table in found]
    duplicates = sorted(
        {name for name in names if names.count(name) > 1} | set(INFO_TABLES) & set(names)
    )
    if duplicates:
        raise ValueError(
            f"cannot publish: table names {duplicates} clash (across schemas or with "
            f"{list(INFO_TABLES)}); exclude or rename them"
        )
    return found


def _serving_select(
    source: SourceTable,
    catalog: str,
    refresh_id: str,
    extra_pii: list[str],
    withheld: frozenset[str] = frozenset(),
) -> tuple[str, list[str]]:
    """SELECT that copies one source with customer keys and without PII columns.

    Each customer id column is looked up in the temporary table `KEY_TABLE` (one keyed hash per
    distinct id, see `_create_key_table`). `withheld` names columns the dbt YAML keeps out of
    the publication (`meta: {publish: false}`); they are dropped like PII columns.
    """
    select = [f"{sql_literal(refresh_id)} AS refresh_id"]
    joins = []
    dropped = []
    id_columns = source.customer_id_columns
    for name, _type in source.columns:
        col = quote_ident(name)
        if name.lower() == "refresh_id":
            continue  # replaced by this publication's refresh id
        if name in id_columns:
            alias = f"k{len(joins)}"
            joins.append(
                f"LEFT JOIN {KEY_TABLE} {alias} ON {alias}.customer_id = CAST(s.{col} AS VARCHAR)"
            )
            select.append(f"{alias}.customer_key AS {quote_ident(key_column_name(name))}")
        elif name in withheld or is_pii_column(name, extra_pii):
            dropped.append(name)
        else:
            select.append(f"s.{col}")
    return (
        f"SELECT {', '.join(select)} FROM {source.relation(catalog)} s {' '.join(joins)}",
        dropped,
    )


def _create_key_table(
    con: duckdb.DuckDBPyConnection, catalog: str, sources: list[SourceTable], key_fn: str
) -> int:
    """TEMP table `KEY_TABLE` (customer_id, customer_key): the keyed hash of every distinct
    customer id of the published tables, computed once.

    Each id appears in many tables and, in the history, once per refresh kept: hashing each
    distinct id once keeps the publication's cost flat as monthly refreshes accumulate (two
    SHA-256 per row took 24 s of a publication at 24 refreshes of 0.85M customers). TEMP: the
    pairs never reach the published file. Returns the number of ids.
    """
    ids = [
        f"SELECT CAST({quote_ident(name)} AS VARCHAR) AS customer_id "
        f"FROM {source.relation(catalog)}"
        for source in sources
        for name in source.customer_id_columns
    ]
    union = " UNION ".join(ids) if ids else "SELECT NULL::VARCHAR AS customer_id"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {KEY_TABLE} AS "
        f"SELECT customer_id, {key_fn}(customer_id) AS customer_key "
        f"FROM ({union}) ids WHERE customer_id IS NOT NULL"
    )
    return con.execute(f"SELECT count(*) FROM {KEY_TABLE}").fetchone()[0]


@contextlib.contextmanager
def _publication_lock(folder: Path) -> Iterator[None]:
    """One publication at a time per state directory (the lock dies with its process)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".publish.lock", "a+")  # noqa: SIM115 - held for the whole block
    try:
        try:
            import fcntl
        except ImportError:  # Windows: the Dagster pool is the only guard there.
            yield
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RuntimeError(f"another publication is running in {folder}") from exc
        yield
    finally:
        handle.close()


def _clean_serving_debris(folder: Path) -> list[str]:
    """Temp files of killed publications (safe: we hold the publication lock)."""
    removed = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if (name.startswith("segments.") and ".tmp.duckdb" in name) or name.startswith(".pgload-"):
            remove_path(entry)
            removed.append(name)
    return removed


def publish_refresh(
    *,
    warehouse_path: Path,
    state_dir: Path,
    as_of: dt.date,
    run_id: str,
    options: ServingOptions,
    refresh_id: str | None = None,
    before_swap: Callable[[Path], None] | None = None,
    log: Log | None = None,
    descriptions: Mapping[str, TableDoc] | None = None,
    reason: RunReason | None = None,
    duckdb_config: Mapping[str, Any] | None = None,
) -> PublicationResult:
    """Publish the BI-facing tables of the build warehouse (see the module docstring).

    `before_swap(tmp_path)` runs after everything is built and before anything is switched
    (tests use it to kill a publication at the worst moment). Raises without touching the
    published outputs when anything fails before the switch. `descriptions` (by table name,
    see `pipeline.serving.docs.dbt_descriptions`) become the comments of the published tables
    and columns; tables dbt does not describe (the Python-built prediction marts) keep their
    warehouse comments. `reason` (why the run happened) goes into `refresh_info`.
    `duckdb_config` configures the connection that builds the serving file
    (`Warehouse.duckdb_config`: memory limit, threads).
    """
    log = log or (lambda message: None)
    state_dir = Path(state_dir)
    refresh_id = refresh_id or as_of.isoformat()
    warehouse_path = Path(warehouse_path).resolve()
    if not warehouse_path.exists():
        raise FileNotFoundError(f"build warehouse not found: {warehouse_path}")
    pii_key = options.resolved_pii_key(state_dir)
    serving_dir = state_dir / SERVING_DIR
    exports_root = state_dir / exports.EXPORTS_DIR
    campaign_root = state_dir / exports.CAMPAIGN_DIR
    tag = _safe_tag(run_id)
    short_tag = tag.replace("-", "")[:12]
    final = serving_path(state_dir)
    tmp = serving_dir / f"segments.{tag}.tmp.duckdb"
    export_tmp = exports_root / f"{exports.TMP_PREFIX}{refresh_id}-{short_tag}"
    campaign_tmp = campaign_root / f"{exports.TMP_PREFIX}{refresh_id}-{short_tag}"
    published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    # BI-facing folders are readable by others (docs/serving.md, "File permissions"); the
    # campaign folder holds emails: owner-only.
    for folder in (serving_dir, exports_root):
        shared_dir(folder)
    if options.campaign_export:
        ensure_private_dir(campaign_root)

    with _publication_lock(serving_dir), contextlib.ExitStack() as stack:
        cleaned = _clean_serving_debris(serving_dir)
        cleaned += exports.clean_debris(exports_root) + exports.clean_debris(campaign_root)
        for name in cleaned:
            log(f"removed left-over {name} of an interrupted publication")
        dsn = options.resolved_pg_dsn()
        pg: PostgresPublisher | None = None
        if dsn:
            pg = stack.enter_context(
                PostgresPublisher(
                    dsn,
                    schema=options.pg_schema,
                    reader_role=options.pg_reader_role,
                    lock_timeout_seconds=options.pg_lock_timeout_seconds,
                    log=log,
                )
            )
            cleaned += pg.clean_debris()
        try:
            result = _build(
                tmp=tmp,
                warehouse_path=warehouse_path,
                duckdb_config=duckdb_config or {},
                options=options,
                pii_key=pii_key,
                refresh_id=refresh_id,
                as_of=as_of,
                run_id=run_id,
                published_at=published_at,
                export_tmp=export_tmp,
                campaign_tmp=campaign_tmp,
                pg=pg,
                pg_workdir=serving_dir / f".pgload-{tag}",
                log=log,
                descriptions=descriptions or {},
                reason=reason or RunReason("manual", KINDS["manual"]),
            )
            fsync_file(tmp)
            share(tmp)
            if export_tmp.exists():
                share(export_tmp)
            if before_swap is not None:
                before_swap(tmp)
        except BaseException:
            for leftover in (tmp, tmp.with_name(tmp.name + ".wal"), export_tmp, campaign_tmp):
                remove_path(leftover)
            if pg is not None:
                pg.clean_debris()
            raise

        # Switch: each step below is atomic on its own and nothing above can fail any more.
        os.replace(tmp, final)
        fsync_dir(serving_dir)
        log(f"serving file {final} now holds refresh {refresh_id}")
        result.serving_path = final
        result.cleaned = cleaned
        if export_tmp.exists():
            result.export_dir = exports.install_folder(
                exports_root, export_tmp, refresh_id, short_tag
            )
            result.removed_refreshes = exports.apply_retention(exports_root, options.keep_refreshes)
        if campaign_tmp.exists():
            result.campaign_dir = exports.install_folder(
                campaign_root, campaign_tmp, refresh_id, short_tag
            )
            exports.apply_retention(campaign_root, options.keep_refreshes)
        if pg is not None and result.postgres_schema:
            pg.swap(result.postgres_schema, short_tag)
            result.postgres_schema = options.pg_schema
            log(f"PostgreSQL schema {options.pg_schema!r} now holds refresh {refresh_id}")
        return result


def _build(
    *,
    tmp: Path,
    warehouse_path: Path,
    duckdb_config: Mapping[str, Any],
    options: ServingOptions,
    pii_key: bytes,
    refresh_id: str,
    as_of: dt.date,
    run_id: str,
    published_at: dt.datetime,
    export_tmp: Path,
    campaign_tmp: Path,
    pg: PostgresPublisher | None,
    pg_workdir: Path,
    log: Log,
    descriptions: Mapping[str, TableDoc],
    reason: RunReason,
) -> PublicationResult:
    """Write the temporary serving file, the temporary export folders and the PostgreSQL load."""
    tmp.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(tmp), config=dict(duckdb_config))
    try:
        # The warehouse's own catalog name (its file stem) keeps dbt views that name it valid.
        catalog = warehouse_path.stem
        con.execute(f"ATTACH {sql_literal(warehouse_path)} AS {quote_ident(catalog)} (READ_ONLY)")
        sources = discover_tables(con, catalog, options.schemas, options.exclude_tables)
        if not sources:
            raise RuntimeError(
                f"nothing to publish: no table in schemas {options.schemas} of {warehouse_path}"
            )
        key_fn = Pseudonymizer(pii_key).register(con)
        log(f"customer keys: {_create_key_table(con, catalog, sources, key_fn)} distinct ids")
        counts: dict[str, int] = {}
        dropped: dict[str, list[str]] = {}
        undescribed: dict[str, list[str]] = {}
        key_columns: dict[str, list[str]] = {}
        for source in sources:
            doc = descriptions.get(source.name) or warehouse_doc(
                con, catalog, source.schema, source.name
            )
            select, dropped_cols = _serving_select(
                source,
                catalog,
                refresh_id,
                options.extra_pii_columns,
                doc.withheld if doc else frozenset(),
            )
            con.execute(f"CREATE TABLE {quote_ident(source.name)} AS {select}")
            renamed = {key_column_name(name): name for name in source.customer_id_columns}
            key_columns[source.name] = list(renamed)
            missing = apply_comments(con, source.name, doc, renamed)
            if missing:
                undescribed[source.name] = missing
            counts[source.name] = con.execute(
                f"SELECT count(*) FROM {quote_ident(source.name)}"
            ).fetchone()[0]
            if dropped_cols:
                dropped[source.name] = dropped_cols
                log(
                    f"{source.schema}.{source.name}: dropped columns {dropped_cols} "
                    "(named like personal data, or kept out by the dbt YAML)"
                )
        sources_by_name = {source.name: f"{source.schema}.{source.name}" for source in sources}
        _write_info_tables(
            con, refresh_id, as_of, published_at, run_id, counts, sources_by_name, reason
        )
        for table in ("refresh_info", "refresh_tables"):
            apply_comments(con, table, PUBLICATION_DOCS[table])
        write_dictionary(con, refresh_id, [*counts, "refresh_info", "refresh_tables"])
        tables = [*counts, *INFO_TABLES]
        if undescribed:
            log(
                "columns published without a description (describe them in the dbt YAML): "
                + "; ".join(f"{t}: {', '.join(c)}" for t, c in sorted(undescribed.items()))
            )

        findings: list[PiiFinding] = []
        for table in tables:
            # refresh_id and the customer keys are written by this publication, not read.
            skip = ["refresh_id", *key_columns.get(table, ())]
            findings += scan_relation(con, quote_ident(table), table, skip=skip)
        if findings:
            raise PiiLeakError(
                "publication stopped, personal data found in BI-facing tables: "
                + "; ".join(str(finding) for finding in findings)
                + ". Drop or rename the column in the model, list it in extra_pii_columns, or "
                "keep it out of the publication in the dbt YAML (column meta: {publish: false})."
            )

        result = PublicationResult(
            refresh_id=refresh_id,
            run_id=run_id,
            serving_path=tmp,
            row_counts=counts,
            sources=sources_by_name,
            dropped_columns=dropped,
            undescribed_columns=undescribed,
        )
        manifest = {
            "refresh_id": refresh_id,
            "as_of": as_of.isoformat(),
            "published_at": published_at.isoformat(),
            "run_id": run_id,
            "row_counts": counts,
        }
        csv_options = {
            "csv_delimiter": options.csv_delimiter,
            "csv_bom": options.csv_bom,
            "csv_decimal_comma": options.csv_decimal_comma,
        }
        if options.export_parquet or options.export_csv:
            exports.write_table_exports(
                con,
                tables,
                export_tmp,
                parquet=options.export_parquet,
                csv=options.export_csv,
                **csv_options,
            )
            exports.write_manifest(export_tmp, manifest)
        if options.campaign_export:
            result.campaign_rows = _campaign_export(
                con, catalog, sources, key_fn, refresh_id, campaign_tmp, manifest, csv_options
            )
            log(f"campaign export: {result.campaign_rows} opted-in contacts")
        if pg is not None:
            new_schema, pg_counts = pg.load(con, tables, f"{refresh_id}_{run_id[:8]}", pg_workdir)
            result.postgres_schema = new_schema
            log(f"PostgreSQL: loaded {sum(pg_counts.values())} rows into {new_schema}")
        con.execute(f"DETACH {quote_ident(catalog)}")
        # Everything in the main file, no WAL next to it: the file is complete on its own.
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return result


def _write_info_tables(
    con: duckdb.DuckDBPyConnection,
    refresh_id: str,
    as_of: dt.date,
    published_at: dt.datetime,
    run_id: str,
    counts: dict[str, int],
    sources: dict[str, str],
    reason: RunReason,
) -> None:
    """`refresh_info` (one row: which refresh this is, and why it ran: trigger, reason,
    reason_metric, reason_segment, reason_before, reason_after, reason_threshold) and
    `refresh_tables` (one row a table)."""
    why = reason.columns()
    why_sql = "".join(f", ?::{COLUMN_TYPES[name]} AS {name}" for name in why)
    con.execute(
        "CREATE TABLE refresh_info AS SELECT ?::VARCHAR AS refresh_id, ?::DATE AS as_of, "
        "?::TIMESTAMP AS published_at, ?::VARCHAR AS run_id, ?::VARCHAR AS tables, "
        "?::VARCHAR AS row_counts, ?::INTEGER AS table_count, ?::BIGINT AS total_rows" + why_sql,
        [
            refresh_id,
            as_of,
            published_at,
            run_id,
            ",".join(counts),
            json.dumps(counts, sort_keys=True),
            len(counts),
            sum(counts.values()),
            *why.values(),
        ],
    )
    con.execute(
        "CREATE TABLE refresh_tables (refresh_id VARCHAR, table_name VARCHAR, "
        "source VARCHAR, row_count BIGINT)"
    )
    con.executemany(
        "INSERT INTO refresh_tables VALUES (?, ?, ?, ?)",
        [[refresh_id, name, sources[name], count] for name, count in counts.items()],
    )


def _campaign_export(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    sources: list[SourceTable],
    key_fn: str,
    refresh_id: str,
    out_dir: Path,
    manifest: dict[str, object],
    csv_options: dict[str, object],
) -> int:
    """Emails of customers whose latest consent is an opt-in, minus campaign exclusions.

    `identity.customers` holds the golden record, whose `marketing_opt_in` is the most recent
    consent seen across sources. Written only to `campaign/`, never to the BI outputs.
    """
    by_name = {source.name: source for source in sources}
    rfm = by_name.get("customer_rfm")
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = ? "
        "AND table_schema = 'identity' AND table_name = 'customers'",
        [catalog],
    ).fetchone()[0]
    if rfm is None or not exists:
        raise RuntimeError(
            "campaign_export needs identity.customers and the customer_rfm mart in the warehouse"
        )

    rfm_columns = {name for name, _ in rfm.columns}
    picked = [f"r.{quote_ident(col)}" for col in CAMPAIGN_RFM_COLUMNS if col in rfm_columns]
    exclusion = ""
    excluded = by_name.get("campaign_exclusions")
    if excluded is not None and "customer_id" in {name for name, _ in excluded.columns}:
        exclusion = (
            "AND c.customer_id NOT IN (SELECT customer_id FROM "
            f"{excluded.relation(catalog)} WHERE customer_id IS NOT NULL)"
        )
    con.execute(
        f"CREATE TEMP TABLE {CAMPAIGN_TABLE} AS SELECT {sql_literal(refresh_id)} AS refresh_id, "
        f"{key_fn}(CAST(c.customer_id AS VARCHAR)) AS customer_key, c.email, "
        f"{', '.join(picked) or 'NULL AS segment'} "
        f"FROM {quote_relation(catalog, 'identity', 'customers')} c "
        f"JOIN {rfm.relation(catalog)} r ON r.customer_id = c.customer_id "
        f"WHERE c.marketing_opt_in IS TRUE AND nullif(trim(c.email), '') IS NOT NULL "
        f"{exclusion} ORDER BY customer_key"
    )
    rows = con.execute(f"SELECT count(*) FROM {CAMPAIGN_TABLE}").fetchone()[0]
    exports.write_table_exports(
        con, [CAMPAIGN_TABLE], out_dir, parquet=True, csv=True, **csv_options
    )
    exports.write_manifest(out_dir, {**manifest, "campaign_rows": rows})
    # Personal data: readable by the pipeline's user only.
    for path in out_dir.iterdir():
        make_private(path)
    make_private(out_dir)
    con.execute(f"DROP TABLE {CAMPAIGN_TABLE}")
    return int(rows)
