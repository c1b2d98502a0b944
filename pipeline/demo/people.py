"""Hidden persons and their customer records: identities, duplicates and look-alikes.

A *person* is the real human (ground truth); a *record* is what one source system knows about
them. Most persons have one record; ~9% have 2-3 records that differ the way real CRM exports
differ (typos, swapped names, accents, phone formats, e-mail variants, missing fields). Look-alike
groups (households, twins, homonyms) are distinct persons built to resemble each other.
"""

from __future__ import annotations

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
    """

    persons: pd.DataFrame
    records: pd.DataFrame


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


def _typo(text: str, r: random.Random) -> str:
    """One keyboard-style edit, keeping the first letter (so blocking on initials still works)."""
    if len(text) < 3:
        return text + text[-1]
    i = r.randrange(1, len(text) - 1)
    op = r.randrange(4)
    if op == 0:  # swap two neighbours
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if op == 1:  # drop a letter
        return text[:i] + text[i + 1 :]
    if op == 2:  # double a letter
        return text[: i + 1] + text[i] + text[i + 1 :]
    vowels = "aeiouy"
    replacement = r.choice([v for v in vowels if v != text[i].lower()])
    return text[:i] + replacement + text[i + 1 :]


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


def build_population(n_customers: int, calendar: Calendar, seed: int) -> Population:
    """Draw persons (types, identities, look-alikes) and their `n_customers` customer records."""
    rng = np.random.default_rng([seed, 1])
    dup_factor = ref.DUPLICATE_PERSON_RATE * (1 + ref.TRIPLE_RECORD_SHARE)
    n_persons = int(round(n_customers / (1 + dup_factor)))
    extras = n_customers - n_persons
    n_triple = int(extras * ref.TRIPLE_RECORD_SHARE / (1 + ref.TRIPLE_RECORD_SHARE))
    n_double = extras - 2 * n_triple
    groups = max(ref.MIN_LOOKALIKE_GROUPS, int(round(n_persons * ref.LOOKALIKE_GROUP_RATE)))
    n_lookalike = 2 * groups * len(LOOKALIKE_KINDS)
    if n_persons - n_lookalike < n_double + n_triple:
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
    number = np.tile(np.arange(1, groups + 1), len(LOOKALIKE_KINDS))
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
    dup = rng.choice(np.arange(n_lookalike, n_persons), n_double + n_triple, replace=False)
    n_records[dup[:n_triple]] = 3
    n_records[dup[n_triple:]] = 2
    first_rec = np.concatenate([[0], np.cumsum(n_records)[:-1]])
    person_ids = rng.permutation(n_persons) + 1
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
    return Population(persons=persons, records=records)


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
    system = np.select(
        [rank == 0, rank == 1], [primary_sys[person], second_sys[person]], third_sys[person]
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
    """Rewrite the non-primary records of duplicated persons the way a second system would."""
    r = random.Random(seed * 7919 + 17)
    providers = [p for p, _ in ref.EMAIL_PROVIDERS]
    rows = np.flatnonzero(records["rank"].to_numpy() > 0)
    original_emails = records["email"].to_numpy(copy=True)
    cols = {
        c: records[c].to_numpy(copy=True)
        for c in (
            "first_name",
            "last_name",
            "email",
            "phone",
            "birth_day",
            "gender",
            "address_line",
        )
    }
    person = records["person"].to_numpy()
    for i in rows:
        first, last = cols["first_name"][i], cols["last_name"][i]
        for op in r.sample(
            ["upper", "fold", "typo_first", "typo_last", "swap", "lower"], 1 + (r.random() < 0.35)
        ):
            if op == "upper":
                first, last = first.upper(), last.upper()
            elif op == "lower":
                first, last = first.lower(), last.lower()
            elif op == "fold":
                first, last = fold_accents(first), fold_accents(last)
            elif op == "typo_first":
                first = _typo(first, r)
            elif op == "typo_last":
                last = _typo(last, r)
            else:
                first, last = last, first
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
    cols["email"] = _drop_foreign_mailboxes(person, rows, original_emails, cols["email"])
    for name, values in cols.items():
        records[name] = values


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
