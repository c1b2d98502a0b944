"""Hidden persons and their customer records: identities, duplicates and look-alikes.

A *person* is the real human (ground truth); a *record* is what one source system knows about
them. Most persons have one record; ~9% have 2 to 6 records that differ the way real CRM exports
differ (case, accents, phone formats, e-mail variants, missing fields) and are corrupted the way
the Febrl benchmark generator corrupts duplicates (typos, OCR and phonetic errors, swapped names,
missing fields, changed birth-date digits). Look-alike groups (households, twins, homonyms) are
distinct persons built to resemble each other.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from faker import Faker
from faker.providers.person.fr_FR import Provider as FrenchNames

from pipeline.demo import reference as ref
from pipeline.demo.calendar import Calendar, month_of, year_of
from pipeline.demo.parts import PartIds

logger = logging.getLogger(__name__)

LOOKALIKE_KINDS = ("household", "twin", "homonym")
STREET_POOL_MAX = 5000
PHONE_FORMATS = 4

_ABBREVIATIONS = (
    ("rue ", "r. "),
    ("avenue ", "av. "),
    ("boulevard ", "bd "),
    ("chemin ", "ch. "),
    ("place ", "pl. "),
    ("impasse ", "imp. "),
    ("allée ", "all. "),
)


@dataclass
class Population:
    """Persons (one row each, index = person number) and their records (sorted by person, rank).

    persons: person_id, person_type, type_code, acq_day, end_day, lookalike_group, favourite,
        first_rec, n_records.
    records: person, rank, system (index into SOURCE_SYSTEMS), first_name, last_name, email,
        phone, birth_day (float, NaN = missing), gender, address_line, postal_code, city, region,
        country, marketing_opt_in; generator.py adds customer_id, created_ts and exported.
    lookalike_groups: look-alike groups of each kind (their numbers, from the part's offset on).
    """

    persons: pd.DataFrame
    records: pd.DataFrame
    lookalike_groups: int = 0


def fold_accents(text: str) -> str:
    """`Hélène` -> `Helene`: drop combining marks after NFKD decomposition."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def email_key(email: str) -> str:
    """Normalised mailbox: lower case and, for gmail, without dots in the local part.

    Two different persons must never share a key, otherwise the ground truth would contradict
    what any mail server considers the same mailbox.
    """
    local, _, domain = email.lower().partition("@")
    if domain == "gmail.com":
        local = local.replace(".", "")
    return f"{local}@{domain}"


def format_phone(nsn: str, style: int) -> str:
    """French phone from its 9-digit national number in one of the four formats seen in exports."""
    pairs = " ".join(nsn[i : i + 2] for i in range(1, 9, 2))
    if style == 0:
        return f"0{nsn[0]} {pairs}"
    if style == 1:
        return f"+33{nsn}"
    if style == 2:
        return f"0{nsn}"
    return f"+33 {nsn[0]} {pairs}"


def _unique_numbers(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """n distinct integers in [low, high): distinct phone numbers for distinct persons."""
    values = rng.integers(low, high, n)
    while True:
        _, first_idx = np.unique(values, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first_idx] = False
        if not dup.any():
            return values
        values[dup] = rng.integers(low, high, int(dup.sum()))


def _vary_address(address: str, r: random.Random) -> str:
    changed = address
    for long, short in _ABBREVIATIONS:
        if long in changed:
            changed = changed.replace(long, short)
            break
    if r.random() < 0.5:
        changed = changed.replace(", ", " ")
    if r.random() < 0.3:
        changed = changed.upper()
    return changed


class _Namer:
    """Name, street and town pools; Faker is only used to fill the pools (seeded)."""

    def __init__(self, seed: int, n_persons: int) -> None:
        fake = Faker("fr_FR")
        fake.seed_instance(seed)
        self.female = np.array(sorted(set(FrenchNames.first_names_female)), dtype=object)
        self.male = np.array(sorted(set(FrenchNames.first_names_male)), dtype=object)
        # The provider's last names are ordered by frequency: a Zipf-like weight keeps
        # Martin/Bernard common (natural homonyms) and rare names rare.
        self.last = np.array(list(dict.fromkeys(FrenchNames.last_names)), dtype=object)
        ranks = np.arange(len(self.last), dtype=float)
        self.last_p = 1.0 / (ranks + 15.0)
        self.last_p /= self.last_p.sum()
        size = int(min(STREET_POOL_MAX, max(200, n_persons)))
        self.streets = np.array([fake.street_name() for _ in range(size)], dtype=object)
        weights = np.array([t[4] for t in ref.TOWNS], dtype=float)
        self.town_p = weights / weights.sum()


def _pick_first_names(namer: _Namer, rng: np.random.Generator, female: np.ndarray) -> np.ndarray:
    out = np.empty(len(female), dtype=object)
    n_f = int(female.sum())
    out[female] = namer.female[rng.integers(0, len(namer.female), n_f)]
    out[~female] = namer.male[rng.integers(0, len(namer.male), len(female) - n_f)]
    return out


def _assign_types(rng: np.random.Generator, acq_day: np.ndarray, calendar: Calendar) -> np.ndarray:
    """Hidden type per person, conditional on acquisition month and recency (see reference)."""
    month = month_of(acq_day)
    recency = calendar.as_of - acq_day
    probs = np.tile(np.array(ref.TYPE_PROBS["other"]), (len(acq_day), 1))
    probs[np.isin(month, ref.SALES_MONTHS)] = ref.TYPE_PROBS["sales"]
    probs[np.isin(month, ref.SUMMER_MONTHS)] = ref.TYPE_PROBS["summer"]
    probs[recency < ref.RECENT_DAYS] = ref.TYPE_PROBS["recent"]
    # A churner needs room for a purchase history that stopped >= 183 days ago.
    too_young = recency < ref.CHURN_GAP_DAYS[0] + 30
    churn, one = ref.TYPE_INDEX["churner"], ref.TYPE_INDEX["one_time"]
    probs[too_young, one] += probs[too_young, churn]
    probs[too_young, churn] = 0.0
    cum = probs.cumsum(axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(acq_day))
    return np.minimum((u[:, None] > cum).sum(axis=1), len(ref.PERSON_TYPES) - 1)


def build_population(
    n_customers: int, calendar: Calendar, seed: int, ids: PartIds | None = None
) -> Population:
    """Draw persons (types, identities, look-alikes) and their `n_customers` customer records.

    Person ids and look-alike group numbers start after those of the earlier parts (`ids`).
    """
    ids = ids or PartIds()
    rng = np.random.default_rng([seed, 1])
    dup_factor = ref.DUPLICATE_PERSON_RATE * ref.MEAN_EXTRA_RECORDS
    n_persons = int(round(n_customers / (1 + dup_factor)))
    extra_counts = _extra_record_counts(n_customers - n_persons, seed)
    groups = max(ref.MIN_LOOKALIKE_GROUPS, int(round(n_persons * ref.LOOKALIKE_GROUP_RATE)))
    n_lookalike = 2 * groups * len(LOOKALIKE_KINDS)
    if n_persons - n_lookalike < len(extra_counts):
        raise ValueError(f"customers={n_customers} is too small for the demo population")

    namer = _Namer(seed, n_persons)
    female = rng.random(n_persons) < 0.52
    first = _pick_first_names(namer, rng, female)
    last = namer.last[rng.choice(len(namer.last), n_persons, p=namer.last_p)]
    age_days = (np.clip(rng.normal(44, 15, n_persons), 18, 88) * 365.25).astype(np.int64)
    birth = calendar.as_of - age_days
    town = rng.choice(len(ref.TOWNS), n_persons, p=namer.town_p)
    street = rng.integers(0, len(namer.streets), n_persons)
    house = rng.integers(1, 151, n_persons)
    mobile = _unique_numbers(rng, n_persons, 600_000_000, 800_000_000)
    landline = np.full(n_persons, -1, dtype=np.int64)
    lookalike = np.full(n_persons, "", dtype=object)

    # Look-alike pairs occupy persons 0 .. n_lookalike-1 (person ids are shuffled below).
    a = np.arange(0, n_lookalike, 2)
    b = a + 1
    kind = np.repeat(np.arange(len(LOOKALIKE_KINDS)), groups)
    number = np.tile(np.arange(1, groups + 1) + ids.lookalike_groups, len(LOOKALIKE_KINDS))
    for pair, (pa_, pb_) in enumerate(zip(a, b, strict=True)):
        label = f"{LOOKALIKE_KINDS[kind[pair]]}-{number[pair]:04d}"
        lookalike[pa_] = lookalike[pb_] = label
    hh, tw, hom = (kind == 0), (kind == 1), (kind == 2)
    # Households: same address and landline, different first names and e-mails.
    ha, hb = a[hh], b[hh]
    town[hb], street[hb], house[hb] = town[ha], street[ha], house[ha]
    female[hb] = ~female[ha]
    first[hb] = _pick_first_names(namer, rng, female[hb])
    same_name = rng.random(len(hb)) < 0.7
    last[hb[same_name]] = last[ha[same_name]]
    birth[hb] = birth[ha] + rng.integers(-2200, 2201, len(hb))
    prefixes = np.array([int(t[3]) for t in ref.TOWNS])
    landline[ha] = prefixes[town[ha]] * 100_000_000 + _unique_numbers(
        rng, len(ha), 10_000_000, 100_000_000
    )
    landline[hb] = landline[ha]
    # Twins: same last name, birth date and address, different first names.
    ta, tb = a[tw], b[tw]
    last[tb], birth[tb] = last[ta], birth[ta]
    town[tb], street[tb], house[tb] = town[ta], street[ta], house[ta]
    # Homonyms: same first and last name in the same town, other birth date, address, e-mail.
    ma, mb = a[hom], b[hom]
    first[mb], last[mb], female[mb], town[mb] = first[ma], last[ma], female[ma], town[ma]
    gap = rng.integers(2 * 365, 25 * 365, len(mb)) * np.where(rng.random(len(mb)) < 0.5, -1, 1)
    # Homonyms must stay adults with a birth date at least two years apart from their namesake.
    too_young = birth[ma] + gap > calendar.as_of - 18 * 366
    birth[mb] = np.where(too_young, birth[ma] - np.abs(gap), birth[ma] + gap)
    street[mb] = (street[ma] + 1 + rng.integers(0, len(namer.streets) - 1, len(mb))) % len(
        namer.streets
    )
    # Different first names are required for households and twins: redraw collisions.
    for xa, xb in ((ha, hb), (ta, tb)):
        clash = first[xa] == first[xb]
        while clash.any():
            first[xb[clash]] = _pick_first_names(namer, rng, female[xb[clash]])
            clash = first[xa] == first[xb]

    emails = _build_emails(rng, first, last, birth)
    acq_day = calendar.sample(
        np.full(n_persons, calendar.start),
        np.full(n_persons, calendar.as_of - 1),
        rng.random(n_persons),
    )
    type_code = _assign_types(rng, acq_day, calendar)
    end_day = np.full(n_persons, calendar.as_of, dtype=np.int64)
    churner = type_code == ref.TYPE_INDEX["churner"]
    upper = np.minimum(ref.CHURN_GAP_DAYS[1], calendar.as_of - acq_day[churner] - 30)
    gap_days = ref.CHURN_GAP_DAYS[0] + (
        rng.random(int(churner.sum())) * (upper - ref.CHURN_GAP_DAYS[0] + 1)
    ).astype(np.int64)
    end_day[churner] = calendar.as_of - gap_days

    n_records = np.ones(n_persons, dtype=np.int64)
    dup = rng.choice(np.arange(n_lookalike, n_persons), len(extra_counts), replace=False)
    n_records[dup] = 1 + extra_counts
    first_rec = np.concatenate([[0], np.cumsum(n_records)[:-1]])
    person_ids = rng.permutation(n_persons) + 1 + ids.persons
    persons = pd.DataFrame(
        {
            "person_id": pc.binary_join_element_wise(
                "P",
                pc.utf8_lpad(pc.cast(pa.array(person_ids), pa.string()), width=7, padding="0"),
                "",
            ).to_numpy(zero_copy_only=False),
            "person_type": np.array(ref.PERSON_TYPES, dtype=object)[type_code],
            "type_code": type_code,
            "acq_day": acq_day,
            "end_day": end_day,
            "lookalike_group": lookalike,
            "favourite": rng.integers(0, len(ref.CATEGORIES), n_persons),
            "first_rec": first_rec,
            "n_records": n_records,
        }
    )
    identity = {
        "female": female,
        "first": first,
        "last": last,
        "birth": birth,
        "town": town,
        "street": street,
        "house": house,
        "mobile": mobile,
        "landline": landline,
        "email": emails,
    }
    records = _build_records(rng, namer, persons, identity, seed)
    logger.info(
        "population: %d persons, %d records, %d look-alike groups",
        n_persons,
        len(records),
        groups * len(LOOKALIKE_KINDS),
    )
    return Population(persons=persons, records=records, lookalike_groups=groups)


def _extra_record_counts(extras: int, seed: int) -> np.ndarray:
    """Extra records (1..5) of each duplicated person, summing to exactly `extras`.

    Drawn from its own generator so the rest of the population does not depend on it.
    """
    if extras <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng([seed, 11])
    shares = np.array(ref.EXTRA_RECORDS_SHARES)
    counts = 1 + rng.choice(len(shares), extras, p=shares / shares.sum())
    n = int(np.searchsorted(np.cumsum(counts), extras)) + 1
    counts = counts[:n]
    counts[-1] -= counts.sum() - extras  # the last person takes what is left (>= 1)
    return counts


def _fold_lower(values: np.ndarray) -> pa.Array:
    """Accent-free lower-case names without spaces/apostrophes, computed once per distinct name."""
    codes, uniques = pd.factorize(values)
    folded = [fold_accents(u).lower().replace(" ", "").replace("'", "") for u in uniques]
    return pa.array(folded, pa.string()).take(pa.array(codes))


def email_keys(local: pa.Array, provider: pa.Array) -> pa.Array:
    """Vectorised `email_key` for lower-case local parts and providers."""
    undotted = pc.replace_substring(local, ".", "")
    chosen = pc.if_else(pc.equal(provider, "gmail.com"), undotted, local)
    return pc.binary_join_element_wise(chosen, provider, "@")


def _duplicated(keys: pa.Array) -> np.ndarray:
    """True for every occurrence of a key after its first one."""
    codes = pc.dictionary_encode(keys).indices.to_numpy()
    dup = np.ones(len(codes), dtype=bool)
    dup[np.unique(codes, return_index=True)[1]] = False
    return dup


def _build_emails(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray, birth: np.ndarray
) -> np.ndarray:
    """One distinct mailbox per person (distinct after lower-casing and gmail dot removal)."""
    n = len(first)
    pattern = rng.integers(0, 5, n)
    yy = pc.utf8_lpad(pc.cast(pa.array(year_of(birth) % 100), pa.string()), width=2, padding="0")
    f, la = _fold_lower(first), _fold_lower(last)
    join = pc.binary_join_element_wise
    variants = (
        join(f, la, "."),  # jean.martin
        join(f, la, ""),  # jeanmartin
        join(pc.utf8_slice_codeunits(f, 0, 1), la, "."),  # j.martin
        join(join(f, la, "."), yy, ""),  # jean.martin85
        join(la, f, "."),  # martin.jean
    )
    local = pc.choose(pa.array(pattern), *variants)
    providers = np.array([p for p, _ in ref.EMAIL_PROVIDERS], dtype=object)
    shares = np.array([s for _, s in ref.EMAIL_PROVIDERS])
    provider = pa.array(
        providers[rng.choice(len(providers), n, p=shares / shares.sum())], pa.string()
    )
    clash = _duplicated(email_keys(local, provider))
    while clash.any():
        # Later holders of a taken mailbox get digits appended, like real sign-ups do.
        digits = pc.cast(pa.array(rng.integers(2, 1000, n)), pa.string())
        local = pc.if_else(pa.array(clash), join(local, digits, ""), local)
        clash = _duplicated(email_keys(local, provider))
    return join(local, provider, "@").to_numpy(zero_copy_only=False)


def _format_phones(nsn: pa.Array, style: np.ndarray) -> np.ndarray:
    """Vectorised `format_phone` over 9-digit national numbers."""
    join = pc.binary_join_element_wise
    head = pc.utf8_slice_codeunits(nsn, 0, 1)
    pairs = join(*(pc.utf8_slice_codeunits(nsn, i, i + 2) for i in range(1, 9, 2)), " ")
    variants = (
        join(join("0", head, ""), pairs, " "),  # 06 12 34 56 78
        join("+33", nsn, ""),  # +33612345678
        join("0", nsn, ""),  # 0612345678
        join("+33", head, pairs, " "),  # +33 6 12 34 56 78
    )
    return pc.choose(pa.array(style), *variants).to_numpy(zero_copy_only=False)


def _build_records(
    rng: np.random.Generator,
    namer: _Namer,
    persons: pd.DataFrame,
    ident: dict[str, np.ndarray],
    seed: int,
) -> pd.DataFrame:
    """Expand persons into source records; primaries are faithful, extra records are varied."""
    n_records = persons["n_records"].to_numpy()
    person = np.repeat(np.arange(len(persons)), n_records)
    rank = np.arange(len(person)) - persons["first_rec"].to_numpy()[person]
    n = len(person)
    shares = np.array([s[4] for s in ref.SOURCE_SYSTEMS])
    primary_sys = rng.choice(len(shares), len(persons), p=shares / shares.sum())
    second_sys = (primary_sys + 1 + rng.integers(0, 2, len(persons))) % 3
    third_sys = 3 - primary_sys - second_sys
    # Records beyond the third come from the three systems in turn: a system can hold the same
    # person twice (a second sign-up), as real CRMs do.
    system = np.select(
        [rank == 0, rank == 1, rank == 2],
        [primary_sys[person], second_sys[person], third_sys[person]],
        (primary_sys[person] + rank) % 3,
    )
    towns = np.array(ref.TOWNS, dtype=object)
    town = ident["town"][person]
    address = (
        ident["house"][person].astype(str).astype(object)
        + ", "
        + namer.streets[ident["street"][person]]
    )
    landline = ident["landline"][person]
    nsn = np.where(landline >= 0, landline, ident["mobile"][person])
    nsn_arrow = pc.utf8_lpad(pc.cast(pa.array(nsn), pa.string()), width=9, padding="0")
    nsn_text = nsn_arrow.to_numpy(zero_copy_only=False)
    phone = _format_phones(nsn_arrow, rng.integers(0, PHONE_FORMATS, n))
    lookalike = persons["lookalike_group"].to_numpy()[person] != ""
    # Primary records miss optional fields now and then; look-alikes stay complete on purpose,
    # so telling them apart has to rely on names, e-mails and birth dates, not on gaps.
    plain = ~lookalike
    phone[plain & (rng.random(n) < ref.MISSING_PHONE_RATE)] = None
    birth = ident["birth"][person].astype(float)
    birth[plain & (rng.random(n) < ref.MISSING_BIRTH_DATE_RATE)] = np.nan
    gender = np.where(ident["female"][person], "F", "M").astype(object)
    gender[plain & (rng.random(n) < ref.MISSING_GENDER_RATE)] = None
    records = pd.DataFrame(
        {
            "person": person,
            "rank": rank,
            "system": system,
            "first_name": ident["first"][person],
            "last_name": ident["last"][person],
            "email": ident["email"][person],
            "phone": phone,
            "birth_day": birth,
            "gender": gender,
            "address_line": address,
            "postal_code": towns[town, 1],
            "city": towns[town, 0],
            "region": towns[town, 2],
            "country": "FR",
            "marketing_opt_in": rng.random(n) < ref.MARKETING_OPT_IN_RATE,
        }
    )
    _vary_duplicates(records, nsn_text, seed)
    return records


def _vary_duplicates(records: pd.DataFrame, nsn_text: np.ndarray, seed: int) -> None:
    """Rewrite the non-primary records of duplicated persons the way another entry would.

    Each extra record gets the differences of another export (case, accents, e-mail provider,
    phone format, street abbreviations, missing optional fields) and 0-4 corruptions of the
    kinds the Febrl benchmark generator injects (see `corrupt_record`).
    """
    r = random.Random(seed * 7919 + 17)
    providers = [p for p, _ in ref.EMAIL_PROVIDERS]
    rows = np.flatnonzero(records["rank"].to_numpy() > 0)
    original_emails = records["email"].to_numpy(copy=True)
    cols = {c: records[c].to_numpy(copy=True) for c in VARIED_COLUMNS}
    person = records["person"].to_numpy()
    for i in rows:
        first, last = cols["first_name"][i], cols["last_name"][i]
        style = r.choice(("upper", "lower", "fold", "keep", "keep"))
        if style == "upper":
            first, last = first.upper(), last.upper()
        elif style == "lower":
            first, last = first.lower(), last.lower()
        elif style == "fold":
            first, last = fold_accents(first), fold_accents(last)
        cols["first_name"][i], cols["last_name"][i] = first, last

        email = cols["email"][i]
        local, _, domain = email.partition("@")
        roll = r.random()
        if roll < 0.2:
            new_email = email
        elif roll < 0.35:
            new_email = email.upper() if r.random() < 0.5 else local.capitalize() + "@" + domain
        elif roll < 0.5 and domain == "gmail.com":
            if "." in local:
                new_email = local.replace(".", "") + "@" + domain
            else:
                cut = r.randrange(1, len(local))
                new_email = local[:cut] + "." + local[cut:] + "@" + domain
        elif roll < 0.85:
            new_email = local + "@" + r.choice([p for p in providers if p != domain])
        else:
            new_email = None
        cols["email"][i] = new_email

        roll = r.random()
        if roll < 0.55:
            cols["phone"][i] = format_phone(nsn_text[i], r.randrange(PHONE_FORMATS))
        elif roll < 0.75 and new_email is not None:
            cols["phone"][i] = None
        if r.random() < 0.3:
            cols["birth_day"][i] = np.nan
        if r.random() < 0.2:
            cols["gender"][i] = None
        roll = r.random()
        if roll < 0.35:
            cols["address_line"][i] = _vary_address(cols["address_line"][i], r)
        elif roll < 0.5:
            cols["address_line"][i] = None
        corrupt_record(cols, i, r)
    cols["email"] = _drop_foreign_mailboxes(person, rows, original_emails, cols["email"])
    for name, values in cols.items():
        records[name] = values


#: Columns of a record that duplicates vary.
VARIED_COLUMNS = (
    "first_name", "last_name", "email", "phone", "birth_day", "gender", "address_line",
    "postal_code", "city",
)  # fmt: skip
#: Keyboard rows (AZERTY): a mistyped key is a neighbour of the intended one.
_KEY_ROWS = ("azertyuiop", "qsdfghjklm", "wxcvbn")
_NEIGHBOURS = {
    ch: row[max(0, i - 1) : i] + row[i + 1 : i + 2] for row in _KEY_ROWS for i, ch in enumerate(row)
}
#: Optical character recognition confusions (scanned forms), both ways.
_OCR = (("m", "rn"), ("rn", "m"), ("w", "vv"), ("d", "cl"), ("cl", "d"), ("h", "li"),
        ("l", "i"), ("i", "l"), ("u", "v"), ("e", "c"), ("o", "0"), ("l", "1"), ("s", "5"),
        ("b", "6"), ("g", "9"), ("n", "ri"))  # fmt: skip
#: Spellings that sound alike, French and English (what a name taken over the phone becomes).
_PHONETIC = (("ph", "f"), ("f", "ph"), ("qu", "k"), ("c", "k"), ("k", "c"), ("eau", "o"),
             ("au", "o"), ("ai", "e"), ("ei", "ai"), ("é", "e"), ("è", "ai"), ("y", "i"),
             ("i", "y"), ("ss", "s"), ("s", "ss"), ("tt", "t"), ("t", "tt"), ("ll", "l"),
             ("l", "ll"), ("nn", "n"), ("n", "nn"), ("mm", "m"), ("th", "t"), ("gu", "g"),
             ("ch", "sh"), ("x", "ks"), ("z", "s"), ("an", "en"), ("en", "an"), ("er", "ez"),
             ("et", "ai"), ("ault", "aut"), ("ier", "ié"))  # fmt: skip
_FIELD_OF = {
    "typo": (("first_name", 0.35), ("last_name", 0.35), ("address_line", 0.2), ("city", 0.1)),
    "ocr": (("first_name", 0.4), ("last_name", 0.4), ("address_line", 0.2)),
    "phonetic": (("first_name", 0.5), ("last_name", 0.5)),
    "missing": (("first_name", 0.15), ("last_name", 0.05), ("postal_code", 0.25),
                ("city", 0.15), ("address_line", 0.2), ("birth_day", 0.2)),
}  # fmt: skip


def _recase(new: str, old: str) -> str:
    """Give `new` (lower case) the case style of `old`: UPPER, Title or lower."""
    if old.isupper():
        return new.upper()
    if old[:1].isupper():
        words = (" ".join(w.capitalize() for w in part.split(" ")) for part in new.split("-"))
        return "-".join(words)
    return new


def _keyboard_typo(text: str, r: random.Random) -> str:
    """One edit anywhere (the first letter included): substitute or insert a neighbouring key,
    delete a letter or transpose two neighbours."""
    low = text.lower()
    if len(low) < 2:
        return low + low
    i = r.randrange(len(low))
    op = r.randrange(4)
    near = _NEIGHBOURS.get(low[i], "e") or "e"
    if op == 0:
        out = low[:i] + r.choice(near) + low[i + 1 :]
    elif op == 1:
        out = low[:i] + r.choice(near) + low[i:]
    elif op == 2:
        out = low[:i] + low[i + 1 :]
    else:
        i = min(i, len(low) - 2)
        out = low[:i] + low[i + 1] + low[i] + low[i + 2 :]
    return _recase(out, text) if out else text


def _substitute(text: str, table: tuple[tuple[str, str], ...], r: random.Random) -> str:
    """Replace one occurrence of one applicable pattern of `table` (OCR or phonetic errors)."""
    low = text.lower()
    options = [(a, b) for a, b in table if a in low]
    if not options:
        return _keyboard_typo(text, r)
    a, b = r.choice(options)
    starts = [k for k in range(len(low)) if low.startswith(a, k)]
    k = r.choice(starts)
    return _recase(low[:k] + b + low[k + len(a) :], text)


def _pick(weighted: tuple[tuple[str, float], ...], r: random.Random) -> str:
    names = [n for n, _ in weighted]
    return r.choices(names, weights=[w for _, w in weighted])[0]


def _change_birth_date(day: float, r: random.Random) -> float:
    """One or two changed digits of YYYYMMDD, or day and month swapped; a valid date."""
    if np.isnan(day):
        return day
    original = (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).strftime("%Y%m%d")
    for _ in range(20):
        roll = r.random()
        digits = list(original)
        if roll < 0.2 and int(original[6:]) <= 12:
            candidate = original[:4] + original[6:] + original[4:6]
        else:
            for pos in r.sample(range(2, 8), 1 if roll < 0.6 else 2):
                digits[pos] = r.choice([d for d in "0123456789" if d != digits[pos]])
            candidate = "".join(digits)
        try:
            changed = dt.datetime.strptime(candidate, "%Y%m%d").date()
        except ValueError:
            continue
        if candidate != original and changed.year >= 1900:
            return float((changed - dt.date(1970, 1, 1)).days)
    return day


def corrupt_record(cols: dict[str, np.ndarray], i: int, r: random.Random) -> list[str]:
    """Apply 0-4 corruptions to record `i` of `cols` in place; returns their names.

    Kinds (reference.CORRUPTION_WEIGHTS): a keyboard typo anywhere in a name, the address or the
    town; an OCR confusion (m/rn, cl/d, o/0); a phonetic respelling (ph/f, eau/o, y/i); first and
    last names swapped; a missing name, postal code, town, address or birth date; one or two
    changed birth-date digits or a day/month swap; a changed postal-code digit; another house
    number.
    """
    count = r.choices(range(len(ref.CORRUPTION_COUNT_SHARES)), ref.CORRUPTION_COUNT_SHARES)[0]
    kinds = list(ref.CORRUPTION_WEIGHTS)
    applied = []
    for kind in r.choices(kinds, weights=list(ref.CORRUPTION_WEIGHTS.values()), k=count):
        if kind in ("typo", "ocr", "phonetic"):
            column = _pick(_FIELD_OF[kind], r)
            value = cols[column][i]
            if not isinstance(value, str) or not value:
                continue
            if kind == "typo":
                cols[column][i] = _keyboard_typo(value, r)
            else:
                cols[column][i] = _substitute(value, _OCR if kind == "ocr" else _PHONETIC, r)
            kind = f"{kind}:{column}"
        elif kind == "swap_names":
            first, last = cols["first_name"][i], cols["last_name"][i]
            cols["first_name"][i], cols["last_name"][i] = last, first
        elif kind == "missing":
            column = _pick(_FIELD_OF["missing"], r)
            cols[column][i] = np.nan if column == "birth_day" else None
            kind = f"missing:{column}"
        elif kind == "birth_date":
            cols["birth_day"][i] = _change_birth_date(cols["birth_day"][i], r)
        elif kind == "postal_code" and isinstance(cols["postal_code"][i], str):
            code = cols["postal_code"][i]
            pos = r.randrange(2, len(code))
            digit = r.choice([d for d in "0123456789" if d != code[pos]])
            cols["postal_code"][i] = code[:pos] + digit + code[pos + 1 :]
        elif kind == "house_number" and isinstance(cols["address_line"][i], str):
            number, sep, street = cols["address_line"][i].partition(" ")
            if number.rstrip(",").isdigit():
                other = str(max(1, int(number.rstrip(",")) + r.choice((-2, -1, 1, 2, 10))))
                cols["address_line"][i] = (other + ("," if number.endswith(",") else "") + sep
                                           + street) if r.random() < 0.8 else street  # fmt: skip
        applied.append(kind)
    return applied


def _mailbox_keys(emails: np.ndarray) -> pa.Array:
    parts = pc.split_pattern(pa.array(emails, pa.string(), from_pandas=True), "@")
    return email_keys(pc.utf8_lower(pc.list_element(parts, 0)), pc.list_element(parts, 1))


def _drop_foreign_mailboxes(
    person: np.ndarray, rows: np.ndarray, original: np.ndarray, varied: np.ndarray
) -> np.ndarray:
    """Blank varied e-mails whose mailbox also belongs to another person.

    A provider switch or a gmail dot change can land on somebody else's mailbox; the ground truth
    would then contradict the mail server, so such a variant is dropped (the record has no e-mail).
    """
    keys = pa.concat_arrays([_mailbox_keys(original), _mailbox_keys(varied[rows])])
    owners = np.concatenate([person, person[rows]])
    frame = pd.DataFrame({"key": keys.to_pandas(), "owner": owners}).dropna()
    shared = frame.groupby("key")["owner"].nunique()
    conflict = set(shared[shared > 1].index)
    out = varied.copy()
    if conflict:
        varied_keys = keys.slice(len(original)).to_pylist()
        for row, key in zip(rows, varied_keys, strict=True):
            if key in conflict:
                out[row] = None
    return out
