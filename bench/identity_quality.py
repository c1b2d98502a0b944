"""Measure identity resolution quality and speed on demo data with a known truth.

Generates customers with the demo generator (duplicates of one person and look-alike different
persons, with a ground truth person id per record), loads them into a clean.customers-shaped
table with light normalisation (lower-case e-mail, E.164 phone, NFC names), runs the identity
resolution and prints pairwise precision, recall and F1 over all record pairs implied by the
clusters, plus the time of each step.

    python bench/identity_quality.py --sizes 10000 1000000 [--train] [--threshold 0.99]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import phonenumbers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.identity.model import MATCH_THRESHOLD  # noqa: E402
from pipeline.identity.resolve import resolve_identities  # noqa: E402
from pipeline.identity.testing import COLUMNS  # noqa: E402

AS_OF = dt.date(2026, 10, 1)
log = logging.getLogger("identity_quality")


@dataclass
class Quality:
    """Pairwise quality of one run against the truth."""

    records: int
    persons: int
    masters: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    seconds_generate: float
    seconds_resolve: float
    false_merges_by_kind: dict[str, int]

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
    """(raw customers, truth[customer_id, person_id, kind]) from the demo generator."""
    from pipeline.demo.generator import generate_demo

    generate_demo(work, customers=size, orders=max(size, 1000), seed=seed, as_of=AS_OF,
                  faults=False)  # fmt: skip
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
    return raw, truth[["customer_id", "person_id", "kind"]]


def measure(size: int, seed: int, train: bool, threshold: float) -> Quality:
    """Generate `size` records, resolve them and compare the clusters with the truth."""
    with tempfile.TemporaryDirectory(prefix="identity_bench_") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        raw, truth = demo_customers(size, seed, work)
        clean = clean_like(raw)
        seconds_generate = time.perf_counter() - started

        con = duckdb.connect(str(work / "warehouse.duckdb"))
        con.execute("CREATE SCHEMA clean")
        con.register("clean_frame", clean)
        ddl = ", ".join(f"{c} {t}" for c, t in COLUMNS.items())
        con.execute(f"CREATE TABLE clean.customers ({ddl})")
        con.execute("INSERT INTO clean.customers SELECT * FROM clean_frame")
        con.unregister("clean_frame")

        started = time.perf_counter()
        report = resolve_identities(con, AS_OF, train=train, threshold=threshold)
        seconds_resolve = time.perf_counter() - started
        log.info("resolution seconds by step: %s", report.seconds)

        con.register("truth", truth)
        kind = "t.kind"
        counts = con.execute(
            f"""
            WITH j AS (
                SELECT m.source_customer_id, m.customer_id AS master, t.person_id,
                       {kind} AS kind
                FROM identity.customer_identity_map m
                JOIN truth t ON t.customer_id = m.source_customer_id
            ),
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
        false_merges = dict(
            con.execute(
                f"""
                WITH j AS (
                    SELECT m.customer_id AS master, t.person_id, {kind} AS kind
                    FROM identity.customer_identity_map m
                    JOIN truth t ON t.customer_id = m.source_customer_id
                )
                SELECT a.kind, count(*) FROM j a JOIN j b
                  ON a.master = b.master AND a.person_id < b.person_id
                GROUP BY a.kind
                """
            ).fetchall()
        )
        con.close()
    return Quality(*[int(c) for c in counts], seconds_generate, seconds_resolve, false_merges)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for each size and print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--train", action="store_true", help="train u/m instead of priors")
    parser.add_argument("--threshold", type=float, default=MATCH_THRESHOLD)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    print("records persons masters precision recall f1 generate_s resolve_s false_merges")
    for size in args.sizes:
        q = measure(size, args.seed, args.train, args.threshold)
        print(
            f"{q.records} {q.persons} {q.masters} {q.precision:.4f} {q.recall:.4f} {q.f1:.4f} "
            f"{q.seconds_generate:.1f} {q.seconds_resolve:.1f} {q.false_merges_by_kind}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
