"""Deterministic demo data: landing files for the pipeline plus the hidden ground truth.

`generate_demo` draws a hidden population (people.py), its purchase behaviour (activity.py),
renders every landing file as a table of strings, injects faults (faults.py) and writes:

- `<out>/landing/`: customers.csv, customers_store.csv (the messy file: `;`, Windows-1252,
  day-first dates), orders_<year>.csv, order_lines.csv, refunds.csv, nps_responses.csv,
  support_tickets.csv, campaign_contacts.csv, marketing_spend.csv (`.parquet` instead of `.csv`
  with file_format="parquet", except the messy file which is always CSV);
- `<out>/ground_truth/identity.csv`, `<out>/ground_truth/faults.csv` and
  `<out>/ground_truth/known_customers.csv` (planted customers, marketing.py).

Same arguments, same bytes: every random draw comes from a numpy generator seeded with
(seed, component) and Faker is seeded with `seed`.

With `parts` > 1 the demo is written part after part (parts.py), each part a demo of its own
with its share of the records and orders, a seed derived from (seed, part), files suffixed
`_p000`, `_p001`, ... (`orders_2025_p003.parquet`, `customers_store_p003.csv`) and ids numbered
after those of the parts before it; the three ground truth files hold every part's rows, part
after part (faults.csv is sorted by file and row within a part). Memory is that of one part.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipeline.demo import reference as ref
from pipeline.demo.activity import (
    COMPLETED,
    STATUSES,
    Lines,
    Orders,
    build_lines,
    build_nps,
    build_orders,
    build_refunds,
    build_tickets,
    record_order_span,
)
from pipeline.demo.calendar import Calendar, year_of
from pipeline.demo.faults import Fault, FaultInjector, FaultSpec, fault_count
from pipeline.demo.marketing import marketing_files, plant_star_products
from pipeline.demo.parts import PartIds, part_seed, part_size, part_tag
from pipeline.demo.people import Population, build_population
from pipeline.lib.sql import sql_literal

logger = logging.getLogger(__name__)

FILE_FORMATS = ("csv", "parquet")
MESSY_FILE = "customers_store.csv"
MESSY_ENCODING = "cp1252"
MESSY_DELIMITER = ";"
MIN_CUSTOMERS = 100

CUSTOMER_COLUMNS = (
    "customer_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "birth_date",
    "gender",
    "address_line",
    "postal_code",
    "city",
    "region",
    "country",
    "created_at",
    "marketing_opt_in",
    "source_system",
)
ORDER_COLUMNS = (
    "order_id",
    "customer_id",
    "order_date",
    "amount",
    "currency",
    "status",
    "channel",
    "promo_code",
    "discount_amount",
)
IDENTITY_COLUMNS = (
    "customer_id",
    "person_id",
    "person_type",
    "source_system",
    "lookalike_group",
    "in_customer_file",
)
FAULT_COLUMNS = ("file", "row", "column", "expected_reason_code")


@dataclass(frozen=True)
class DemoSummary:
    """What `generate_demo` wrote.

    `files` maps each written path, relative to `out_dir` (e.g. "landing/orders_2025.csv"), to its
    number of data rows (header excluded). `orders` is the number of generated orders (each once,
    the duplicate-order-id fault rows come on top); `persons` the hidden real people. Counts
    are totals over the `parts` parts; a ground truth file counts the rows of every part.
    """

    out_dir: Path
    landing_dir: Path
    ground_truth_dir: Path
    files: dict[str, int] = field(default_factory=dict)
    persons: int = 0
    customer_records: int = 0
    orders: int = 0
    faults: int = 0
    seed: int = 42
    as_of: date = date(2026, 10, 1)
    file_format: str = "csv"
    parts: int = 1
    seconds: float = 0.0

    @property
    def identity_path(self) -> Path:
        """Ground truth: source customer_id -> person_id."""
        return self.ground_truth_dir / "identity.csv"

    @property
    def faults_path(self) -> Path:
        """Ground truth: every injected bad value."""
        return self.ground_truth_dir / "faults.csv"

    def rows(self, entity: str) -> int:
        """Data rows written for a landing entity (longest entity prefix wins, as in ingestion)."""
        entities = (
            "orders",
            "customers",
            "refunds",
            "order_lines",
            "nps_responses",
            "support_tickets",
            "campaign_contacts",
            "marketing_spend",
        )
        total = 0
        for rel, count in self.files.items():
            if not rel.startswith("landing/"):
                continue
            name = rel.removeprefix("landing/")
            owner = max((e for e in entities if name.startswith(e)), key=len, default=None)
            if owner == entity:
                total += count
        return total


# ---------------------------------------------------------------------------------------------
# string rendering (vectorised with pyarrow.compute)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    text = pc.cast(pa.array(numbers, pa.int64()), pa.string())
    if width:
        text = pc.utf8_lpad(text, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "") if prefix else text


def _money(cents: np.ndarray) -> pa.Array:
    units = pc.cast(pa.array(cents // 100, pa.int64()), pa.string())
    dec = pc.utf8_lpad(
        pc.cast(pa.array(cents % 100, pa.int64()), pa.string()), width=2, padding="0"
    )
    return pc.binary_join_element_wise(units, dec, ".")


def _dates(days: np.ndarray, day_first: bool = False, valid: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(
        days.astype("datetime64[D]"), pa.date32(), mask=None if valid is None else ~valid
    )
    if day_first:
        return pc.strftime(pc.cast(arr, pa.timestamp("s")), format="%d/%m/%Y")
    return pc.cast(arr, pa.string())


def _timestamps(seconds: np.ndarray, day_first: bool = False) -> pa.Array:
    arr = pa.array(seconds.astype("datetime64[s]"), pa.timestamp("s"))
    return pc.strftime(arr, format="%d/%m/%Y %H:%M" if day_first else "%Y-%m-%d %H:%M:%S")


def _labels(values: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """Strings from small-integer codes (negative code = empty), via an Arrow take."""
    return pa.array(list(values), pa.string()).take(pa.array(codes, mask=codes < 0))


def _column(values: pd.Series) -> pa.Array:
    """A DataFrame string column as an Arrow string array (missing values become nulls)."""
    return pa.array(values, from_pandas=True).cast(pa.string())


# ---------------------------------------------------------------------------------------------
# customers


def _finish_records(
    pop: Population, orders: Orders, calendar: Calendar, seed: int, ids: PartIds
) -> None:
    """Add created_ts (before the record's first order) and source-system customer ids.

    Each system's ids continue after those the earlier parts took (`ids.records`).
    """
    rng = np.random.default_rng([seed, 7])
    rec = pop.records
    n = len(rec)
    first, _ = record_order_span(orders, n)
    acq = pop.persons["acq_day"].to_numpy()[rec["person"].to_numpy()]
    rank = rec["rank"].to_numpy()
    # Records without orders: a prospect's registration, or a later sign-up in another system.
    later = acq + (rng.random(n) * (calendar.as_of - acq + 1)).astype(np.int64)
    base = np.where(first >= 0, first, np.where(rank == 0, acq, later))
    created_day = np.where(first >= 0, base - rng.integers(0, 31, n), base)
    created_day = np.minimum(created_day, calendar.as_of)
    seconds = created_day * 86_400 + rng.integers(7 * 3600, 23 * 3600, n)
    rec["created_ts"] = seconds
    system = rec["system"].to_numpy()
    members_all, ids_all = [], []
    for code, (_, prefix, start, width, _) in enumerate(ref.SOURCE_SYSTEMS):
        members = np.flatnonzero(system == code)
        # Ids follow creation order within a system, as sequences do.
        members_all.append(members[np.lexsort((members, seconds[members]))])
        first_id = start + ids.records[code]
        ids_all.append(_ids(prefix, np.arange(first_id, first_id + len(members)), width))
    position = np.empty(n, dtype=np.int64)
    position[np.concatenate(members_all)] = np.arange(n)
    rec["customer_id"] = pa.concat_arrays(ids_all).take(pa.array(position)).to_pandas()
    rec["exported"] = True


def _customer_table(rec: pd.DataFrame, day_first: bool) -> pa.Table:
    birth = rec["birth_day"].to_numpy()
    valid = ~np.isnan(birth)
    birth_days = np.where(valid, birth, 0).astype(np.int64)
    systems = tuple(s[0] for s in ref.SOURCE_SYSTEMS)
    opt_in = rec["marketing_opt_in"].to_numpy().astype(np.int64)
    booleans = ("0", "1") if day_first else ("false", "true")
    return pa.table(
        {
            "customer_id": _column(rec["customer_id"]),
            "email": _column(rec["email"]),
            "first_name": _column(rec["first_name"]),
            "last_name": _column(rec["last_name"]),
            "phone": _column(rec["phone"]),
            "birth_date": _dates(birth_days, day_first, valid),
            "gender": _column(rec["gender"]),
            "address_line": _column(rec["address_line"]),
            "postal_code": _column(rec["postal_code"]),
            "city": _column(rec["city"]),
            "region": _column(rec["region"]),
            "country": _column(rec["country"]),
            "created_at": _timestamps(rec["created_ts"].to_numpy(), day_first),
            "marketing_opt_in": _labels(booleans, opt_in),
            "source_system": _labels(systems, rec["system"].to_numpy()),
        }
    )


# ---------------------------------------------------------------------------------------------
# orders and their files


def _order_files(
    orders: Orders,
    order_ids: pa.Array,
    customer_ids: pa.Array,
    ghost_record: np.ndarray,
    ext: str,
    ids: PartIds,
) -> list[tuple[str, pa.Table]]:
    """One table per order year; helper columns `__ok` (fault-eligible) and `__ghost`."""
    table = pa.table(
        {
            "order_id": order_ids,
            "customer_id": customer_ids.take(pa.array(orders.record)),
            "order_date": _dates(orders.day),
            "amount": _money(orders.amount_cents),
            "currency": pa.array(np.full(len(orders.day), "EUR", dtype=object), pa.string()),
            "status": _labels(STATUSES, orders.status),
            "channel": _labels(ref.CHANNELS, orders.channel),
            "promo_code": _labels(orders.promo_labels, orders.promo),
            "discount_amount": _money(orders.discount_cents),
            "__ok": pa.array((orders.status == COMPLETED) & ~ghost_record[orders.record]),
            "__ghost": pa.array(ghost_record[orders.record]),
        }
    )
    years = year_of(orders.day)
    files = []
    for year in np.unique(years):
        lo, hi = np.searchsorted(years, [year, year + 1])
        files.append((ids.file_name(f"orders_{year}.{ext}"), table.slice(lo, hi - lo)))
    return files


def _insert_rows(
    table: pa.Table, extra: pa.Table, rng: np.random.Generator
) -> tuple[pa.Table, np.ndarray]:
    """Insert `extra` rows at random positions; returns the table and their 0-based rows.

    Built from zero-copy slices, so inserting a few rows into millions costs nothing.
    """
    n, m = table.num_rows, extra.num_rows
    cuts = np.sort(rng.integers(0, n + 1, m))
    extra = extra.cast(table.schema)
    pieces, previous = [], 0
    for j, cut in enumerate(cuts):
        pieces.append(table.slice(previous, cut - previous))
        pieces.append(extra.slice(j, 1))
        previous = cut
    pieces.append(table.slice(previous))
    return pa.concat_tables(pieces), cuts + np.arange(m)


def _add_duplicate_orders(
    files: list[tuple[str, pa.Table]], injector: FaultInjector, rng: np.random.Generator
) -> list[tuple[str, pa.Table]]:
    """Re-export some orders in a later file with a corrected amount (same order_id)."""
    if len(files) < 2:
        return files
    oks = [t["__ok"].to_numpy(zero_copy_only=False) for _, t in files]
    cand_file = np.concatenate([np.full(int(ok.sum()), fi) for fi, ok in enumerate(oks[:-1])])
    cand_row = np.concatenate([np.flatnonzero(ok) for ok in oks[:-1]])
    k = min(fault_count(sum(len(ok) for ok in oks)), len(cand_row))
    pick = np.sort(rng.choice(len(cand_row), k, replace=False))
    chosen_file, chosen_row = cand_file[pick], cand_row[pick]
    per_target: dict[int, list[pa.Table]] = {}
    ok_index = files[0][1].schema.get_field_index("__ok")
    for fi in np.unique(chosen_file):
        rows = chosen_row[chosen_file == fi]
        name, source = files[fi]
        ok = oks[fi].copy()
        ok[rows] = False  # the original row must stay intact: it is the reference content
        files[fi] = (name, source.set_column(ok_index, "__ok", pa.array(ok)))
        dups = source.take(pa.array(rows))
        cents = np.array([round(float(v) * 100) for v in dups["amount"].to_pylist()])
        dups = dups.set_column(
            dups.schema.get_field_index("amount"),
            "amount",
            _money(cents + np.maximum(100, cents // 10)),
        )
        dups = dups.set_column(ok_index, "__ok", pa.array(np.zeros(len(rows), dtype=bool)))
        targets = rng.integers(fi + 1, len(files), len(rows))
        for target in np.unique(targets):
            per_target.setdefault(int(target), []).append(dups.filter(pa.array(targets == target)))
    for target, rows in sorted(per_target.items()):
        name, table = files[target]
        table, slots = _insert_rows(table, pa.concat_tables(rows), rng)
        files[target] = (name, table)
        injector.record(name, slots, "order_id", "duplicate_order_id")
    return files


def _inject_order_faults(
    files: list[tuple[str, pa.Table]], injector: FaultInjector
) -> list[tuple[str, pa.Table]]:
    """Unknown customers plus ORDER_FAULTS, spread over all order files by size.

    The faults are drawn over the concatenated files (a few of each kind in total rather than a
    few per file, which would flood a small first year) and the rows mapped back to their file.
    """
    names = [name for name, _ in files]
    sizes = np.array([t.num_rows for _, t in files])
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    combined = pa.concat_tables([t for _, t in files])
    for name, table in files:
        ghost_rows = np.flatnonzero(table["__ghost"].to_numpy(zero_copy_only=False))
        injector.record(name, ghost_rows, "customer_id", "unknown_customer")
    first_new = len(injector.faults)
    combined = injector.inject(
        "orders", combined, ORDER_FAULTS, combined["__ok"].to_numpy(zero_copy_only=False)
    )
    for i in range(first_new, len(injector.faults)):
        fault = injector.faults[i]
        fi = int(np.searchsorted(bounds, fault.row - 1, side="right")) - 1
        injector.faults[i] = Fault(
            names[fi], fault.row - int(bounds[fi]), fault.column, fault.reason
        )
    return [(name, combined.slice(bounds[i], sizes[i])) for i, name in enumerate(names)]


ORDER_FAULTS = (
    FaultSpec("missing_required", "order_id"),
    FaultSpec("missing_required", "customer_id"),
    FaultSpec("missing_required", "order_date"),
    FaultSpec("missing_required", "amount"),
    FaultSpec("unparsable_date", "order_date"),
    FaultSpec("implausible_date", "order_date"),
    FaultSpec("deferred", "order_date"),
    FaultSpec("invalid_amount", "amount"),
    FaultSpec("negative_amount", "amount"),
    FaultSpec("unknown_status", "status"),
)


def _lines_table(lines: Lines, order_ids: pa.Array) -> pa.Table:
    prefixes = np.array([c[1] for c in ref.CATEGORIES], dtype=object)
    product = pc.binary_join_element_wise(
        pa.array(prefixes[lines.category], pa.string()),
        pc.utf8_lpad(pc.cast(pa.array(lines.product), pa.string()), width=4, padding="0"),
        "-",
    )
    return pa.table(
        {
            "order_id": order_ids.take(pa.array(lines.order)),
            "product_id": product,
            "category": _labels(tuple(c[0] for c in ref.CATEGORIES), lines.category),
            "quantity": pc.cast(pa.array(lines.quantity, pa.int64()), pa.string()),
            "unit_price": _money(lines.unit_cents),
        }
    )


def _legacy_creation_dates(
    table: pa.Table, no_orders: np.ndarray, rng: np.random.Generator, day_first: bool
) -> pa.Table:
    """Old but real dates: a few records without orders migrated from a 1990s CRM.

    They must be accepted (the plausibility floor is 1900), unlike the injected placeholders.
    """
    candidates = np.flatnonzero(no_orders)
    k = min(len(candidates), fault_count(table.num_rows))
    if k == 0:
        return table
    rows = np.sort(rng.choice(candidates, k, replace=False))
    days = np.datetime64("1994-01-01") + rng.integers(0, 6 * 365, k).astype("timedelta64[D]")
    seconds = days.astype("datetime64[s]").astype(np.int64) + 9 * 3600
    values = _timestamps(seconds, day_first)
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[rows] = True
    column = table["created_at"].combine_chunks()
    filled = np.zeros(table.num_rows, dtype=np.int64)
    filled[rows] = np.arange(k)
    patched = pc.if_else(pa.array(mask), values.take(pa.array(filled)), column)
    return table.set_column(table.schema.get_field_index("created_at"), "created_at", patched)


def _pick_shifted_rows(
    files: list[tuple[str, pa.Table]], injector: FaultInjector, rng: np.random.Generator
) -> dict[str, dict[int, str]]:
    """Rows written with a field too many or too few, as broken exports do.

    An unquoted decimal comma (`45,90` in a comma file) adds a field; a line cut after the
    customer id loses the rest. Only fault-free completed orders of the last file are used;
    the rows are rewritten when the file is written (`_shift_rows`): {file: {row: kind}}.
    """
    name, table = files[-1]
    taken = {f.row - 1 for f in injector.faults if f.file == name}
    ok = table["__ok"].to_numpy(zero_copy_only=False).copy()
    ok[list(taken)] = False
    candidates = np.flatnonzero(ok)
    k = min(len(candidates) // 2, fault_count(table.num_rows))
    rows = rng.choice(candidates, 2 * k, replace=False)
    kinds = {int(r): "extra_fields" for r in rows[:k]}
    kinds.update({int(r): "missing_fields" for r in rows[k:]})
    for row, kind in sorted(kinds.items()):
        injector.record(name, np.array([row]), "", kind)
    return {name: kinds}


def _shift_rows(path: Path, rows: dict[int, str]) -> None:
    """Rewrite the given 0-based data rows of a plain CSV file with a broken shape.

    The order files hold no quoted line breaks, so data row i is line i + 1.
    """
    lines = path.read_text(encoding="utf-8").split("\n")
    for row, kind in rows.items():
        fields = lines[row + 1].split(",")
        if kind == "extra_fields":
            fields[3] = fields[3].replace(".", ",")
        else:
            fields = fields[:2]
        lines[row + 1] = ",".join(fields)
    path.write_text("\n".join(lines), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# writing


def _write_table(
    table: pa.Table, path: Path, con: duckdb.DuckDBPyConnection, append: bool = False
) -> None:
    """Write `table` as Parquet or CSV (by the suffix); `append` adds CSV rows to the file.

    Appending writes the rows without header to a side file first: DuckDB's COPY cannot append.
    """
    if path.suffix == ".parquet":
        pq.write_table(table, path, compression="zstd")
        return
    target = path.with_name(f"{path.name}.append") if append else path
    con.register("demo_out", table)
    try:
        con.execute(
            f"COPY demo_out TO {sql_literal(target.as_posix())} "
            f"(FORMAT csv, HEADER {'false' if append else 'true'})"
        )
    finally:
        con.unregister("demo_out")
    if append:
        with path.open("ab") as out, target.open("rb") as rows:
            shutil.copyfileobj(rows, out)
        target.unlink()


def _write_messy(table: pa.Table, path: Path) -> None:
    """Semicolons, quoted text, Windows-1252 and CRLF: what a legacy till system exports."""
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(delimiter=MESSY_DELIMITER))
    text = buffer.getvalue().to_pybytes().decode("utf-8")
    path.write_bytes(text.replace("\n", "\r\n").encode(MESSY_ENCODING))


def _drop_helpers(table: pa.Table) -> pa.Table:
    return table.drop_columns([c for c in table.column_names if c.startswith("__")])


# ---------------------------------------------------------------------------------------------
# entry point


def generate_demo(
    out_dir: Path,
    customers: int = 5000,
    orders: int = 25000,
    seed: int = 42,
    as_of: date = date(2026, 10, 1),
    faults: bool = True,
    file_format: str = "csv",
    parts: int = 1,
) -> DemoSummary:
    """Write the demo landing files and ground truth under `out_dir`; same args, same bytes.

    `customers` is the number of customer records in the customer files (persons with several
    records count once per record); `orders` the number of distinct orders. With `faults=False`
    the files are clean (faults.csv then only has its header).

    With `parts` > 1 the demo is written as that many independent parts, one after the other,
    so that memory is that of one part (see parts.py): part k has its share of the customers and
    orders, its own seed, its own files (`orders_2025_p003.parquet`) and ids after those of the
    earlier parts. The ground truth files hold the rows of every part, part after part.
    """
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {FILE_FORMATS}, got {file_format!r}")
    if parts < 1:
        raise ValueError("parts must be positive")
    if customers // parts < MIN_CUSTOMERS:
        raise ValueError(f"customers must be at least {MIN_CUSTOMERS} per part")
    if orders < parts:
        raise ValueError("orders must be positive, at least one per part")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    landing = out_dir / "landing"
    truth = out_dir / "ground_truth"
    landing.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    calendar = Calendar.build(as_of)

    files: dict[str, int] = {}
    totals = {"persons": 0, "customer_records": 0, "orders": 0, "faults": 0}
    ids = PartIds.first(parts)
    for k in range(parts):
        part_started = time.perf_counter()
        # Only counts come back: the part's tables are freed before the next part is drawn.
        part = _generate_part(
            landing,
            truth,
            calendar,
            as_of,
            part_size(customers, parts, k),
            part_size(orders, parts, k),
            part_seed(seed, parts, k),
            faults,
            file_format,
            ids,
            part_tag(parts, k + 1),
        )
        ids = part.next_ids
        for rel, rows in part.files.items():
            files[rel] = files.get(rel, 0) + rows
        for key in totals:
            totals[key] += getattr(part, key)
        logger.info(
            "part %d/%d: %d customer records, %d orders, %.1f seconds",
            k + 1,
            parts,
            part.customer_records,
            part.orders,
            time.perf_counter() - part_started,
        )

    summary = DemoSummary(
        out_dir=out_dir,
        landing_dir=landing,
        ground_truth_dir=truth,
        files=files,
        seed=seed,
        as_of=as_of,
        file_format=file_format,
        parts=parts,
        seconds=round(time.perf_counter() - started, 2),
        **totals,
    )
    logger.info(
        "demo data: %d persons, %d orders, %d faults in %.1fs under %s",
        summary.persons,
        summary.orders,
        summary.faults,
        summary.seconds,
        out_dir,
    )
    return summary


@dataclass(frozen=True)
class _Part:
    """What one part wrote: files (relative path -> rows), counts and the next part's ids."""

    files: dict[str, int]
    persons: int
    customer_records: int
    orders: int
    faults: int
    next_ids: PartIds


def _generate_part(
    landing: Path,
    truth: Path,
    calendar: Calendar,
    as_of: date,
    customers: int,
    orders: int,
    seed: int,
    faults: bool,
    ext: str,
    ids: PartIds,
    next_tag: str,
) -> _Part:
    """Draw one part (a whole demo of its own), write its files and append its ground truth.

    Its ids start after `ids`; `next_tag` is the file tag of the part after it.
    """
    # Ghost records (orders point at them, the customer exports miss them) come on top, so that
    # the customer files hold exactly `customers` rows.
    n_ghosts = ghost_count(customers) if faults else 0
    pop = build_population(customers + n_ghosts, calendar, seed, ids)
    order_facts = build_orders(pop, calendar, orders, seed)
    _finish_records(pop, order_facts, calendar, seed, ids)
    rec = pop.records
    persons = pop.persons
    n_records = len(rec)

    rng = np.random.default_rng([seed, 8])
    ghost_record = np.zeros(n_records, dtype=bool)
    if faults:
        ghost_record = _pick_ghosts(pop, order_facts, n_ghosts, rng)
    rec["exported"] = ~ghost_record

    first, last = record_order_span(order_facts, n_records)
    type_code = persons["type_code"].to_numpy()[rec["person"].to_numpy()]
    active = (first >= 0) & ~ghost_record
    nps = build_nps(type_code, first, last, active, calendar, seed)
    tickets = build_tickets(type_code, first, last, active, calendar, seed)
    refunds = build_refunds(order_facts, calendar, seed)
    lines = build_lines(order_facts, pop, seed)
    plant_star_products(lines, order_facts, pop, seed)

    customer_ids = _column(rec["customer_id"])
    order_ids = _ids("ORD", np.arange(1, len(order_facts.day) + 1) + ids.orders, 8)
    injector = FaultInjector(rng, as_of)
    tables: list[tuple[str, pa.Table, bool]] = []  # (file name, table, messy)

    exported = rec[rec["exported"]]
    store = exported["system"].to_numpy() == 2
    for name, part, messy in (
        (ids.file_name(f"customers.{ext}"), exported[~store], False),
        (ids.file_name(MESSY_FILE), exported[store], True),
    ):
        part = part.sort_values("created_ts", kind="stable")
        table = _customer_table(part, day_first=messy)
        if faults:
            no_orders = first[part.index.to_numpy()] < 0
            specs = [
                FaultSpec("invalid_email", "email"),
                FaultSpec("unparsable_date", "birth_date"),
                FaultSpec("implausible_date", "birth_date"),
            ]
            if messy:
                specs.append(FaultSpec("unparsable_date", "birth_date", kind="two_digit_year"))
            table = injector.inject(name, table, specs, np.ones(table.num_rows, bool), messy)
            table = _legacy_creation_dates(table, no_orders, rng, messy)
            # Sign-ups after the as-of date and empty ids only go to records without orders
            # (nor NPS answers or tickets), so no other row loses its customer because of them.
            for spec in (
                FaultSpec("deferred", "created_at", kind="timestamp"),
                FaultSpec("missing_required", "customer_id"),
            ):
                taken = {f.row - 1 for f in injector.faults if f.file == name}
                eligible = no_orders & ~np.isin(np.arange(table.num_rows), list(taken))
                table = injector.inject(name, table, [spec], eligible, messy)
        tables.append((name, table, messy))

    order_files = _order_files(order_facts, order_ids, customer_ids, ghost_record, ext, ids)
    shifted: dict[str, dict[int, str]] = {}
    if faults:
        order_files = _add_duplicate_orders(order_files, injector, rng)
        order_files = _inject_order_faults(order_files, injector)
        if ext == "csv":
            # Parquet has no row shape to break; a generator of its own keeps every other
            # draw identical between the CSV and Parquet demos.
            shifted = _pick_shifted_rows(order_files, injector, np.random.default_rng([seed, 10]))
    tables.extend((name, table, False) for name, table in order_files)

    refund_table = pa.table(
        {
            "refund_id": _ids("RF", np.arange(1, len(refunds.day) + 1) + ids.refunds, 7),
            "customer_id": customer_ids.take(pa.array(order_facts.record[refunds.order])),
            "order_id": pc.if_else(
                pa.array(refunds.linked),
                order_ids.take(pa.array(refunds.order)),
                pa.nulls(len(refunds.day), pa.string()),
            ),
            "refunded_at": _dates(refunds.day),
            "amount": _money(refunds.amount_cents),
        }
    )
    nps_table = pa.table(
        {
            "customer_id": customer_ids.take(pa.array(nps.record)),
            "responded_at": _dates(nps.day),
            "score": pc.cast(pa.array(nps.value, pa.int64()), pa.string()),
        }
    )
    ticket_table = pa.table(
        {
            "ticket_id": _ids("TK", np.arange(1, len(tickets.day) + 1) + ids.tickets, 7),
            "customer_id": customer_ids.take(pa.array(tickets.record)),
            "created_at": _dates(tickets.day),
            "topic": _labels(ref.TICKET_TOPICS, tickets.value),
        }
    )
    others = (
        (
            ids.file_name(f"refunds.{ext}"),
            refund_table,
            (
                FaultSpec("negative_amount", "amount"),
                FaultSpec("unparsable_date", "refunded_at"),
                FaultSpec("missing_required", "amount"),
            ),
        ),
        (
            ids.file_name(f"order_lines.{ext}"),
            _lines_table(lines, order_ids),
            (
                FaultSpec("invalid_amount", "unit_price"),
                FaultSpec("missing_required", "order_id"),
            ),
        ),
        (
            ids.file_name(f"nps_responses.{ext}"),
            nps_table,
            (
                FaultSpec("unparsable_date", "responded_at"),
                FaultSpec("missing_required", "customer_id"),
                FaultSpec("deferred", "responded_at"),
            ),
        ),
        (
            ids.file_name(f"support_tickets.{ext}"),
            ticket_table,
            (
                FaultSpec("deferred", "created_at"),
                FaultSpec("missing_required", "ticket_id"),
            ),
        ),
    )
    for name, table, specs in others:
        if faults and table.num_rows:
            table = injector.inject(name, table, specs, np.ones(table.num_rows, bool))
        tables.append((name, table, False))
    marketing, marketing_faults, known = marketing_files(
        pop,
        order_facts,
        lines,
        calendar,
        ~ghost_record,
        customer_ids,
        seed,
        ext,
        faults,
        as_of,
        ids,
    )
    tables.extend((name, table, False) for name, table in marketing)
    injector.faults.extend(marketing_faults.faults)

    files: dict[str, int] = {}
    # Every part has persons: none taken yet means the first part, which writes the header.
    append = ids.persons > 0
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    try:
        for name, table, messy in tables:
            table = _drop_helpers(table)
            path = landing / name
            if messy:
                _write_messy(table, path)
            else:
                _write_table(table, path, con)
            if name in shifted:
                _shift_rows(path, shifted[name])
            files[f"landing/{name}"] = table.num_rows
        fault_rows = sorted(injector.faults, key=lambda f: (f.file, f.row))
        fault_table = pa.table(
            {
                "file": pa.array([f.file for f in fault_rows], pa.string()),
                "row": pa.array([f.row for f in fault_rows], pa.int64()),
                "column": pa.array([f.column for f in fault_rows], pa.string()),
                "expected_reason_code": pa.array([f.reason for f in fault_rows], pa.string()),
            }
        )
        for name, table in (
            ("identity.csv", _identity_table(pop)),
            ("known_customers.csv", known),
            ("faults.csv", fault_table),
        ):
            _write_table(table, truth / name, con, append)
            files[f"ground_truth/{name}"] = table.num_rows
    finally:
        con.close()

    return _Part(
        files=files,
        persons=len(persons),
        customer_records=int(rec["exported"].sum()),
        orders=len(order_facts.day),
        faults=len(injector.faults),
        next_ids=ids.advance(
            next_tag,
            persons=len(persons),
            lookalike_groups=pop.lookalike_groups,
            records=tuple(np.bincount(rec["system"], minlength=len(ref.SOURCE_SYSTEMS))),
            orders=len(order_facts.day),
            refunds=len(refunds.day),
            tickets=len(tickets.day),
        ),
    )


def ghost_count(customers: int) -> int:
    """Number of customer records left out of the exports for `customers` exported records."""
    persons = customers / (1 + ref.DUPLICATE_PERSON_RATE * ref.MEAN_EXTRA_RECORDS)
    return max(ref.MIN_GHOSTS, int(round(persons * ref.GHOST_RATE)))


def _pick_ghosts(pop: Population, orders: Orders, k: int, rng: np.random.Generator) -> np.ndarray:
    """Records left out of the customer exports although their (few) orders reference them.

    Only single-record, non-look-alike persons with 1-3 completed orders qualify, so that the
    only symptom is the `unknown_customer` order rows (no refunds, NPS or tickets point at them).
    """
    persons = pop.persons
    n_persons = len(persons)
    counts = np.bincount(orders.person, minlength=n_persons)
    not_completed = np.bincount(
        orders.person, weights=orders.status != COMPLETED, minlength=n_persons
    )
    eligible = (
        (persons["n_records"].to_numpy() == 1)
        & (persons["lookalike_group"].to_numpy() == "")
        & (counts >= 1)
        & (counts <= 3)
        & (not_completed == 0)
    )
    candidates = np.flatnonzero(eligible)
    chosen = rng.choice(candidates, min(k, len(candidates)), replace=False)
    ghost = np.zeros(len(pop.records), dtype=bool)
    ghost[persons["first_rec"].to_numpy()[chosen]] = True
    return ghost


def _identity_table(pop: Population) -> pa.Table:
    """Ground truth per customer record, sorted by person then customer id."""
    rec = pop.records
    persons = pop.persons
    person = pa.array(rec["person"].to_numpy())
    group = _column(persons["lookalike_group"]).take(person)
    table = pa.table(
        {
            "customer_id": _column(rec["customer_id"]),
            "person_id": _column(persons["person_id"]).take(person),
            "person_type": _column(persons["person_type"]).take(person),
            "source_system": _labels(
                tuple(s[0] for s in ref.SOURCE_SYSTEMS), rec["system"].to_numpy()
            ),
            "lookalike_group": pc.if_else(pc.equal(group, ""), pa.scalar(None, pa.string()), group),
            "in_customer_file": _labels(
                ("false", "true"), rec["exported"].to_numpy().astype(np.int64)
            ),
        }
    )
    return table.sort_by([("person_id", "ascending"), ("customer_id", "ascending")])
