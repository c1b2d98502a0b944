"""Precision guards: the evidence that two records are different people, whatever else matches.

The classic false merges in customer data share a lot: a household shares address and landline,
twins also share last name and birth date, namesakes share first name, last name and town.
Typo-heavy duplicates, on the other hand, carry misspelt or even replaced first names, swapped
names and birth dates with changed digits. One disagreement alone is what a corrupted duplicate
looks like, so it is left to the model, which weighs it against everything that agrees. Two
independent disagreements are what two people look like, and they veto the link:

- `gender_conflict`: different genders and different first names (Louis / Louise twins);
- `household_conflict`: clearly different first names, unless both records carry the same
  birth date (up to one digit) or share a personal contact (the same mobile number, or an
  e-mail user name that spells one of the first names): a couple or a parent and child sharing
  address, landline or a family mailbox;
- `contact_conflict`: first names that differ at all (even by a letter: twins Léa / Léna) and
  contact details that both records have and that differ (another phone or another e-mail user
  name): twins, siblings, a household whose members have their own mobile or mailbox; or, even
  with the same names and birth date, another phone, another e-mail user name and another
  address all at once (namesakes born the same day);
- `birth_date_conflict`: birth dates more than two digits apart (a day/month swap is one change)
  with different contact details or different addresses (two namesakes, a father and son
  sharing a name); or any other birth date with both different contact details and different
  addresses (namesakes born one or two digits apart).

So a birth date differing in two digits with the same names and address merges; a replaced
first name with the same birth date, address and no contradicting contact merges (the model
decides); twins and households carrying their own contact details or two disagreements stay
apart. Twins with no contact details and one gender are indistinguishable from a duplicate whose
first name was replaced: the model decides, and a steward's never_merge corrects it.

Compatible first names: missing, equal, a typo (Jaro-Winkler >= 0.85 or up to two edits on names
of 5+ letters), spelled alike (same metaphone code), an initial or a compound ('jean' / 'jean
pierre'), or swapped with the last name.

Guards apply to every candidate link and, during clustering, to every pair of records two
clusters would bring together, so chains of plausible links cannot join two people either (the
cluster-level check only counts positive evidence of two people, see `conflict`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass

import jellyfish
import phonenumbers

#: First names at least this similar (Jaro-Winkler on folded names) may be the same person.
FIRST_NAME_MIN_SIMILARITY = 0.85
#: Swapped first/last names (with typos) must be at least this similar on both sides.
SWAPPED_MIN_SIMILARITY = 0.80
#: Names of at least this many letters may be two edits apart and still be one person.
TWO_EDITS_MIN_LENGTH = 5


@dataclass(frozen=True)
class Profile:
    """The fields of one source record the guards look at (folded values)."""

    first_name: str | None
    last_name: str | None
    birth_date: dt.date | None
    gender: str | None = None
    address: str | None = None
    phone: str | None = None
    email_user: str | None = None


def gender_code(value: str | None) -> str | None:
    """'m' or 'f' from the usual spellings (M, male, H, homme, F, female, femme), else None."""
    if not value or not value.strip():
        return None
    first = value.strip()[0].lower()
    return {"m": "m", "h": "m", "f": "f"}.get(first)


def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity in [0, 1] (jellyfish; the same as DuckDB's)."""
    return jellyfish.jaro_winkler_similarity(a, b)


def _close(a: str, b: str) -> bool:
    """A typo apart: JW >= FIRST_NAME_MIN_SIMILARITY, one edit, or two on a longer name."""
    if jaro_winkler(a, b) >= FIRST_NAME_MIN_SIMILARITY:
        return True
    edits = jellyfish.damerau_levenshtein_distance(a, b)
    return edits <= 1 or (edits <= 2 and min(len(a), len(b)) >= TWO_EDITS_MIN_LENGTH)


def _alike(a: str, b: str) -> bool:
    """Spelled alike: the same metaphone code (ph/f, doubled letters, silent letters)."""
    return jellyfish.metaphone(a.replace(" ", "")) == jellyfish.metaphone(b.replace(" ", ""))


def first_names_compatible(a: Profile, b: Profile) -> bool:
    """Could these first names belong to one person (typo, respelling, initial, compound, swap)?

    A missing first name is compatible with anything: absence is not evidence.
    """
    fa, fb = a.first_name, b.first_name
    if not fa or not fb or fa == fb:
        return True
    if _close(fa, fb) or _alike(fa, fb):
        return True
    # 'jean' vs 'jean pierre', or an initial 'm' vs 'marie'.
    if fa.split()[0] == fb.split()[0] or fa.startswith(fb) or fb.startswith(fa):
        return True
    # First and last names swapped between the two records, possibly with a typo on one side,
    # or the first name of one record entered as the other's last name.
    la, lb = a.last_name, b.last_name
    if la and lb:
        if (
            jaro_winkler(fa, lb) >= SWAPPED_MIN_SIMILARITY
            and jaro_winkler(la, fb) >= SWAPPED_MIN_SIMILARITY
        ):
            return True
    return bool((lb and _close(fa, lb)) or (la and _close(fb, la)))


def _digits_changed(da: dt.date, db: dt.date) -> int:
    """Digits that differ between the YYYYMMDD forms; a day/month swap counts as one change."""
    if da.year == db.year and da.month == db.day and da.day == db.month:
        return 1
    return jellyfish.damerau_levenshtein_distance(da.strftime("%Y%m%d"), db.strftime("%Y%m%d"))


def _contacts_differ(a: Profile, b: Profile) -> bool:
    """Both records have a phone (or an e-mail user name) and they differ."""
    phones = bool(a.phone and b.phone and a.phone != b.phone)
    users = bool(a.email_user and b.email_user and a.email_user != b.email_user)
    return phones or users


def _every_contact_differs(a: Profile, b: Profile) -> bool:
    """Both records have a phone and an e-mail user name, and both differ."""
    phones = bool(a.phone and b.phone and a.phone != b.phone)
    return phones and bool(a.email_user and b.email_user and a.email_user != b.email_user)


@functools.lru_cache(maxsize=65_536)
def is_mobile(phone: str) -> bool:
    """A mobile number (libphonenumber's numbering plans): personal, unlike a landline."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    kind = phonenumbers.number_type(number)
    return kind in (phonenumbers.PhoneNumberType.MOBILE,)


def _personal_contact_shared(a: Profile, b: Profile) -> bool:
    """Both records hold the same personal contact: a mobile number, or an e-mail user name
    that spells one of their first names (paulinegarcia92, not famillepetit)."""
    if a.phone and a.phone == b.phone and is_mobile(a.phone):
        return True
    user = a.email_user
    if not user or user != b.email_user:
        return False
    names = (n for n in (a.first_name, b.first_name) if n and len(n) >= 3)
    return any(name.replace(" ", "") in user for name in names)


def _addresses_differ(a: Profile, b: Profile) -> bool:
    """Both records have an address and they are not variants of one another."""
    if not (a.address and b.address) or a.address == b.address:
        return False
    if jaro_winkler(a.address, b.address) >= 0.85:
        return False
    words_a, words_b = set(a.address.split()), set(b.address.split())
    return len(words_a & words_b) / len(words_a | words_b) < 0.5


def conflict(a: Profile, b: Profile, strict: bool = True) -> str | None:
    """Name of the guard that says a and b are different people, or None (see module doc).

    `strict` is for the two records of a link. Between the other members of two clusters
    (`strict=False`) only positive evidence of two people counts: a household needs two known
    birth dates that differ, namesakes need contact details that differ (a heavily corrupted
    duplicate may lack a birth date or carry another address than a sibling record of it).
    """
    first_differs = bool(a.first_name and b.first_name and a.first_name != b.first_name)
    if first_differs and a.gender and b.gender and a.gender != b.gender:
        return "gender_conflict"
    known = bool(a.birth_date and b.birth_date)
    digits = _digits_changed(a.birth_date, b.birth_date) if known else 0
    clearly_different = first_differs and not first_names_compatible(a, b)
    if clearly_different:
        if strict and not (known and digits <= 1) and not _personal_contact_shared(a, b):
            return "household_conflict"
        if not strict and known and digits > 1:
            return "household_conflict"
    contacts = _contacts_differ(a, b)
    if first_differs and contacts:
        return "contact_conflict"
    if digits > 2 and (contacts or (strict and _addresses_differ(a, b))):
        return "birth_date_conflict"
    # Namesakes born a digit or two apart: another birth date, other contacts, another home.
    if digits >= 1 and contacts and _addresses_differ(a, b):
        return "birth_date_conflict"
    # Namesakes born the same day (a common date: 1 January, the youngest adults): names and
    # birth date are what they share; another phone, another e-mail user name and another
    # home are three disagreements (issue 15: two Adèle Collin of Nantes, each with her own
    # mobile and mailbox). A customer who moved and changed one contact still merges.
    if _every_contact_differs(a, b) and _addresses_differ(a, b):
        return "contact_conflict"
    return None


def clusters_conflict(left: Iterable[Profile], right: Iterable[Profile]) -> str | None:
    """Name of the guard that says two clusters hold two people, or None (the chain check).

    Every record of one cluster is compared with every record of the other (`strict=False`).
    Contact, gender and birth-date evidence vetoes as soon as one pair shows it. The household
    evidence (clearly different first names and known birth dates more than a digit apart) is
    weighed instead: a duplicate cluster of several copies often holds one copy whose first
    name was replaced and another whose birth date was replaced (Febrl set 3 corrupts up to
    five copies independently); those two copies look like a couple, while every other pair
    says one person. So the household guard vetoes only when at least half of the record pairs
    that can show it (first names and birth dates known on both sides) do: a cluster of one
    person's records against another person's stays apart (every pair disagrees), and a tie
    (two records, one agreeing, one not) stays apart too.
    """
    household = comparable = 0
    for a in left:
        for b in right:
            reason = conflict(a, b, strict=False)
            if reason == "household_conflict" and _contacts_differ(a, b):
                return "contact_conflict"  # positive evidence of two people: no vote
            if reason and reason != "household_conflict":
                return reason
            household += reason == "household_conflict"
            comparable += bool(a.first_name and b.first_name and a.birth_date and b.birth_date)
    if household and 2 * household >= comparable:
        return "household_conflict"
    return None
