"""Matching features derived from `clean.customers`.

clean.customers is already validated (lower-case email, E.164 phone, NFC names), but matching
needs a looser view of the same values: accents and case folded, punctuation removed, e-mail
aliases collapsed. These features exist only for matching; golden records are built from the
original clean values.
"""

from __future__ import annotations

import duckdb
import jellyfish
import pyarrow as pa

#: Domains where dots in the local part are ignored by the provider (j.doe == jdoe).
DOTLESS_DOMAINS = ("gmail.com", "googlemail.com")


def _fold(expr: str) -> str:
    """SQL folding a free-text value: accents stripped, lower case, punctuation to one space.

    strip_accents runs on the lower-cased value so 'Hélène' and 'HELENE' fold to 'helene';
    anything that is not a letter or a digit (hyphens, apostrophes, dots) becomes a space so
    'Jean-Pierre' equals 'jean pierre'. Empty results become NULL: an empty name is no evidence.
    """
    return (
        f"nullif(trim(regexp_replace(strip_accents(lower(trim({expr}))), "
        f"'[^a-z0-9]+', ' ', 'g')), '')"
    )


_SAINT = (("st", "saint"), ("ste", "sainte"))


def _expand(folded: str, abbreviations: tuple[tuple[str, str], ...]) -> str:
    """Wrap folded SQL so whole-word abbreviations are replaced by their long form.

    Expansion runs after folding so 'Bd.' and 'bd' both become 'boulevard'. Words are mapped
    one by one (split, CASE, join): one pass instead of one regular expression per
    abbreviation, which cost 2 s per 100k addresses.
    """
    cases = " ".join(f"WHEN '{short}' THEN '{long}'" for short, long in abbreviations)
    return (
        f"array_to_string(list_transform(string_split({folded}, ' '), "
        f"w -> CASE w {cases} ELSE w END), ' ')"
    )


def _address(expr: str) -> str:
    """SQL folding an address line and expanding the usual French street abbreviations."""
    return _expand(
        _fold(expr),
        (
            ("bd", "boulevard"),
            ("bld", "boulevard"),
            ("av", "avenue"),
            ("ave", "avenue"),
            ("pl", "place"),
            ("r", "rue"),
            ("ch", "chemin"),
            ("imp", "impasse"),
            ("all", "allee"),
            *_SAINT,
        ),
    )


#: Street-type and link words, never the distinctive word of an address (French and English).
STREET_WORDS = (
    "rue", "avenue", "boulevard", "chemin", "place", "impasse", "allee", "route", "quai",
    "cours", "square", "passage", "sentier", "lotissement", "residence", "saint", "sainte",
    "des", "les", "aux", "street", "road", "crescent", "circuit", "drive", "close", "court",
    "lane", "parade", "terrace", "way", "avenue", "highway",
)  # fmt: skip


def _street_words() -> str:
    """SQL list literal of STREET_WORDS."""
    return "[" + ", ".join(f"'{w}'" for w in STREET_WORDS) + "]"


def features_sql(source: str) -> str:
    """SELECT producing one feature row per source customer of the relation `source`.

    Columns: unique_id (source customer_id), first_name_f, last_name_f, full_name_f
    (NULL unless both names are known), email_canon (aliases collapsed: '+tag' removed, gmail
    dots removed, googlemail = gmail), email_local (local part without '+tag' and without . _ -
    separators, for 'same user, other provider'), email_names_only (the user name is only the
    record's names: first+last, last+first, initial+last or last+initial; NULL without e-mail
    or names), phone, birth_date, dob_key (YYYYMMDD text, for digit distances), birth_year,
    gender, address_f, address_tokens (distinct words of the
    address, for Jaccard), house_number (first number of the address), street_key (the
    address's first word that is not a number or a street type: usually the street's name),
    postal_code_f, city_f.
    """
    dotless = ", ".join(f"'{d}'" for d in DOTLESS_DOMAINS)
    return f"""
    WITH base AS (
        SELECT
            customer_id AS unique_id,
            first_name, last_name, phone, birth_date, gender, address_line, postal_code, city,
            nullif(lower(trim(email)), '') AS email_l
        FROM {source}
    ), em AS (
        SELECT *,
            regexp_replace(split_part(email_l, '@', 1), '\\+.*$', '') AS local_nt,
            CASE WHEN split_part(email_l, '@', 2) = 'googlemail.com' THEN 'gmail.com'
                 ELSE split_part(email_l, '@', 2) END AS domain_c
        FROM base
    ), folded AS (
        SELECT
            unique_id,
            {_fold("first_name")} AS first_name_f,
            {_fold("last_name")} AS last_name_f,
            CASE WHEN email_l IS NULL OR local_nt = '' OR domain_c = '' THEN NULL
                 WHEN domain_c IN ({dotless}) THEN replace(local_nt, '.', '') || '@' || domain_c
                 ELSE local_nt || '@' || domain_c END AS email_canon,
            nullif(regexp_replace(local_nt, '[._-]', '', 'g'), '') AS email_local,
            nullif(trim(phone), '') AS phone,
            birth_date,
            strftime(birth_date, '%Y%m%d') AS dob_key,
            nullif(trim(gender), '') AS gender,
            {_address("address_line")} AS address_f,
            nullif(upper(regexp_replace(postal_code, '\\s+', '', 'g')), '') AS postal_code_f,
            {_expand(_fold("city"), _SAINT)} AS city_f
        FROM em
    )
    SELECT
        unique_id, first_name_f, last_name_f,
        first_name_f || ' ' || last_name_f AS full_name_f,
        email_canon, email_local,
        -- The user name is nothing but the record's own names (jeanmartin, martinjean,
        -- jmartin): namesakes get the same one at other providers, so it adds no evidence
        -- to names that already agree (see the e-mail comparison of model.py).
        email_local IN (
            replace(first_name_f, ' ', '') || replace(last_name_f, ' ', ''),
            replace(last_name_f, ' ', '') || replace(first_name_f, ' ', ''),
            left(first_name_f, 1) || replace(last_name_f, ' ', ''),
            replace(last_name_f, ' ', '') || left(first_name_f, 1)
        ) AS email_names_only,
        phone, birth_date, dob_key,
        substr(dob_key, 1, 4) AS birth_year,
        gender, address_f,
        list_distinct(list_filter(string_split(address_f, ' '), w -> length(w) >= 2))
            AS address_tokens,
        nullif(regexp_extract(address_f, '\\b([0-9]+)\\b', 1), '') AS house_number,
        list_filter(
            string_split(address_f, ' '),
            w -> length(w) >= 3 AND NOT regexp_matches(w, '[0-9]')
                 AND NOT list_contains({_street_words()}, w)
        )[1] AS street_key,
        postal_code_f, city_f
    FROM folded
    """


def _phonetic_table(con: duckdb.DuckDBPyConnection, target: str) -> pa.Table:
    """Metaphone codes of every distinct folded first and last name of `target`.

    Computed once per distinct name (far fewer than records) with jellyfish. Metaphone drops
    vowels and merges ph/f, ch/sh, doubled letters and silent letters, which covers the usual
    French respellings as well (Beaumont/Bomont, Philippe/Filippe, Gimenez/Jimenez).
    """
    names = [
        r[0]
        for r in con.execute(
            f"SELECT first_name_f FROM {target} WHERE first_name_f IS NOT NULL "
            f"UNION SELECT last_name_f FROM {target} WHERE last_name_f IS NOT NULL"
        ).fetchall()
    ]
    codes = [jellyfish.metaphone(n.replace(" ", "")) or None for n in names]
    return pa.table({"name": pa.array(names, pa.string()), "code": pa.array(codes, pa.string())})


def build_features(con: duckdb.DuckDBPyConnection, source: str, target: str) -> int:
    """Create table `target` with the matching features of `source`; returns its row count.

    On top of `features_sql`: first_ph and last_ph, the metaphone codes of the folded names.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE __features_base AS {features_sql(source)}")
    con.register("__phonetic", _phonetic_table(con, "__features_base"))
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {target} AS
            SELECT b.*, pf.code AS first_ph, pl.code AS last_ph
            FROM __features_base b
            LEFT JOIN __phonetic pf ON pf.name = b.first_name_f
            LEFT JOIN __phonetic pl ON pl.name = b.last_name_f
            """
        )
    finally:
        con.unregister("__phonetic")
        con.execute("DROP TABLE IF EXISTS __features_base")
    return con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
