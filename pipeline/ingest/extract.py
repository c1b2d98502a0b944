"""Extraction: landing files -> `raw.<entity>` tables (all VARCHAR, canonical names, lineage).

Two phases keep a bad delivery from half-loading: first every file is inspected (format detection,
header, column mapping, required columns) without writing anything; only when all files pass are
they loaded, inside one transaction.

A file already loaded with the same content, under the same mapping and by the same reader code
(`raw.file_registry`: checksum and `load_key`) is not read again: its raw rows are already what
reading it would give. `full=True` (`segments refresh --full`) reads every file again. A file
loaded earlier that is no longer in the landing directory has its raw rows and registry entry
dropped in the same transaction, so the raw tables always hold exactly the landing files.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import io
import logging
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import sqlglot
from sqlglot import exp

from pipeline.ingest import detect
from pipeline.ingest.entities import (
    AMOUNT,
    DATE,
    ENTITIES,
    ENTITIES_BY_PREFIX,
    INTEGER,
    LINEAGE_COLUMNS,
    TIMESTAMP,
)
from pipeline.ingest.mapping import AUTO, ColumnSpec, EntityMapping, Mapping, MappingError
from pipeline.lib.fingerprint import code_digest, file_sha256, json_digest

# Short names: these modules build long SQL strings out of them.
from pipeline.lib.sql import quote_ident as _q
from pipeline.lib.sql import sql_literal as _lit

#: Per-file detection results; `clean_entities` reads it to build `clean.load_log`.
REGISTRY_TABLE = "raw.file_registry"
SUFFIXES = (".csv", ".csv.gz", ".parquet")
_STAGE = "_ingest_stage"
_SHORT = "_ingest_short"
_REJECTS = "_ingest_rejects"
#: Above this many badly shaped rows in one file, row numbers are restored with an ASOF join
#: instead of a binary CASE tree (measured at 10M rows: 2,000 gaps cost 0.35 s as a tree, an
#: ASOF join 2 s per use).
_MAX_GAP_TREE = 4096
#: Row-shape reason codes (clean.quarantine) and DuckDB's strict-parser error types.
EXTRA_FIELDS, MISSING_FIELDS, MALFORMED_ROW = "extra_fields", "missing_fields", "malformed_row"
REPEATED_HEADER = "repeated_header"
#: Why a file is read (raw.file_registry.load_reason); a file reused as loaded earlier is not.
NEW_FILE, CONTENT_CHANGED, READER_CHANGED, FULL_RELOAD = (
    "new file",
    "content changed",
    "mapping or reader code changed",
    "full reload requested",
)
#: The modules whose code decides what a file's raw rows look like.
_READER_MODULES = ("extract.py", "detect.py", "mapping.py", "entities.py")


@functools.cache
def _reader_digest() -> str:
    """The reader's code: a new version of it reads every file again."""
    return code_digest(Path(__file__).parent / name for name in _READER_MODULES)


def load_key(entity: str, emap: EntityMapping) -> str:
    """What decides a file's raw rows besides its bytes: its entity, mapping and reader code."""
    return json_digest(
        {"entity": entity, "mapping": dataclasses.asdict(emap), "reader": _reader_digest()}
    )


class IngestError(Exception):
    """A landing delivery cannot be loaded; the message says which file and why."""


class MissingColumnError(IngestError):
    """A file lacks a required column (the message names the file and the column)."""


class MissingEntityError(IngestError):
    """A required entity (orders) has no file in the landing directory."""


class UnreadableFileError(IngestError):
    """A landing file is not text the pipeline can read (binary, archive, corrupt gzip...)."""


@dataclass
class FileReport:
    """What was detected in and loaded from one landing file."""

    entity: str
    source_file: str
    checksum: str
    encoding: str
    delimiter: str
    decimal_separator: str
    date_format: str
    rows_read: int = 0
    empty: bool = False
    invalid_bytes: int = 0
    #: LF, CRLF, CR or mixed (CSV files).
    line_endings: str = ""
    #: Rows quarantined by shape (extra_fields, missing_fields, malformed_row), of rows_read.
    shape_rejected: int = 0


@dataclass(frozen=True)
class RemovedFile:
    """A file loaded earlier and no longer in the landing directory: its raw rows were dropped."""

    entity: str
    source_file: str
    #: Rows deleted from `raw.<entity>` (quarantined-by-shape rows included).
    rows: int


@dataclass
class ExtractReport:
    """Outcome of `extract_landing`: one `FileReport` per loaded file, plus ignored files."""

    files: list[FileReport] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    #: Files read in this run, with the reason (`NEW_FILE`, `CONTENT_CHANGED`...).
    read: dict[str, str] = field(default_factory=dict)
    #: Files unchanged since their last load, whose raw rows were kept without reading them.
    reused: list[str] = field(default_factory=list)
    #: Files of earlier loads no longer in the landing directory, whose raw rows were dropped.
    removed: list[RemovedFile] = field(default_factory=list)

    def entity_of(self, source_file: str) -> str | None:
        """The entity of one landing file of this run."""
        return next((f.entity for f in self.files if f.source_file == source_file), None)

    def rows_read(self, entity: str) -> int:
        """Data rows read for `entity` over all its files in this run."""
        return sum(f.rows_read for f in self.files if f.entity == entity)

    @property
    def entities(self) -> list[str]:
        """Entities that had at least one file in this run."""
        return sorted({f.entity for f in self.files})


@dataclass
class _Plan:
    """Everything decided about a file before any write."""

    entity: str
    path: Path
    source_file: str
    checksum: str
    report: FileReport
    header: list[str] = field(default_factory=list)
    columns: dict[str, ColumnSpec | None] = field(default_factory=dict)
    extras: dict[str, str] = field(default_factory=dict)
    detect_decimal: bool = False
    detect_date: bool = False
    decimal_note: str = "configured in mapping"
    date_note: str = "configured in mapping"
    #: Data rows (Parquet: from the file's metadata at inspection).
    rows: int = 0
    #: SQL relation of the file's rows as VARCHAR columns plus `_file_row` (1-based row number).
    relation: str = ""
    #: What the byte scan found (CSV only): encoding, line endings, blank lines.
    scan: detect.FileScan | None = None
    #: A row with fewer fields than this lacks a column a required value comes from.
    min_fields: int = 0
    #: Badly shaped rows: (1-based data row, "<reason>: <detail>", raw line).
    bad_rows: list[tuple[int, str, str]] = field(default_factory=list)


def _file_stem(name: str) -> str | None:
    lower = name.lower()
    for suffix in SUFFIXES:
        if lower.endswith(suffix):
            return lower[: -len(suffix)]
    return None


def _entity_for_name(name: str) -> str | None:
    stem = _file_stem(name)
    if stem is None:
        return None
    return next((e for e in ENTITIES_BY_PREFIX if stem.startswith(e)), None)


def discover_files(
    landing_dir: Path, mapping: Mapping, log: logging.Logger
) -> tuple[dict[str, list[Path]], list[str]]:
    """Files per entity (sorted by relative path) and the ignored files (relative paths).

    A `pattern` in the mapping replaces the default `<entity>*` naming for that entity.
    """
    found: dict[str, list[Path]] = {e: [] for e in ENTITIES}
    owner: dict[Path, str] = {}
    patterned = {e for e in ENTITIES if mapping.for_entity(e).pattern}
    root = landing_dir.resolve()
    for entity in sorted(patterned):
        pattern = mapping.for_entity(entity).pattern or ""
        for path in sorted(landing_dir.glob(pattern)):
            if not path.is_file() or _file_stem(path.name) is None:
                continue
            if not path.resolve().is_relative_to(root):
                # A symbolic link inside the landing directory pointing elsewhere.
                raise MappingError(
                    f"mapping: entities.{entity}.pattern: {pattern!r} matches "
                    f"{path.relative_to(landing_dir)}, which resolves outside the landing "
                    f"directory {landing_dir}"
                )
            if path in owner:
                raise IngestError(
                    f"{path.relative_to(landing_dir)} matches the patterns of both "
                    f"{owner[path]} and {entity}; make the mapping patterns disjoint"
                )
            owner[path] = entity
    ignored: list[str] = []
    for path in sorted(landing_dir.rglob("*")):
        if not path.is_file() or path in owner:
            continue
        rel = path.relative_to(landing_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        entity: str | None
        if len(rel.parts) == 1:
            entity = _entity_for_name(path.name)
        else:
            top = rel.parts[0].lower()
            entity = top if top in ENTITIES and _file_stem(path.name) is not None else None
        if entity is None or entity in patterned:
            ignored.append(rel.as_posix())
            log.warning("ignoring %s: not a file of any entity (%s)", rel, ", ".join(ENTITIES))
            continue
        owner[path] = entity
    for path, entity in owner.items():
        found[entity].append(path)
    for entity in found:
        found[entity].sort(key=lambda p: p.relative_to(landing_dir).as_posix())
    return found, ignored


def normalize_name(name: str) -> str:
    """Header name -> snake_case identifier (`" Order ID "` -> `order_id`)."""
    cleaned = re.sub(r"[^0-9a-zA-Z]+", "_", name.strip().lower()).strip("_")
    return cleaned or "column"


def _find_source(header: list[str], name: str) -> str | None:
    """The header field matching `name`: exact, then case-insensitive, then snake_case equal."""
    if name in header:
        return name
    for candidates in (
        [h for h in header if h.strip().lower() == name.strip().lower()],
        [h for h in header if normalize_name(h) == normalize_name(name)],
    ):
        if candidates:
            return candidates[0]
    return None


def _expr_columns(expr: str) -> list[exp.Column]:
    return list(sqlglot.parse_one(expr, read="duckdb").find_all(exp.Column))


def _resolve_columns(plan: _Plan, emap: EntityMapping, log: logging.Logger) -> None:
    """Decide how each canonical column is produced; raise on a missing required column."""
    spec = ENTITIES[plan.entity]
    used: set[str] = set()
    for canonical in spec.columns:
        configured = emap.columns.get(canonical)
        problem: str | None = None
        resolved: ColumnSpec | None = None
        if configured is None:
            src = _find_source(plan.header, canonical)
            resolved = ColumnSpec(source=src) if src is not None else None
            problem = None if src is not None else f"column {canonical!r} is missing"
        elif configured.kind == "source":
            src = _find_source(plan.header, configured.source or "")
            resolved = ColumnSpec(source=src) if src is not None else None
            if src is None:
                problem = (
                    f"column {canonical!r} is missing (mapped from source column "
                    f"{configured.source!r}, not in the header)"
                )
        elif configured.kind == "expr":
            missing = []
            for col in _expr_columns(configured.expr or ""):
                if _find_source(plan.header, col.name) is None:
                    missing.append(col.name)
            resolved = configured if not missing else None
            if missing:
                problem = (
                    f"column {canonical!r} is missing: expression {configured.expr!r} uses "
                    f"source column(s) {missing} not in the header"
                )
        else:
            resolved = configured
        if resolved is None:
            if canonical in spec.required:
                raise MissingColumnError(
                    f"{plan.source_file}: required {problem} "
                    f"(header: {', '.join(plan.header) or 'none'})"
                )
            if configured is not None:
                log.warning("%s: %s; it will be NULL", plan.source_file, problem)
        elif resolved.kind == "source":
            used.add(resolved.source or "")
        elif resolved.kind == "expr":
            used.update(
                _find_source(plan.header, c.name) or "" for c in _expr_columns(resolved.expr or "")
            )
        plan.columns[canonical] = resolved
    # Unmapped source columns are kept (raw keeps every source column), under a safe name.
    taken = set(spec.columns) | set(LINEAGE_COLUMNS)
    for header in plan.header:
        if header in used:
            continue
        name = normalize_name(header)
        if name in taken:
            name = f"src_{name}"
        while name in taken:
            name += "_"
        taken.add(name)
        plan.extras[header] = name


def _dedupe_header(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(header):
        name = name.strip() or f"column{i + 1}"
        if name.lower() in seen:
            seen[name.lower()] += 1
            name = f"{name}_{seen[name.lower()]}"
        seen.setdefault(name.lower(), 1)
        out.append(name)
    return out


def _inspect(
    entity: str,
    path: Path,
    landing_dir: Path,
    emap: EntityMapping,
    con: duckdb.DuckDBPyConnection,
    log: logging.Logger,
    checksum: str,
) -> _Plan:
    """Phase 1 for one file: detect its format, read its header, map its columns."""
    source_file = path.relative_to(landing_dir).as_posix()
    report = FileReport(entity, source_file, checksum, "", "", ".", "iso")
    plan = _Plan(entity, path, source_file, checksum, report)
    is_parquet = path.name.lower().endswith(".parquet")
    if path.stat().st_size == 0:
        report.empty = True
        report.encoding = report.delimiter = ""
        return plan
    if is_parquet:
        report.encoding, report.delimiter = "parquet", ""
        rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        plan.header = [r[0] for r in rows]
        plan.rows = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()[0]
        has_rows = plan.rows > 0
        enc_reason = delim_reason = "parquet"
    else:
        try:
            plan.scan = detect.scan_file(path, source_file)
        except detect.UnreadableFileError as exc:
            raise UnreadableFileError(str(exc)) from None
        report.line_endings = plan.scan.line_endings
        if emap.encoding != AUTO:
            report.encoding, enc_reason = emap.encoding, "configured in mapping"
        else:
            detected = plan.scan.encoding
            report.encoding, enc_reason, report.invalid_bytes = (
                detected.value,
                detected.reason,
                plan.scan.invalid_bytes,
            )
        sample = detect.read_sample_text(path, report.encoding)
        if emap.delimiter != AUTO:
            report.delimiter, delim_reason = emap.delimiter, "configured in mapping"
        else:
            found = detect.detect_delimiter(sample)
            report.delimiter, delim_reason = found.value, found.reason
        plan.header = _dedupe_header(detect.read_header(sample, report.delimiter))
        lines = [ln for ln in sample.lstrip("\ufeff").splitlines() if ln.strip()]
        has_rows = len(lines) > 1
    if not has_rows:
        report.empty = True
        return plan
    _resolve_columns(plan, emap, log)
    plan.min_fields = _min_fields(plan)
    spec = ENTITIES[entity]
    if emap.decimal_separator != AUTO:
        report.decimal_separator = emap.decimal_separator
    else:
        plan.detect_decimal = bool(spec.columns_of_kind(AMOUNT))
        plan.decimal_note = "no amount columns"
    if emap.date_format != AUTO:
        report.date_format = emap.date_format
    else:
        plan.detect_date = bool(spec.columns_of_kind(DATE, TIMESTAMP))
        plan.date_note = "no date columns"
    log.info(
        "%s (%s): encoding=%s (%s), delimiter=%r (%s)%s",
        source_file,
        entity,
        report.encoding,
        enc_reason,
        report.delimiter,
        delim_reason,
        f", line endings {report.line_endings}" if report.line_endings else "",
    )
    return plan


def _min_fields(plan: _Plan) -> int:
    """Fields a row needs: up to the last source column that feeds a required column.

    Rows may stop early only inside optional trailing columns (exports that omit trailing
    empty fields); a row shorter than this is quarantined as missing_fields, never shifted.
    """
    needed = {
        name
        for canonical in ENTITIES[plan.entity].required
        for name in _feeding_columns(plan, plan.columns.get(canonical))
    }
    positions = [plan.header.index(n) for n in needed if n in plan.header]
    return max(positions, default=-1) + 1


def _feeding_columns(plan: _Plan, col: ColumnSpec | None) -> list[str]:
    """The source columns one resolved canonical column is read from (none for a constant)."""
    if col is None or col.kind == "const":
        return []
    if col.kind == "source":
        return [col.source or ""]
    return [_find_source(plan.header, c.name) or "" for c in _expr_columns(col.expr or "")]


def _source_cols(plan: _Plan, kinds: tuple[str, ...]) -> list[str]:
    """Stage columns feeding canonical columns of the given kinds (plain renames and exprs)."""
    spec = ENTITIES[plan.entity]
    cols = [
        name
        for canonical, col in plan.columns.items()
        if spec.columns[canonical] in kinds
        for name in _feeding_columns(plan, col)
    ]
    return list(dict.fromkeys(c for c in cols if c))


def _detect_decimal(con: duckdb.DuckDBPyConnection, plan: _Plan) -> str:
    cols = _source_cols(plan, (AMOUNT, INTEGER))
    if not cols:
        return "no numeric columns; using '.'"
    values = ", ".join(f"trim({_q(c)})" for c in cols)
    comma, dot, example = con.execute(
        f"""
        SELECT count_if(regexp_full_match(v, ?)), count_if(regexp_full_match(v, ?)),
               any_value(v) FILTER (WHERE regexp_full_match(v, ?))
        FROM (SELECT unnest([{values}]) AS v FROM {plan.relation})
        -- Only values holding a separator can vote: the cheap test spares the regexes the
        -- integers (quantities) and empty cells, most of a large file.
        WHERE contains(v, ',') OR contains(v, '.')
        """,
        [detect.COMMA_DECIMAL_SQL, detect.DOT_DECIMAL_SQL, detect.COMMA_DECIMAL_SQL],
    ).fetchone()
    found = detect.decide_decimal(comma, dot, example)
    plan.report.decimal_separator = found.value
    return found.reason


def _detect_date(con: duckdb.DuckDBPyConnection, plan: _Plan) -> str:
    cols = _source_cols(plan, (DATE, TIMESTAMP))
    if not cols:
        return "no date columns; ISO"
    values = ", ".join(f"trim({_q(c)})" for c in cols)
    slash = detect.SLASH_DATE_SQL
    row = con.execute(
        f"""
        SELECT count_if(regexp_matches(v, ?)), count_if(regexp_matches(v, ?)),
               any_value(v) FILTER (WHERE try_cast(regexp_extract(v, ?, 1) AS INT) > 12),
               any_value(v) FILTER (WHERE try_cast(regexp_extract(v, ?, 3) AS INT) > 12),
               any_value(regexp_extract(v, ?, 2)) FILTER (WHERE regexp_matches(v, ?)),
               max(length(regexp_extract(v, ?, 4)))
        FROM (SELECT unnest([{values}]) AS v FROM {plan.relation}) WHERE v IS NOT NULL
        """,
        [detect.ISO_DATE_SQL, slash, slash, slash, slash, slash, slash],
    ).fetchone()
    iso, slashed, first, second, sep, year_digits = row
    found = detect.decide_date_format(iso, slashed, first, second, sep, year_digits or 4)
    plan.report.date_format = found.value
    return found.reason


_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.IntDiv)


def _expr_sql(plan: _Plan, expr: str) -> str:
    """Rewrite a mapping expression over the VARCHAR stage columns into DuckDB SQL.

    Columns used in arithmetic are converted to DECIMAL with the file's decimal separator (so
    `quantity * unit_price` works on "2" and "9,99"); a numeric result is written back with the
    same separator so that cleaning parses it like any other value of the file.
    """
    comma = plan.report.decimal_separator == ","
    tree = sqlglot.parse_one(expr, read="duckdb")
    numeric = False

    def rewrite(node: exp.Expression) -> exp.Expression:
        nonlocal numeric
        if not isinstance(node, exp.Column):
            return node
        src = _find_source(plan.header, node.name) or node.name
        ref = exp.column(src, quoted=True)
        parent = node.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        if isinstance(parent, _ARITHMETIC):
            numeric = True
            # Spaces (also non-breaking) are thousands separators in French exports.
            text = f"regexp_replace({_q(src)}, '[\\s\u00a0\u202f]', '', 'g')"
            if comma:
                text = f"replace(replace({text}, '.', ''), ',', '.')"
            return sqlglot.parse_one(f"try_cast({text} AS DECIMAL(18,6))", read="duckdb")
        return ref

    sql = tree.transform(rewrite).sql(dialect="duckdb")
    out = f"CAST(({sql}) AS VARCHAR)"
    return f"replace({out}, '.', ',')" if numeric and comma else out


def _repeated_header_sql(plan: _Plan) -> str:
    """SQL flagging a row that repeats the header (concatenated exports), or NULL.

    Parquet has no header line to repeat. A byte-order mark before a repeated header is ignored.
    """
    if plan.report.encoding == "parquet" or not plan.header:
        return "NULL"
    first, *others = plan.header
    # The first test is an exact comparison (no string built per row): the others only run on
    # the rare rows that pass it.
    same = " AND ".join(
        [f"{_q(first)} IN ({_lit(first.strip())}, {_lit(chr(0xFEFF) + first.strip())})"]
        + [f"trim({_q(h)}) = {_lit(h.strip())}" for h in others]
    )
    return f"CASE WHEN {same} THEN '{REPEATED_HEADER}: the header line again' END"


def _projection(plan: _Plan) -> list[str]:
    select: list[str] = []
    for canonical, col in plan.columns.items():
        if col is None:
            value = "NULL"
        elif col.kind == "source":
            value = _q(col.source or "")
        elif col.kind == "const":
            value = _lit(col.const or "")
        else:
            value = _expr_sql(plan, col.expr or "")
        select.append(f"CAST({value} AS VARCHAR) AS {_q(canonical)}")
    select.extend(f"CAST({_q(src)} AS VARCHAR) AS {_q(name)}" for src, name in plan.extras.items())
    return select


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema, every `raw.<entity>` table and the file registry if missing."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {REGISTRY_TABLE} (
            entity VARCHAR, source_file VARCHAR, checksum VARCHAR, encoding VARCHAR,
            delimiter VARCHAR, decimal_separator VARCHAR, date_format VARCHAR,
            rows_read BIGINT, loaded_at TIMESTAMP)"""
    )
    # Registries from before incremental extraction gain these; a NULL load_key never matches,
    # so their files are read once more.
    for column in ("load_key VARCHAR", "load_reason VARCHAR", "checked_at TIMESTAMP"):
        con.execute(f"ALTER TABLE {REGISTRY_TABLE} ADD COLUMN IF NOT EXISTS {column}")
    for entity, spec in ENTITIES.items():
        cols = ", ".join(f"{_q(c)} VARCHAR" for c in spec.columns)
        con.execute(
            f"""CREATE TABLE IF NOT EXISTS raw.{entity} ({cols}, _source_file VARCHAR,
                _source_row BIGINT, _file_checksum VARCHAR, _loaded_at TIMESTAMP,
                _row_error VARCHAR, _raw_line VARCHAR)"""
        )
        # Warehouses created before row-shape checks existed gain the two columns.
        for column in ("_row_error", "_raw_line"):
            con.execute(f"ALTER TABLE raw.{entity} ADD COLUMN IF NOT EXISTS {column} VARCHAR")


def _stage(con: duckdb.DuckDBPyConnection, plan: _Plan, tmp: Path) -> None:
    """Set `plan.relation`: the file's rows as VARCHAR columns plus their 1-based `_file_row`.

    Parquet is read in place: DuckDB numbers its rows (`file_row_number`), so the file is
    scanned once per use with only the columns each query needs, and never copied (at 10M orders
    the copy cost as much as the load). CSV goes through a temporary table whose rowid gives the
    row order (a parallel CSV scan does not number rows) and rows_read is counted there.
    """
    report = plan.report
    if report.encoding == "parquet":
        casts = ", ".join(f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}" for c in plan.header)
        plan.relation = (
            f"(SELECT {casts}, file_row_number + 1 AS _file_row "
            f"FROM read_parquet({_lit(str(plan.path))}, file_row_number = true))"
        )
        return
    path = plan.path
    scan = plan.scan or detect.FileScan(detect.Detected(report.encoding, ""))
    if report.encoding not in ("utf-8", "utf-8-sig") or report.invalid_bytes or scan.needs_rewrite:
        # DuckDB reads UTF-8 only and its strict parser refuses mixed line endings: other
        # encodings, corrupt UTF-8 and such files go through a UTF-8 copy with LF line ends,
        # in which undecodable bytes are U+FFFD, later quarantined as invalid_encoding.
        path = tmp / f"{plan.entity}_{plan.checksum[:16]}.csv"
        detect.transcode_to_utf8(plan.path, report.encoding, path, scan.blank_lines)
        logging.getLogger(__name__).debug(
            "%s: read through a normalised UTF-8 copy (%s, line endings %s%s)",
            plan.source_file,
            report.encoding,
            scan.line_endings,
            ", blank lines removed" if scan.blank_lines else "",
        )
    columns = "{" + ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in plan.header) + "}"
    con.execute(f"DROP TABLE IF EXISTS {_REJECTS}")
    con.execute(f"DROP TABLE IF EXISTS {_REJECTS}_scan")
    # Strict mode: a row with more or fewer fields than the header, or broken quoting, is not
    # read at all (it would be shifted otherwise) but recorded in the rejects table with its
    # line; those rows are quarantined by shape (`_shape_rows`).
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_STAGE} AS SELECT * FROM read_csv(?,
            delim = ?, header = true, auto_detect = false, columns = {columns},
            quote = '"', escape = '"', null_padding = false, strict_mode = true,
            store_rejects = true, rejects_table = '{_REJECTS}',
            rejects_scan = '{_REJECTS}_scan')""",
        [str(path), report.delimiter],
    )
    good = con.execute(f"SELECT count(*) FROM {_STAGE}").fetchone()[0]
    short = _shape_rows(con, plan)
    plan.rows = good + len(plan.bad_rows) + len(short)
    report.shape_rejected = len(plan.bad_rows)
    # Inside the load transaction rowids of new rows start at a large offset, but they stay
    # contiguous in file order, hence the min(rowid) shift. Rows the strict parser set apart
    # leave gaps in that numbering, restored by `_file_row_sql`.
    gaps = sorted([row for row, _, _ in plan.bad_rows] + [row for row, _ in short])
    rows = f"(SELECT *, rowid - (SELECT min(rowid) FROM {_STAGE}) + 1 AS _k FROM {_STAGE})"
    join = _GAP_JOIN if len(gaps) > _MAX_GAP_TREE else ""
    plan.relation = f"(SELECT s.*, {_file_row_sql(con, gaps)} AS _file_row FROM {rows} s {join})"
    if short:
        frame = pd.DataFrame(
            [fields for _, fields in short], columns=plan.header, dtype=object
        ).assign(_file_row=[row for row, _ in short])
        con.register("_short_df", frame)
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_SHORT} AS SELECT * FROM _short_df")
        finally:
            con.unregister("_short_df")
        plan.relation = (
            f"(SELECT * EXCLUDE (_k) FROM {plan.relation} UNION ALL BY NAME SELECT * FROM {_SHORT})"
        )


_GAP_TABLE = "_ingest_gaps"
_GAP_JOIN = f"ASOF LEFT JOIN {_GAP_TABLE} g ON s._k > g.a"


def _file_row_sql(con: duckdb.DuckDBPyConnection, gaps: list[int]) -> str:
    """SQL giving each read row (`_k`, its rank among read rows) its 1-based data row number.

    `gaps` are the data rows the parser did not return, sorted. The j-th of them (1-based) has
    `a_j = gap_j - j` read rows before it, so a read row k has data row k + #{j : a_j < k}:
    a binary CASE tree over the a_j, or an ASOF join when there are very many gaps.
    """
    if not gaps:
        return "_k"
    before = [gap - j for j, gap in enumerate(gaps, start=1)]
    if len(gaps) > _MAX_GAP_TREE:
        frame = pd.DataFrame({"a": before, "cnt": range(1, len(before) + 1)})
        con.register("_gaps_df", frame)
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {_GAP_TABLE} AS "
                "SELECT a, max(cnt) AS cnt FROM _gaps_df GROUP BY a"
            )
        finally:
            con.unregister("_gaps_df")
        return "_k + coalesce(g.cnt, 0)"

    def count_below(lo: int, hi: int) -> str:
        if lo >= hi:
            return str(lo)
        mid = (lo + hi) // 2
        return (
            f"CASE WHEN _k > {before[mid]} THEN {count_below(mid + 1, hi)} "
            f"ELSE {count_below(lo, mid)} END"
        )

    return f"_k + {count_below(0, len(before))}"


def _split_line(line: str, delimiter: str) -> list[str]:
    """The fields of one raw CSV record (quotes removed, doubled quotes unescaped)."""
    return next(csv.reader(io.StringIO(line), delimiter=delimiter, quotechar='"'), [])


def _shape_rows(con: duckdb.DuckDBPyConnection, plan: _Plan) -> list[tuple[int, list[str | None]]]:
    """Sort the rows the strict parser rejected: quarantined by shape, or padded and kept.

    Sets `plan.bad_rows` (row, "<reason>: <detail>", raw line) and returns the rows that only
    lack optional trailing fields, padded with NULLs, with their data row. DuckDB numbers
    records from the header (line 1), so a record's data row is its line - 1.
    """
    width = len(plan.header)
    rejects = con.execute(
        f"""SELECT line - 1, list(DISTINCT error_type ORDER BY error_type),
                   any_value(csv_line)
            FROM {_REJECTS} GROUP BY line ORDER BY line"""
    ).fetchall()
    short: list[tuple[int, list[str | None]]] = []
    for row, types, line in rejects:
        raw = (line or "").removesuffix("\n")
        fields = _split_line(raw, plan.report.delimiter)
        shape_errors = {"TOO MANY COLUMNS", "MISSING COLUMNS"}
        if set(types) - shape_errors:
            what = ", ".join(t.lower() for t in types)
            plan.bad_rows.append((row, f"{MALFORMED_ROW}: the row cannot be split ({what})", raw))
        elif "TOO MANY COLUMNS" in types:
            detail = f"{len(fields)} fields where the header has {width}; the row is not shifted"
            plan.bad_rows.append((row, f"{EXTRA_FIELDS}: {detail}", raw))
        elif len(fields) >= plan.min_fields and any(f.strip() for f in fields):
            short.append((row, [*fields, *([None] * (width - len(fields)))]))
        else:
            detail = (
                f"{len(fields)} field(s) where the header has {width} (the columns needed by "
                f"required values end at field {plan.min_fields})"
            )
            plan.bad_rows.append((row, f"{MISSING_FIELDS}: {detail}", raw))
    con.execute(f"DROP TABLE IF EXISTS {_REJECTS}")
    con.execute(f"DROP TABLE IF EXISTS {_REJECTS}_scan")
    return short


def _load(
    con: duckdb.DuckDBPyConnection,
    plan: _Plan,
    tmp: Path,
    loaded_at: dt.datetime,
    log: logging.Logger,
    key: str,
    reason: str,
) -> None:
    """Phase 2 for one file: replace its rows in raw.<entity> and its registry entry."""
    report = plan.report
    entity = plan.entity
    con.execute(f"DELETE FROM raw.{entity} WHERE _source_file = ?", [plan.source_file])
    con.execute(f"DELETE FROM {REGISTRY_TABLE} WHERE source_file = ?", [plan.source_file])
    if not report.empty:
        _stage(con, plan, tmp)
        dec_reason = _detect_decimal(con, plan) if plan.detect_decimal else plan.decimal_note
        date_reason = _detect_date(con, plan) if plan.detect_date else plan.date_note
        existing = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'raw' AND table_name = ?",
                [entity],
            ).fetchall()
        }
        for name in plan.extras.values():
            if name not in existing:
                con.execute(f"ALTER TABLE raw.{entity} ADD COLUMN {_q(name)} VARCHAR")
        select = ", ".join(_projection(plan))
        con.execute(
            f"""INSERT INTO raw.{entity} BY NAME
                SELECT {select}, ? AS _source_file, _file_row AS _source_row,
                       ? AS _file_checksum, ? AS _loaded_at,
                       {_repeated_header_sql(plan)} AS _row_error
                FROM {plan.relation}""",
            [plan.source_file, plan.checksum, loaded_at],
        )
        if plan.bad_rows:
            frame = pd.DataFrame(plan.bad_rows, columns=["_source_row", "_row_error", "_raw_line"])
            con.register("_bad_rows_df", frame)
            try:
                con.execute(
                    f"""INSERT INTO raw.{entity} BY NAME
                        SELECT ? AS _source_file, _source_row, ? AS _file_checksum,
                               ? AS _loaded_at, _row_error, _raw_line FROM _bad_rows_df""",
                    [plan.source_file, plan.checksum, loaded_at],
                )
            finally:
                con.unregister("_bad_rows_df")
            log.warning(
                "%s: %d row(s) with more or fewer fields than the header or broken quoting "
                "will be quarantined (first: row %d, %s)",
                plan.source_file,
                len(plan.bad_rows),
                plan.bad_rows[0][0],
                plan.bad_rows[0][1],
            )
        report.rows_read = plan.rows
        for work in (_STAGE, _SHORT, _GAP_TABLE):
            con.execute(f"DROP TABLE IF EXISTS {work}")
        log.info(
            "%s: decimal_separator=%r (%s), date_format=%s (%s), %d row(s) loaded",
            plan.source_file,
            report.decimal_separator,
            dec_reason,
            report.date_format,
            date_reason,
            report.rows_read,
        )
        if report.invalid_bytes:
            log.warning(
                "%s: %d undecodable byte sequence(s); their rows will be quarantined "
                "(invalid_encoding)",
                plan.source_file,
                report.invalid_bytes,
            )
    else:
        log.warning(
            "%s (%s): empty file (no data rows); recorded with 0 rows", plan.source_file, entity
        )
    con.execute(
        f"""INSERT INTO {REGISTRY_TABLE} (entity, source_file, checksum, encoding, delimiter,
                decimal_separator, date_format, rows_read, loaded_at, load_key, load_reason,
                checked_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            entity,
            plan.source_file,
            plan.checksum,
            report.encoding,
            report.delimiter,
            report.decimal_separator,
            report.date_format,
            report.rows_read,
            loaded_at,
            key,
            reason,
            loaded_at,
        ],
    )


@contextmanager
def _naming_the_file(source_file: str) -> Iterator[None]:
    """Turn any unforeseen failure while reading a file into an `IngestError` naming it.

    Our own errors already name the file; anything else (a corrupt gzip stream, a Parquet file
    DuckDB cannot open, a parser error) gets the file name and the first line of its message.
    """
    try:
        yield
    except IngestError:
        raise
    except (OSError, EOFError, ValueError, UnicodeError, csv.Error, duckdb.Error) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableFileError(f"{source_file}: cannot be read: {first}") from exc


def _registered(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    """Per loaded file: (entity, checksum, load_key, encoding, delimiter, decimal separator,
    date format, rows read); empty before the first load."""
    columns = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = 'file_registry'"
        ).fetchall()
    }
    if not columns:
        return {}
    # A registry from before incremental extraction has no load_key: its files are read again.
    key = "load_key" if "load_key" in columns else "NULL"
    return {
        row[0]: row[1:]
        for row in con.execute(
            f"""SELECT source_file, entity, checksum, {key}, encoding, delimiter,
                       decimal_separator, date_format, rows_read FROM {REGISTRY_TABLE}"""
        ).fetchall()
    }


def _drop_removed(
    con: duckdb.DuckDBPyConnection,
    known: dict[str, tuple],
    found: dict[str, str],
    log: logging.Logger,
) -> list[RemovedFile]:
    """Delete the raw rows and registry entry of every file of `known` (the registry) that is
    not in `found` ({landing file: entity}); return them with the rows deleted.

    Called inside the load transaction: cleaning rebuilds `clean.*` from every raw row, so rows
    left behind by a file that left the landing would keep its customers and orders counted.
    The registry row goes too, or `clean.load_log` would still list the file. A file still there
    but now of another entity (a mapping pattern changed) is read again as that entity; its rows
    under the former entity are dropped here, since loading only replaces the new entity's.
    """
    for source_file, entity in sorted(found.items()):
        former = known.get(source_file, (entity,))[0]
        if former != entity and former in ENTITIES:
            (rows,) = con.execute(
                f"DELETE FROM raw.{former} WHERE _source_file = ?", [source_file]
            ).fetchone()
            log.info(
                "%s: now a file of %s (was %s): its %d raw %s rows dropped",
                source_file,
                entity,
                former,
                rows,
                former,
            )
    removed = []
    for source_file in sorted(set(known) - set(found)):
        entity = known[source_file][0]
        rows = 0
        # A registry entry of an entity this code no longer knows has no raw table to clean.
        if entity in ENTITIES:
            (rows,) = con.execute(
                f"DELETE FROM raw.{entity} WHERE _source_file = ?", [source_file]
            ).fetchone()
        con.execute(f"DELETE FROM {REGISTRY_TABLE} WHERE source_file = ?", [source_file])
        removed.append(RemovedFile(entity, source_file, int(rows)))
    return removed


def extract_landing(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    mapping: Mapping,
    log: logging.Logger,
    full: bool = False,
) -> ExtractReport:
    """Load the landing files into `raw.<entity>` (replacing earlier loads of the same file).

    A file loaded earlier with the same content, mapping and reader code is not read again
    unless `full`. A file loaded earlier and no longer in the landing directory (whatever its
    entity, `full` or not) has its raw rows and registry entry dropped (`ExtractReport.removed`).
    Raises `MissingEntityError` when there is no orders file and `MissingColumnError` when a
    file lacks a required column; in both cases nothing has been written (nor dropped).
    """
    landing_dir = Path(landing_dir)
    if not landing_dir.is_dir():
        raise IngestError(f"landing directory not found: {landing_dir}")
    files, ignored = discover_files(landing_dir, mapping, log)
    if not files["orders"]:
        pattern = mapping.for_entity("orders").pattern or "orders*.csv|.csv.gz|.parquet"
        raise MissingEntityError(
            f"no orders file in {landing_dir} (expected {pattern} or an orders/ folder)"
        )
    # The registry is read even with `full`: the files it lists that left the landing must go.
    known = _registered(con)
    registered = {} if full else known
    report = ExtractReport(ignored=ignored)
    plans: list[tuple[_Plan, str]] = []  # with the load_key of the file
    for entity, paths in files.items():
        emap = mapping.for_entity(entity)
        key = load_key(entity, emap)
        for path in paths:
            source_file = path.relative_to(landing_dir).as_posix()
            with _naming_the_file(source_file):
                checksum = file_sha256(path)
                earlier = registered.get(source_file)
                if earlier is None:
                    reason = FULL_RELOAD if full else NEW_FILE
                elif earlier[:2] != (entity, checksum):
                    reason = CONTENT_CHANGED
                elif earlier[2] != key:
                    reason = READER_CHANGED
                else:
                    report.reused.append(source_file)
                    report.files.append(FileReport(entity, source_file, checksum, *earlier[3:]))
                    continue
                report.read[source_file] = reason
                plans.append((_inspect(entity, path, landing_dir, emap, con, log, checksum), key))
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with tempfile.TemporaryDirectory(prefix="ingest_") as tmp:
        con.execute("BEGIN TRANSACTION")
        try:
            ensure_raw_tables(con)
            found = {
                path.relative_to(landing_dir).as_posix(): entity
                for entity, paths in files.items()
                for path in paths
            }
            report.removed = _drop_removed(con, known, found, log)
            for plan, key in plans:
                with _naming_the_file(plan.source_file):
                    _load(con, plan, Path(tmp), loaded_at, log, key, report.read[plan.source_file])
                report.files.append(plan.report)
            if report.reused:
                con.execute(
                    f"UPDATE {REGISTRY_TABLE} SET checked_at = ? "
                    "WHERE list_contains(?, source_file)",
                    [loaded_at, report.reused],
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    if report.reused:
        log.info(
            "%d file(s) unchanged since their last load (same content, mapping and reader): "
            "not read again (%s)",
            len(report.reused),
            ", ".join(report.reused),
        )
    for source_file, reason in report.read.items():
        log.info("%s: read (%s)", source_file, reason)
    for gone in report.removed:
        # A warning: rows leaving the pipeline are worth seeing even when it was intended.
        log.warning(
            "%s: removed from landing, its %d raw rows dropped (%s)",
            gone.source_file,
            gone.rows,
            gone.entity,
        )
    for entity in ENTITIES:
        if not files[entity]:
            log.info("%s: no file in landing", entity)
    return report
