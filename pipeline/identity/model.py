"""The probabilistic linkage model (splink 5, DuckDB backend) and the deterministic e-mail rule.

Model choice, measured on the demo generator (see docs/identity.md): the m and u probabilities
are fixed, documented priors rather than trained per run. On 10,000 demo records the priors
give precision 0.997 / recall 0.999 in under a second of scoring; training (u by seeded random
sampling, m by EM) gives 0.998 / 0.999 but takes ~30 s and cannot train levels absent from a
small input. Priors also keep a run deterministic and behave the same on a 5-record test as on
a 1M-record refresh. Training stays available (`train=True`, `bench/identity_quality.py
--train`) to re-check the priors on new data.

Every comparison reads the folded features of `pipeline.identity.normalize`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import duckdb
import splink.comparison_level_library as cll
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.comparison_library import CustomComparison

log = logging.getLogger(__name__)

#: Pairs at or above this match probability become candidate links.
MATCH_THRESHOLD = 0.99
#: E-mail groups larger than this are placeholders (noemail@..., a shop's own address):
#: the deterministic rule ignores them and leaves them to the model.
MAX_EMAIL_GROUP = 8
#: Seed of every random step (u sampling, EM sampling) so two runs give the same model.
SEED = 42
#: Term frequencies are smoothed towards the prior u with this pseudo-population, so a name seen
#: 3 times in a 5-record test is not taken as a name carried by 60% of the country.
TF_PSEUDO_RECORDS = 10_000
#: Term-frequency adjusted columns and the prior u of their exact-match level.
TF_PRIORS = {"full_name_f": 0.00002, "dob_key": 0.00005}


def _level(sql: str, label: str, m: float, u: float) -> cll.CustomLevel:
    """A custom comparison level with its m/u prior."""
    return cll.CustomLevel(sql, label_for_charts=label).configure(m_probability=m, u_probability=u)


def _null(sql: str) -> cll.CustomLevel:
    """The null level: the pair carries no evidence for this comparison."""
    return cll.CustomLevel(sql, label_for_charts="null").configure(is_null_level=True)


def comparisons() -> list[CustomComparison]:
    """The comparisons and their priors.

    m = P(level | same person), u = P(level | different people). The u values are the
    frequencies of the levels among random pairs of a French customer base (a birth date is
    shared by ~1/20,000 of random pairs, a postal code by ~1/500, a town by ~1/100); the m values
    encode how often a duplicate keeps a field (demo generator: typos, swaps, missing fields).
    """
    jw = "jaro_winkler_similarity"
    name = CustomComparison(
        output_column_name="name",
        comparison_levels=[
            _null(
                "(first_name_f_l IS NULL AND last_name_f_l IS NULL) "
                "OR (first_name_f_r IS NULL AND last_name_f_r IS NULL)"
            ),
            # Term-frequency adjusted: 'jean martin' is weaker evidence than a rare name.
            _level(
                "full_name_f_l = full_name_f_r",
                "exact first and last name",
                0.78,
                TF_PRIORS["full_name_f"],
            ).configure(tf_adjustment_column="full_name_f", tf_minimum_u_value=1e-6),
            _level(
                "first_name_f_l = last_name_f_r AND last_name_f_l = first_name_f_r",
                "first and last name swapped",
                0.05,
                0.000002,
            ),
            _level(
                f"{jw}(first_name_f_l, first_name_f_r) >= 0.9 "
                f"AND {jw}(last_name_f_l, last_name_f_r) >= 0.9",
                "both names similar (JW >= 0.9)",
                0.10,
                0.0003,
            ),
            _level(
                f"{jw}(first_name_f_l, last_name_f_r) >= 0.88 "
                f"AND {jw}(last_name_f_l, first_name_f_r) >= 0.88",
                "swapped with a typo (JW >= 0.88)",
                0.03,
                0.00001,
            ),
            _level(
                f"{jw}(first_name_f_l, first_name_f_r) >= 0.8 "
                f"AND {jw}(last_name_f_l, last_name_f_r) >= 0.8",
                "both names JW >= 0.8",
                0.02,
                0.002,
            ),
            _level(
                "last_name_f_l = last_name_f_r AND "
                "(first_name_f_l IS NULL OR first_name_f_r IS NULL)",
                "last name equal, a first name missing",
                0.02,
                0.003,
            ),
            _level(
                "first_name_f_l = first_name_f_r",
                "first name equal, last name differs (e.g. married name)",
                0.01,
                0.01,
            ),
            # Same last name, different first name: households and twins. Kept well below
            # the match evidence of a shared phone or address (see the guards as well).
            _level(
                "last_name_f_l = last_name_f_r",
                "last name only",
                0.0005,
                0.004,
            ),
            _level("TRUE", "different names", 0.0035, 0.98067),
        ],
    )
    email = CustomComparison(
        output_column_name="email",
        comparison_levels=[
            _null("email_canon_l IS NULL OR email_canon_r IS NULL"),
            _level("email_canon_l = email_canon_r", "same mailbox", 0.55, 0.00001),
            # User names are built from the person's names: given equal names they are far
            # from independent evidence, hence modest weights (measured: homonyms merged).
            _level("email_local_l = email_local_r", "same user name, other domain", 0.20, 0.002),
            _level(
                "damerau_levenshtein(email_local_l, email_local_r) <= 1",
                "user name one edit apart",
                0.03,
                0.002,
            ),
            _level("TRUE", "different e-mails", 0.22, 0.99599),
        ],
    )
    phone = CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            _null("phone_l IS NULL OR phone_r IS NULL"),
            # A landline is shared by a household: strong, but not conclusive on its own.
            _level("phone_l = phone_r", "same phone", 0.80, 0.00005),
            _level("levenshtein(phone_l, phone_r) <= 1", "phone one digit off", 0.05, 0.0002),
            # Duplicates rarely carry another number (measured on the demo data: < 15%).
            _level("TRUE", "different phones", 0.15, 0.99975),
        ],
    )
    birth = CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            _null("dob_key_l IS NULL OR dob_key_r IS NULL"),
            # Term-frequency adjusted: default dates (01/01, a minimum-age cut-off) are common.
            _level(
                "dob_key_l = dob_key_r", "same birth date", 0.92, TF_PRIORS["dob_key"]
            ).configure(tf_adjustment_column="dob_key", tf_minimum_u_value=1e-6),
            _level(
                "levenshtein(dob_key_l, dob_key_r) <= 1 OR (substr(dob_key_l, 1, 4) = "
                "substr(dob_key_r, 1, 4) AND substr(dob_key_l, 5, 2) = substr(dob_key_r, 7, 2) "
                "AND substr(dob_key_l, 7, 2) = substr(dob_key_r, 5, 2))",
                "birth date typo or day/month swap",
                0.05,
                0.0015,
            ),
            _level("TRUE", "different birth dates", 0.03, 0.99845),
        ],
    )
    address = CustomComparison(
        output_column_name="address",
        comparison_levels=[
            _null("address_f_l IS NULL OR address_f_r IS NULL"),
            _level("address_f_l = address_f_r", "same address", 0.75, 0.0002),
            _level(f"{jw}(address_f_l, address_f_r) >= 0.9", "similar address", 0.15, 0.002),
            _level("TRUE", "different addresses (moved)", 0.10, 0.9978),
        ],
    )
    # Postal code and town are one comparison: a shared postal code implies a shared town,
    # counting both would double the evidence (measured: homonyms merged across a town).
    location = CustomComparison(
        output_column_name="location",
        comparison_levels=[
            _null(
                "(postal_code_f_l IS NULL OR postal_code_f_r IS NULL) "
                "AND (city_f_l IS NULL OR city_f_r IS NULL)"
            ),
            _level("postal_code_f_l = postal_code_f_r", "same postal code", 0.85, 0.002),
            _level("city_f_l = city_f_r", "same town, other postal code", 0.05, 0.008),
            _level(f"{jw}(city_f_l, city_f_r) >= 0.9", "similar town", 0.02, 0.002),
            _level("TRUE", "elsewhere", 0.08, 0.988),
        ],
    )
    return [name, email, phone, birth, address, location]


def blocking_rules() -> list:
    """Blocking rules: which pairs are compared at all.

    Each rule is an equi-join on selective keys so the number of comparisons grows roughly
    linearly with the records (1M records: a few million comparisons). Together they cover the
    ways a duplicate survives: same mailbox, same phone, same name and birth date, a typo in
    one name (the other name + birth date), swapped names, same user name, same address.
    Measured on 1M demo records: one name + postal code would add 125M pairs (Paris) and found
    no extra duplicate on the 10k sample, so it is not used.
    """
    return [
        block_on("email_canon"),
        block_on("phone"),
        block_on("last_name_f", "dob_key"),
        block_on("first_name_f", "dob_key"),
        block_on("first_name_f", "last_name_f", "postal_code_f"),
        "l.first_name_f = r.last_name_f AND l.last_name_f = r.first_name_f",
        block_on("email_local"),
        block_on("address_f", "postal_code_f"),
    ]


def settings(record_count: int) -> SettingsCreator:
    """Splink settings for `record_count` records.

    The prior probability that two random records match is the expected share of duplicate
    pairs among all N*(N-1)/2 pairs: with about N/2 duplicate pairs that is ~1/N. It is capped
    at 1e-4 so that tiny inputs (a first load, a test) do not get a generous prior, and it
    scales the evidence needed with the volume so large files do not produce chance matches.
    """
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=blocking_rules(),
        probability_two_random_records_match=min(1e-4, 1.0 / max(record_count, 2)),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


@dataclass
class ScoringStats:
    """What the scoring step did: counts and seconds."""

    splink_pairs: int = 0
    email_pairs: int = 0
    seconds: float = 0.0


def _register_smoothed_tf(
    con: duckdb.DuckDBPyConnection, db_api: DuckDBAPI, linker: Linker, features: str, n: int
) -> None:
    """Give splink term frequencies smoothed towards the priors: (count + k*u0) / (n + k).

    Splink's own tables use count / n, which makes every value common in a small input (a first
    load, a test) and erases the evidence of a shared name or birth date. With the pseudo-count
    the frequency tends to the prior u for small inputs and to the observed one for large ones.
    """
    k = TF_PSEUDO_RECORDS
    for column, prior in TF_PRIORS.items():
        table = f"__identity_tf_{column}"
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {table} AS
            SELECT {column}, (count(*) + {k * prior}) / ({n} + {k}) AS tf_{column}
            FROM {features} WHERE {column} IS NOT NULL GROUP BY {column}
            """
        )
        linker.table_management.register_term_frequency_lookup(db_api.register(table), column)


def _train(linker: Linker) -> None:
    """Estimate u by seeded random sampling and m by EM on two independent blocking rules."""
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=SEED)
    for rule in (block_on("dob_key"), block_on("postal_code_f", "last_name_f")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True
        )


def candidate_links(
    con: duckdb.DuckDBPyConnection,
    features: str,
    target: str,
    train: bool = False,
    threshold: float = MATCH_THRESHOLD,
) -> ScoringStats:
    """Create table `target` (id_l, id_r, rule, score) with every candidate link.

    Two sources of links: the deterministic rule 'email_exact' (same canonical mailbox, groups
    of at most MAX_EMAIL_GROUP records, score 1.0) and the splink model ('splink', score =
    match probability >= threshold). A pair found by both keeps 'email_exact'. id_l < id_r.
    `con` must be a scratch connection: splink writes its working tables there.
    """
    started = time.perf_counter()
    stats = ScoringStats()
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {target} AS
        WITH groups AS (
            SELECT email_canon FROM {features} WHERE email_canon IS NOT NULL
            GROUP BY email_canon HAVING count(*) BETWEEN 2 AND {MAX_EMAIL_GROUP}
        ), members AS (
            SELECT f.unique_id, f.email_canon FROM {features} f JOIN groups USING (email_canon)
        )
        SELECT l.unique_id AS id_l, r.unique_id AS id_r, 'email_exact' AS rule,
               1.0::DOUBLE AS score
        FROM members l JOIN members r
          ON l.email_canon = r.email_canon AND l.unique_id < r.unique_id
        """
    )
    stats.email_pairs = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]

    record_count = con.execute(f"SELECT count(*) FROM {features}").fetchone()[0]
    if record_count >= 2:
        db_api = DuckDBAPI(connection=con)
        frame = db_api.register(features)
        linker = Linker(frame, settings(record_count), log_level=logging.WARNING)
        _register_smoothed_tf(con, db_api, linker, features, record_count)
        if train:
            _train(linker)
        predictions = linker.inference.predict(
            threshold_match_probability=threshold, warning_mode="never"
        )
        con.execute(
            f"""
            INSERT INTO {target}
            SELECT least(unique_id_l, unique_id_r), greatest(unique_id_l, unique_id_r),
                   'splink', match_probability
            FROM {predictions.physical_name} p
            WHERE NOT EXISTS (
                SELECT 1 FROM {target} t
                WHERE t.id_l = least(p.unique_id_l, p.unique_id_r)
                  AND t.id_r = greatest(p.unique_id_l, p.unique_id_r)
            )
            """
        )
        stats.splink_pairs = con.execute(
            f"SELECT count(*) FROM {target} WHERE rule = 'splink'"
        ).fetchone()[0]
    stats.seconds = time.perf_counter() - started
    log.info(
        "candidate links: %d email_exact, %d splink (threshold %.3f, weight %.1f) in %.1fs",
        stats.email_pairs,
        stats.splink_pairs,
        threshold,
        math.log2(threshold / (1 - threshold)),
        stats.seconds,
    )
    return stats
