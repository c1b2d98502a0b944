"""The probabilistic linkage model (splink 5, DuckDB backend) and the deterministic e-mail rule.

A Fellegi-Sunter model that learns from the data it resolves: when a run has at least
MIN_TRAINING_RECORDS records, u is estimated by seeded random sampling and m by expectation
maximisation on two independent blocking rules (same birth date; same last name and postal
code; in both, a key value shared by far more records than usual, such as a placeholder birth
date, is left out), starting from the documented priors of `comparisons()`. Smaller runs (a
first load, a test) use the priors as they are: EM cannot estimate levels that a few hundred
records never show. Trained values are rounded to 4 significant digits, so the floating-point
noise of parallel sums cannot change a link: the same input gives the same model and the same
links.

Term-frequency adjustments (first name, last name, birth date) make a shared common value
('jean', 'martin', a default birth date) weaker evidence than a rare one; the frequencies are
smoothed towards the prior u so that a 5-record input does not treat every value as common.

Every comparison reads the folded features of `pipeline.identity.normalize`; which pairs are
compared at all is decided by `pipeline.identity.blocking`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import duckdb
import splink.comparison_level_library as cll
from splink import DuckDBAPI, Linker, SettingsCreator
from splink.comparison_library import CustomComparison

from pipeline.identity.blocking import MAX_GROUP, add_blocking_keys, blocked_pairs, blocking_rules

log = logging.getLogger(__name__)

#: Pairs at or above this match probability become candidate links. Measured on the benchmark
#: sets: 0.95 keeps precision at 1.000 and finds ~0.5% more true pairs than 0.99; two records
#: sharing only a common full name (no other field) stay below it.
MATCH_THRESHOLD = 0.95
#: E-mail groups larger than this are placeholders (noemail@..., a shop's own address):
#: the deterministic rule ignores them and leaves them to the model.
MAX_EMAIL_GROUP = 8
#: Seed of every random step (u sampling) so two runs give the same model.
SEED = 42
#: Runs with fewer records use the priors (EM needs enough pairs of every kind).
MIN_TRAINING_RECORDS = 1000
#: Pairs sampled to estimate u (3e5: the same links as 1e6 on the benchmark sets, 3x faster),
#: and the cap of blocked pairs per EM training rule (a deterministic hash sample above it):
#: training time stays flat from 10k to 1M records.
U_SAMPLE_PAIRS = 3e5
EM_MAX_PAIRS = 1e6
#: Output names of `comparisons()`, in order.
COMPARISON_NAMES = (
    "first_name", "last_name", "email", "phone", "birth_date", "address", "location",
)  # fmt: skip
#: Comparisons whose m and u are estimated per run (see _trained_settings), and the blocking
#: rules of EM: each comparison is trained by the rule that does not use its own columns.
TRAINED_COMPARISONS = ("first_name", "last_name", "birth_date", "address", "location")
#: (Each rule blocks on one training key: its columns, where the value is not over-frequent.)
EM_RULE_COLUMNS = (("dob_key",), ("last_name_f", "postal_code_f"))
#: A key value carried by more than this many times the average group of its key is left out of
#: EM training (never less than the blocking cap MAX_GROUP). Such a value is a placeholder or a
#: cut-off, not a coincidence: at 1M demo records 35,217 people are born on 2008-10-01 (the
#: generator's 18-year age floor; real exports have 1900-01-01 and the like), 97% of the 640M
#: same-birth-date pairs. EM's sample was then almost only pairs of strangers sharing that date,
#: and it "learned" m ~ 1e-59 for a phonetic first name, 3e-24 for the same street and 1e-29
#: for another town: weights of -184, -71 and -96 bits that vetoed true duplicates (recall
#: 0.969 at 1M against 0.993 at 100k). Without the outliers the sample is the everyday groups.
EM_COMMON_FACTOR = 10
#: A trained m below this is degenerate, not a measurement: EM's sample (at most EM_MAX_PAIRS
#: pairs) cannot show that duplicates land on a level less often than that. Such a level keeps
#: its documented prior m instead of a weight of -100 bits that vetoes every pair on it.
MIN_TRAINED_M = 1e-4
#: Significant digits kept of trained m and u values (removes run-to-run float noise).
TRAINED_DIGITS = 4
#: Term frequencies are smoothed towards the prior u with this pseudo-population, so a name seen
#: 3 times in a 5-record test is not taken as a name carried by 60% of the country.
TF_PSEUDO_RECORDS = 10_000
#: Term-frequency adjusted columns and the prior u of their exact-match level.
TF_PRIORS = {"first_name_f": 0.005, "last_name_f": 0.001, "dob_key": 0.00005}


def _level(sql: str, label: str, m: float, u: float) -> cll.CustomLevel:
    """A custom comparison level with its m/u prior."""
    return cll.CustomLevel(sql, label_for_charts=label).configure(m_probability=m, u_probability=u)


def _null(sql: str) -> cll.CustomLevel:
    """The null level: the pair carries no evidence for this comparison."""
    return cll.CustomLevel(sql, label_for_charts="null").configure(is_null_level=True)


def _one_edit(a: str, b: str) -> str:
    """SQL: a and b are at most one edit apart (Levenshtein distance <= 1), computed cheaply.

    Two strings of the same length are one edit apart only by one substitution, which the
    Hamming distance counts at a fraction of the cost; lengths two or more apart never are.
    Same answer as `levenshtein(a, b) <= 1` (NULL reads as false in a level), measured at 1M
    records on the 6.6M candidate pairs: 0.5 s instead of 1.5 s for a first name, 0.3 s instead
    of 2.5 s for a phone.
    """
    return (
        f"CASE WHEN length({a}) = length({b}) THEN hamming({a}, {b}) <= 1 "
        f"WHEN abs(length({a}) - length({b})) = 1 THEN levenshtein({a}, {b}) <= 1 "
        "ELSE false END"
    )


def _typo(a: str, b: str) -> str:
    """SQL: a and b are a typo apart (Jaro-Winkler >= 0.92 or one edit), as in the name levels."""
    return f"(jaro_winkler_similarity({a}, {b}) >= 0.92 OR {_one_edit(a, b)})"


#: Swapped first and last names, exactly or with a typo on each side (the typo of the name
#: levels: a swap does not protect a name from the typos every other field gets).
_SWAPPED = "(first_name_f_l = last_name_f_r AND last_name_f_l = first_name_f_r)"
_SWAPPED_CLOSE = (
    f"({_typo('first_name_f_l', 'last_name_f_r')} AND {_typo('last_name_f_l', 'first_name_f_r')})"
)


def _name_comparison(
    column: str, label: str, priors: dict[str, tuple[float, float]]
) -> CustomComparison:
    """First or last name: exact (term-frequency adjusted), typo, phonetic, similar, else.

    Swapped first/last names have their own level in both comparisons, so a swap is not read as
    two disagreements. Typo = Jaro-Winkler >= 0.92 (transpositions, an OCR error such as m/rn
    that is two edits) or one edit; phonetic = same metaphone code.
    """
    c = f"{column}_f"
    ph = column.replace("_name", "_ph")
    jw = f"jaro_winkler_similarity({c}_l, {c}_r)"
    m_swap, u_swap = priors["swapped"]
    swapped = _level(_SWAPPED, "first and last names swapped", m_swap, u_swap)
    if column == "last_name":
        # A swap is one observation, of both names at once: the first-name comparison weighs
        # it, the last-name comparison must not count it again (m = u, fixed: no evidence).
        # Counted twice it was worth 24 bits at 1M records, twice two agreeing names, and
        # 'Bertrand Robert' linked every Robert Bertrand of a town into one chain (issue 15).
        swapped = _level(_SWAPPED, "first and last names swapped", u_swap, u_swap).configure(
            fix_m_probability=True, fix_u_probability=True
        )
    return CustomComparison(
        output_column_name=column,
        comparison_levels=[
            _null(f"{c}_l IS NULL OR {c}_r IS NULL"),
            _level(f"{c}_l = {c}_r", f"same {label}", *priors["exact"]).configure(
                tf_adjustment_column=c, tf_minimum_u_value=1e-6
            ),
            swapped,
            # Jaro-Winkler first: it is the cheap test and catches transpositions; the one-edit
            # test catches one edit on short names (guy/gyy).
            _level(
                f"{_typo(f'{c}_l', f'{c}_r')} OR {_SWAPPED_CLOSE}",
                f"{label} typo (JW >= 0.92 or one edit)",
                *priors["typo"],
            ),
            _level(f"{ph}_l = {ph}_r", f"{label} sounds alike (metaphone)", *priors["phonetic"]),
            _level(f"{jw} >= 0.8", f"{label} similar (JW >= 0.8)", *priors["similar"]),
            _level("TRUE", f"different {label}s", *priors["else"]),
        ],
    )


def comparisons() -> list[CustomComparison]:
    """The comparisons and their documented priors (used when a run is too small to train).

    m = P(level | same person), u = P(level | different people). The u values are the
    frequencies of the levels among random pairs of a customer base (a birth date is shared by
    ~1/20,000 of random pairs, a postal code by ~1/500, a town by ~1/100); the m values are
    rounded from the models trained on the benchmark sets (Febrl sets, corrupted French demo):
    how often a duplicate keeps a field, has a typo in it or has another value.
    """
    first = _name_comparison(
        "first_name",
        "first name",
        {
            "exact": (0.80, TF_PRIORS["first_name_f"]),
            "swapped": (0.02, 0.00001),
            "typo": (0.10, 0.002),
            "phonetic": (0.02, 0.004),
            "similar": (0.02, 0.03),
            "else": (0.04, 0.961),
        },
    )
    last = _name_comparison(
        "last_name",
        "last name",
        {
            "exact": (0.80, TF_PRIORS["last_name_f"]),
            "swapped": (0.02, 0.00001),
            "typo": (0.10, 0.0005),
            "phonetic": (0.02, 0.001),
            "similar": (0.02, 0.01),
            "else": (0.04, 0.9875),
        },
    )
    email = CustomComparison(
        output_column_name="email",
        comparison_levels=[
            _null("email_canon_l IS NULL OR email_canon_r IS NULL"),
            _level("email_canon_l = email_canon_r", "same mailbox", 0.55, 0.00001),
            # A user name that is nothing but both records' names (jean.martin at one provider,
            # jeanmartin at another) is what two namesakes get too: given the names already
            # agree it is weak evidence. Measured at 1M demo records, among pairs with the same
            # full name and postal code and other mailboxes: 36% of duplicates and 5.6% of
            # namesakes share such a user name (~2.7 bits); read as any shared user name
            # (6.6 bits) it merged namesakes, twins and household members alike (issue 15).
            _level(
                "email_local_l = email_local_r AND email_names_only_l AND email_names_only_r",
                "same user name, only their names, other domain",
                0.07,
                0.01,
            ),
            # Other user names (jean.martin85, a nickname) carry more than the names.
            _level("email_local_l = email_local_r", "same user name, other domain", 0.13, 0.002),
            _level(
                "jaro_winkler_similarity(email_local_l, email_local_r) >= 0.95",
                "user name one typo apart (JW >= 0.95)",
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
            _level(_one_edit("phone_l", "phone_r"), "phone one digit off", 0.05, 0.0002),
            _level("TRUE", "different phones", 0.15, 0.99975),
        ],
    )
    dob_swap = (
        "(substr(dob_key_l, 1, 4) = substr(dob_key_r, 1, 4) "
        "AND substr(dob_key_l, 5, 2) = substr(dob_key_r, 7, 2) "
        "AND substr(dob_key_l, 7, 2) = substr(dob_key_r, 5, 2))"
    )
    birth = CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            _null("dob_key_l IS NULL OR dob_key_r IS NULL"),
            # Term-frequency adjusted: default dates (01/01, a minimum-age cut-off) are common.
            _level(
                "dob_key_l = dob_key_r", "same birth date", 0.80, TF_PRIORS["dob_key"]
            ).configure(tf_adjustment_column="dob_key", tf_minimum_u_value=1e-6),
            # YYYYMMDD keys have one length: Hamming distance counts the changed digits (two
            # swapped digits count two) at a fraction of the cost of an edit distance.
            _level(
                f"hamming(dob_key_l, dob_key_r) <= 1 OR {dob_swap}",
                "one digit changed or day/month swapped",
                0.10,
                0.0015,
            ),
            _level("hamming(dob_key_l, dob_key_r) <= 2", "two digits changed", 0.05, 0.02),
            _level("TRUE", "different birth dates", 0.05, 0.97845),
        ],
    )
    # Word Jaccard >= 0.5 on lists of distinct words: with I common words, |A u B| = |A| + |B| - I
    # and I / |A u B| >= 0.5 is 3I >= |A| + |B| (two empty lists stay apart: no shared word).
    # Written so, it skips building the union list: 4.7 s instead of 11.8 s on 6.6M pairs.
    words = "len(address_tokens_l) + len(address_tokens_r)"
    jaccard_half = (
        f"({words} > 0 AND 3 * len(list_intersect(address_tokens_l, address_tokens_r)) >= {words})"
    )
    address = CustomComparison(
        output_column_name="address",
        comparison_levels=[
            _null("address_f_l IS NULL OR address_f_r IS NULL"),
            _level("address_f_l = address_f_r", "same address", 0.65, 0.0002),
            # The word Jaccard is computed only where a cheap key agrees (list functions cost
            # ~10x a Jaro-Winkler): same street word or same house number.
            _level(
                "jaro_winkler_similarity(address_f_l, address_f_r) >= 0.92 "
                "OR ((street_key_l = street_key_r OR house_number_l = house_number_r) "
                f"AND {jaccard_half})",
                "similar address (JW >= 0.92 or word Jaccard >= 0.5)",
                0.25,
                0.001,
            ),
            _level(
                "street_key_l = street_key_r OR house_number_l = house_number_r",
                "same street name or same house number",
                0.04,
                0.02,
            ),
            _level("TRUE", "different addresses (moved)", 0.06, 0.9968),
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
            _level("postal_code_f_l = postal_code_f_r", "same postal code", 0.80, 0.002),
            _level("city_f_l = city_f_r", "same town, other postal code", 0.08, 0.008),
            # Damerau: two swapped digits (2193 / 2139) are one typo, as a changed digit is.
            _level(
                "damerau_levenshtein(postal_code_f_l, postal_code_f_r) <= 1 "
                "OR jaro_winkler_similarity(city_f_l, city_f_r) >= 0.9",
                "postal code one digit off or two swapped, or similar town",
                0.06,
                0.01,
            ),
            _level("TRUE", "elsewhere", 0.06, 0.98),
        ],
    )
    return [first, last, email, phone, birth, address, location]


def prior_match_probability(record_count: int) -> float:
    """Prior probability that two random records are the same person.

    The expected share of duplicate pairs among all N*(N-1)/2 pairs: with about N/2 duplicate
    pairs that is ~1/N. Capped at 1e-4 so that tiny inputs (a first load, a test) do not get a
    generous prior; it scales the evidence needed with the volume, so large files do not
    produce chance matches.
    """
    return min(1e-4, 1.0 / max(record_count, 2))


def settings(record_count: int) -> SettingsCreator:
    """Splink settings (priors) for `record_count` records."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=blocking_rules(),
        probability_two_random_records_match=prior_match_probability(record_count),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


@dataclass
class ScoringStats:
    """What the scoring step did: counts, the model used, seconds."""

    splink_pairs: int = 0
    email_pairs: int = 0
    #: Candidate pairs of the blocking keys (what the model scored).
    blocked_pairs: int = 0
    trained: bool = False
    #: Match weight (log2 Bayes factor) of each comparison level: the model this run used.
    weights: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


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


def _round(value: float) -> float:
    """`value` rounded to TRAINED_DIGITS significant digits."""
    if not value or not math.isfinite(value):
        return value
    return round(value, TRAINED_DIGITS - 1 - int(math.floor(math.log10(abs(value)))))


def _training_table(con: duckdb.DuckDBPyConnection, features: str, target: str) -> list:
    """Create `target`: `features` plus one key column per EM rule; returns the EM rules.

    The key is NULL where its value is over-frequent (see EM_COMMON_FACTOR), so EM never samples
    the pairs of a placeholder birth date or of a huge name group. The cap is relative to the
    average group, so it leaves everyday values alone at every volume; deterministic.
    """
    keys, rules = [], []
    for i, columns in enumerate(EM_RULE_COLUMNS):
        present = " AND ".join(f"{c} IS NOT NULL" for c in columns)
        group = ", ".join(columns)
        sizes = f"SELECT count(*) AS c FROM {features} WHERE {present} GROUP BY {group}"
        mean = con.execute(f"SELECT avg(c) FROM ({sizes})").fetchone()[0]
        cap = max(MAX_GROUP, math.ceil(EM_COMMON_FACTOR * (mean or 0)))
        keys.append(
            f"CASE WHEN {present} AND count(*) OVER (PARTITION BY {group}) <= {cap} "
            f"THEN hash({group}) END AS __em_key_{i}"
        )
        # The rule names the columns themselves too: splink leaves untrained the comparisons
        # that read a blocking column (pairs blocked on a birth date all share it), and a rule
        # on the key alone let EM explain everything by "same birth date" (measured: m ~ u on
        # every other level).
        same = " AND ".join(f"l.{c} = r.{c}" for c in columns)
        rules.append(f"l.__em_key_{i} = r.__em_key_{i} AND {same}")
    # Keys on a narrow table, joined back in unique_id order: a window over the wide table
    # reorders its rows (u is sampled by a seeded row sample: the order must not vary) and
    # sorting the wide table costs 6 s at 1M records, this 1.7 s. The blocking-key columns
    # (bk_*) are not read by training and are left out.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __identity_em_keys AS "
        f"SELECT unique_id, {', '.join(keys)} FROM {features}"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {target} AS "
        f"SELECT COLUMNS(c -> NOT starts_with(c, 'bk_')) FROM {features} "
        f"JOIN __identity_em_keys USING (unique_id) ORDER BY unique_id"
    )
    con.execute("DROP TABLE __identity_em_keys")
    return rules


def _trained_settings(
    con: duckdb.DuckDBPyConnection, db_api: DuckDBAPI, features: str, n: int
) -> dict:
    """Settings whose m/u are estimated on this run's records, rounded; priors elsewhere.

    u: seeded random sampling; m: EM on two independent blocking rules, without the values of
    their keys that are over-frequent (EM_COMMON_FACTOR); a level whose trained m is degenerate
    (below MIN_TRAINED_M) keeps its prior. Only the comparisons
    in TRAINED_COMPARISONS are trained: e-mail user names are built from the names and a phone
    is shared by a household, so EM counts them as independent evidence twice (measured on the
    demo: namesakes sharing a user name at two providers scored as certain matches); they keep
    their priors. A level the training pairs never show keeps its prior too.
    """
    trained = [
        c
        for name, c in zip(COMPARISON_NAMES, comparisons(), strict=True)
        if name in TRAINED_COMPARISONS
    ]
    creator = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=trained,
        probability_two_random_records_match=prior_match_probability(n),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    rules = _training_table(con, features, "__identity_training")
    frame = db_api.register("__identity_training")
    trainer = Linker(frame, creator, log_level=logging.WARNING)
    _register_smoothed_tf(con, db_api, trainer, features, n)
    trainer.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=SEED)
    for rule in rules:
        trainer.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True, max_pairs=EM_MAX_PAIRS
        )
    learned = {c["output_column_name"]: c for c in trainer.misc.save_model_to_json()["comparisons"]}
    con.execute("DROP TABLE __identity_training")  # a copy of the features: free it now
    model = settings(n).get_settings("duckdb").as_dict()
    for comparison in model["comparisons"]:
        source = learned.get(comparison["output_column_name"])
        if source is None:
            continue
        for level, new in zip(
            comparison["comparison_levels"], source["comparison_levels"], strict=True
        ):
            if level.get("is_null_level"):
                continue
            for key in ("m_probability", "u_probability"):
                value = new.get(key)
                if not isinstance(value, int | float):
                    continue
                if key == "m_probability" and value < MIN_TRAINED_M:
                    log.warning(
                        "degenerate m %.3g for %s / %s: keeping the prior %s",
                        value, comparison["output_column_name"],
                        level.get("label_for_charts"), level.get(key),
                    )  # fmt: skip
                    continue
                if 0 < value <= 1:
                    level[key] = _round(value)
    return model


def _weights(linker: Linker) -> dict[str, dict[str, float]]:
    """Match weight of each non-null level, by comparison (for the run's metadata)."""
    out: dict[str, dict[str, float]] = {}
    for comparison in linker._settings_obj.comparisons:  # splink exposes no public accessor
        levels = {}
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            m, u = level.m_probability, level.u_probability
            if m and u:
                levels[level.label_for_charts] = round(math.log2(m / u), 2)
        out[comparison.output_column_name] = levels
    return out


def _email_links(con: duckdb.DuckDBPyConnection, features: str, target: str) -> int:
    """Create `target` with the deterministic 'email_exact' links; returns their count."""
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
    return con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]


def candidate_links(
    con: duckdb.DuckDBPyConnection,
    features: str,
    target: str,
    train: bool | None = None,
    threshold: float = MATCH_THRESHOLD,
) -> ScoringStats:
    """Create table `target` (id_l, id_r, rule, score) with every candidate link.

    Two sources of links: the deterministic rule 'email_exact' (same canonical mailbox, groups
    of at most MAX_EMAIL_GROUP records, score 1.0) and the splink model ('splink', score =
    match probability >= threshold). A pair found by both keeps 'email_exact'. id_l < id_r.
    `train`: None = train when the run has MIN_TRAINING_RECORDS records, True/False = force.
    `con` must be a scratch connection: splink writes its working tables there.
    """
    stats = ScoringStats()
    mark = time.perf_counter()
    stats.email_pairs = _email_links(con, features, target)
    record_count = con.execute(f"SELECT count(*) FROM {features}").fetchone()[0]
    if record_count < 2:
        return stats
    add_blocking_keys(con, features)
    stats.seconds["blocking_keys"] = round(time.perf_counter() - mark, 2)

    mark = time.perf_counter()
    db_api = DuckDBAPI(connection=con)
    frame = db_api.register(features)
    linker = Linker(frame, settings(record_count), log_level=logging.WARNING)
    _register_smoothed_tf(con, db_api, linker, features, record_count)
    train = record_count >= MIN_TRAINING_RECORDS if train is None else train
    if train:
        try:
            model = _trained_settings(con, db_api, features, record_count)
        except Exception as error:  # EM can fail on degenerate inputs: the priors still hold
            log.warning("model training failed (%s): using the documented priors", error)
        else:
            linker = Linker(frame, model, log_level=logging.WARNING)
            _register_smoothed_tf(con, db_api, linker, features, record_count)
            stats.trained = True
    stats.weights = _weights(linker)
    stats.seconds["training"] = round(time.perf_counter() - mark, 2)
    # Progress of the long phases (at 10M records each takes minutes): what is done, what next.
    log.info(
        "identity model %s on %d records in %.1f s; blocking next",
        "trained" if stats.trained else "from the priors",
        record_count,
        stats.seconds["training"],
    )

    mark = time.perf_counter()
    # The candidate pairs are computed once, as the distinct union of the key joins, and handed
    # to splink: its own multi-rule blocking excludes the pairs of every earlier rule in every
    # later one, which grows with the square of the number of rules (24 here).
    stats.blocked_pairs = blocked_pairs(con, features, "__identity_blocked")
    con.execute(
        "CREATE OR REPLACE TABLE __identity_blocked_ids AS "
        "SELECT '0' AS match_key, id_l AS join_key_l, id_r AS join_key_r "
        "FROM __identity_blocked"
    )
    linker.table_management.register_blocked_pairs_for_predict(
        db_api.register("__identity_blocked_ids")
    )
    stats.seconds["blocking"] = round(time.perf_counter() - mark, 2)
    log.info(
        "identity blocking: %d candidate pairs in %.1f s; scoring them next",
        stats.blocked_pairs,
        stats.seconds["blocking"],
    )
    mark = time.perf_counter()
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
    stats.seconds["scoring"] = round(time.perf_counter() - mark, 2)
    log.info(
        "candidate links: %d email_exact, %d splink (threshold %.3f, weight %.1f, %s model)",
        stats.email_pairs,
        stats.splink_pairs,
        threshold,
        math.log2(threshold / (1 - threshold)),
        "trained" if stats.trained else "prior",
    )
    return stats
