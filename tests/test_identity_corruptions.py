"""Small fixtures: each corruption kind of a duplicate merges, each look-alike trap does not.

Every case resolves one person's record and its corrupted copy (or two look-alike persons)
among a few unrelated customers, with the documented priors (too few records to train). The
corrupted copies carry no e-mail and no phone, so only names, birth date and address can tell.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.identity_helpers import customer, resolve_rows

AS_OF = dt.date(2026, 10, 1)
MATHILDE = dict(
    first_name="Mathilde", last_name="Lemaire", birth_date=dt.date(1984, 3, 17),
    address_line="27 rue des Tanneurs", postal_code="59000", city="Lille",
    phone="+33645123987", email="mathilde.lemaire@orange.fr", gender="F",
)  # fmt: skip
COPY = {**MATHILDE, "phone": None, "email": None}


def _background() -> list[dict]:
    """Unrelated customers, some sharing the town or the last name of the cases."""
    people = [
        ("Paul", "Girard", dt.date(1971, 5, 2), "3 place du Théâtre", "59000", "Lille"),
        ("Inès", "Lemaire", dt.date(1993, 11, 23), "8 rue Nationale", "59800", "Lille"),
        ("Hugo", "Fontaine", dt.date(1968, 1, 9), "14 avenue Foch", "75016", "Paris"),
        ("Chloé", "Roussel", dt.date(2000, 7, 30), "2 quai de la Fosse", "44000", "Nantes"),
        ("Marc", "Lefebvre", dt.date(1959, 12, 1), "61 rue Solférino", "59000", "Lille"),
        ("Léa", "Mercier", dt.date(1988, 4, 14), "5 cours Julien", "13006", "Marseille"),
    ]
    return [
        customer(
            f"bg{i}",
            first_name=f,
            last_name=la,
            birth_date=b,
            address_line=a,
            postal_code=pc,
            city=c,
            phone=f"+3361000000{i}",
        )  # fmt: skip
        for i, (f, la, b, a, pc, c) in enumerate(people)
    ]


def _masters(tmp_path: Path, rows: list[dict]) -> dict[str, str]:
    report, mapping = resolve_rows(tmp_path / "w.duckdb", rows + _background(), as_of=AS_OF)
    assert not report.model_trained  # a small run uses the documented priors
    # The background never merges with anything.
    assert len({mapping[f"bg{i}"] for i in range(6)}) == 6
    return mapping


CORRUPTIONS = {
    "one typo in the last name": {"last_name": "Lemiare"},
    "two birth-date digits changed": {"birth_date": dt.date(1986, 3, 11)},
    "first and last names swapped": {"first_name": "Lemaire", "last_name": "Mathilde"},
    "missing postal code": {"postal_code": None},
    "OCR error (m read as rn)": {"first_name": "Rnathilde", "last_name": "Lernaire"},
    "phonetic respelling": {"first_name": "Matilde", "last_name": "Lemerre"},
    "one birth-date digit changed, case lost": {
        "birth_date": dt.date(1984, 8, 17),
        "first_name": "MATHILDE",
        "last_name": "LEMAIRE",
    },
    "missing birth date and a typo in the first name": {
        "birth_date": None,
        "first_name": "Mathlide",
    },
    # Found only by the town keys: every postal-code key is lost with the changed digit, the
    # name keys with the married name and the typo, the address key with the house number.
    "postal code digit changed, married name, first-name typo, other house number": {
        "postal_code": "59100",
        "last_name": "Dubois",
        "first_name": "Mathlide",
        "address_line": "72 rue des Tanneurs",
    },
    # Found only by street word + birth date: names, postal code, town and house number all
    # corrupted.
    "first name replaced, last-name typo, no postal code, town misspelt, other house number": {
        "first_name": "Sophie",
        "last_name": "Lenaire",
        "postal_code": None,
        "city": "Lile",
        "address_line": "7 rue des Tanneurs",
    },
    # Little left but the first name, the birth date and a postal code whose first two digits
    # are swapped: one typo (Damerau), as a changed digit is.
    "postal code digits swapped, no last name, no address": {
        "postal_code": "95000",
        "last_name": None,
        "address_line": None,
        "city": None,
    },
}


@pytest.mark.parametrize("changes", CORRUPTIONS.values(), ids=list(CORRUPTIONS))
def test_a_corrupted_duplicate_merges(tmp_path: Path, changes: dict) -> None:
    mapping = _masters(
        tmp_path, [customer("crm-1", **MATHILDE), customer("shop-7", **(COPY | changes))]
    )
    assert mapping["crm-1"] == mapping["shop-7"]


def test_short_names_swapped_with_a_typo_and_no_birth_date_merge(tmp_path: Path) -> None:
    """'Ange Roux' entered as 'Rous Ange': roux/rous is one edit but Jaro-Winkler 0.88."""
    ange = dict(
        first_name="Ange", last_name="Roux", birth_date=dt.date(1979, 10, 2),
        address_line="12 rue Paul Bert", postal_code="13005", city="Marseille",
    )  # fmt: skip
    copy = {**ange, "first_name": "Rous", "last_name": "Ange", "birth_date": None}
    mapping = _masters(tmp_path, [customer("crm-1", **ange), customer("shop-7", **copy)])
    assert mapping["crm-1"] == mapping["shop-7"]


def test_copies_with_a_replaced_first_name_and_a_replaced_birth_date_stay_one_customer(
    tmp_path: Path,
) -> None:
    """Two corrupted copies that look like a couple when compared alone (other first name,
    other birth date) are outvoted by the copies that agree with both (the chain check)."""
    rows = [
        customer("crm-1", **MATHILDE),
        customer("shop-2", **COPY),
        customer("shop-3", **(COPY | {"first_name": "Sophie"})),
        customer("pos-4", **(COPY | {"birth_date": dt.date(1961, 8, 25)})),
    ]
    mapping = _masters(tmp_path, rows)
    assert len({mapping[r["customer_id"]] for r in rows}) == 1


ADDRESS = dict(address_line="8 rue Victor Hugo", postal_code="69003", city="Lyon")
TRAPS = {
    "household sharing address and landline": [
        customer("a", first_name="Paul", last_name="Durand", birth_date=dt.date(1970, 1, 1),
                 phone="+33478000000", email="paul.durand@orange.fr", gender="M", **ADDRESS),
        customer("b", first_name="Claire", last_name="Durand", birth_date=dt.date(1972, 5, 1),
                 phone="+33478000000", email="claire.d@free.fr", gender="F", **ADDRESS),
    ],
    "household sharing a family mailbox, no birth dates": [
        customer("a", first_name="Anne", last_name="Petit", email="famille.petit@sfr.fr",
                 **ADDRESS),
        customer("b", first_name="Bernard", last_name="Petit", email="famille.petit@sfr.fr",
                 **ADDRESS),
    ],
    "twins with their own mobiles": [
        customer("a", first_name="Lucas", last_name="Moreau", birth_date=dt.date(2001, 6, 9),
                 phone="+33611111111", gender="M", **ADDRESS),
        customer("b", first_name="Louis", last_name="Moreau", birth_date=dt.date(2001, 6, 9),
                 phone="+33622222222", gender="M", **ADDRESS),
    ],
    "twins whose first names are one letter apart": [
        customer("a", first_name="Léa", last_name="Moreau", birth_date=dt.date(2001, 6, 9),
                 phone="+33611111111", email="lea.moreau@gmail.com", gender="F", **ADDRESS),
        customer("b", first_name="Léna", last_name="Moreau", birth_date=dt.date(2001, 6, 9),
                 phone="+33622222222", email="lena.moreau@gmail.com", gender="F", **ADDRESS),
    ],
    "twins of different genders": [
        customer("a", first_name="Louis", last_name="Moreau", birth_date=dt.date(2001, 6, 9),
                 gender="M", **ADDRESS),
        customer("b", first_name="Louise", last_name="Moreau", birth_date=dt.date(2001, 6, 9),
                 gender="F", **ADDRESS),
    ],
    "two Marie Martin in one town": [
        customer("a", first_name="Marie", last_name="Martin", birth_date=dt.date(1990, 1, 1),
                 address_line="1 rue Sainte-Catherine", postal_code="33000", city="Bordeaux",
                 email="marie.martin@orange.fr"),
        customer("b", first_name="Marie", last_name="Martin", birth_date=dt.date(1962, 7, 12),
                 address_line="40 cours Victor Hugo", postal_code="33000", city="Bordeaux",
                 email="marie.martin@sfr.fr"),
    ],
    # A copy of Paul and a record without first name or birth date (the landline, the
    # address) chain Paul to Claire: every pair of the two clusters that can tell says two people.
    "household chained through a record without first name or birth date": [
        customer("a", first_name="Paul", last_name="Durand", birth_date=dt.date(1970, 1, 1),
                 phone="+33478000000", **ADDRESS),
        customer("a2", first_name="Paul", last_name="Durand", birth_date=dt.date(1970, 1, 1),
                 **ADDRESS),
        customer("x", last_name="Durand", phone="+33478000000", **ADDRESS),
        customer("b", first_name="Claire", last_name="Durand", birth_date=dt.date(1972, 5, 1),
                 phone="+33478000000", **ADDRESS),
    ],
    # Issue 15 (1M records): namesakes born the same day (the youngest adults share one birth
    # date) in one postal code. Names and birth date agree; phone, mailbox and home do not.
    "namesakes born the same day, each with their own mobile, mailbox and home": [
        customer("a", first_name="Adèle", last_name="Collin", birth_date=dt.date(2008, 10, 1),
                 address_line="15, boulevard de Gauthier", postal_code="44000", city="Nantes",
                 email="adele.collin08@gmail.com", phone="+33719553963", gender="F"),
        customer("b", first_name="Adèle", last_name="Collin", birth_date=dt.date(2008, 10, 1),
                 address_line="120, rue Maggie Perrin", postal_code="44000", city="Nantes",
                 email="adelecollin@orange.fr", phone="+33776160681", gender="F"),
    ],
    "father and son sharing a name and an address": [
        customer("a", first_name="Jean", last_name="Roux", birth_date=dt.date(1950, 4, 2),
                 phone="+33611223344", gender="M", **ADDRESS),
        customer("b", first_name="Jean", last_name="Roux", birth_date=dt.date(1981, 9, 15),
                 phone="+33655667788", gender="M", **ADDRESS),
    ],
}  # fmt: skip


@pytest.mark.parametrize("rows", TRAPS.values(), ids=list(TRAPS))
def test_a_look_alike_stays_a_different_customer(tmp_path: Path, rows: list[dict]) -> None:
    mapping = _masters(tmp_path, rows)
    assert mapping["a"] != mapping["b"]


def test_a_twin_is_not_chained_to_a_namesake_through_swapped_names(tmp_path: Path) -> None:
    """Issue 15, as it merged at 1M records: twin Robert Bertrand (with his twin brother
    Julien) was joined to another Robert Bertrand of Paris, 19 years older, through a third
    Parisian entered as 'Bertrand Robert' without birth date. The chain stood on two links
    scored above 0.9996: the swap counted as evidence twice (first-name and last-name
    comparisons) and the three user names, nothing but 'bertrandrobert' at three providers,
    counted as a shared personal contact."""
    paris = dict(city="Paris", gender="M")
    rows = [
        customer("a", first_name="Robert", last_name="Bertrand", birth_date=dt.date(1984, 8, 29),
                 address_line="100, rue Humbert", postal_code="75011",
                 email="bertrand.robert@yahoo.fr", **paris),
        customer("x", first_name="Bertrand", last_name="Robert",
                 address_line="4, chemin de Paris", postal_code="75011",
                 email="bertrandrobert@hotmail.fr", **paris),
        customer("b", first_name="Robert", last_name="Bertrand", birth_date=dt.date(2003, 4, 5),
                 address_line="129, rue Valentin", postal_code="75015",
                 email="bertrand.robert@gmail.com", phone="+33643055799", **paris),
        customer("twin", first_name="Julien", last_name="Bertrand",
                 birth_date=dt.date(2003, 4, 5), address_line="129, rue Valentin",
                 postal_code="75015", email="julien.bertrand@free.fr", phone="+33698765432",
                 **paris),
    ]  # fmt: skip
    mapping = _masters(tmp_path, rows)
    assert mapping["b"] != mapping["a"]
    assert mapping["b"] != mapping["twin"]


@pytest.mark.parametrize(
    ("email", "first", "last", "names_only"),
    [
        ("jean.martin@orange.fr", "Jean", "Martin", True),
        ("martin.jean@sfr.fr", "Jean", "Martin", True),
        ("j.martin@free.fr", "Jean", "Martin", True),
        ("jean-pierre.le-goff@free.fr", "Jean-Pierre", "Le Goff", True),
        ("jean.martin85@gmail.com", "Jean", "Martin", False),  # a birth year is more
        ("jeannot75@gmail.com", "Jean", "Martin", False),
        ("jean.martin@orange.fr", "Jean", "Martine", False),  # a typo: the names disagree
        (None, "Jean", "Martin", None),
    ],
)
def test_user_names_made_only_of_the_names_are_flagged(email, first, last, names_only) -> None:
    """Such a user name is weak evidence (namesakes share it): the e-mail comparison has a
    level of its own for it."""
    import duckdb

    from pipeline.identity.normalize import features_sql

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE c AS SELECT 'x' AS customer_id, ?::VARCHAR AS email, ? AS first_name, "
        "? AS last_name, NULL::VARCHAR AS phone, NULL::DATE AS birth_date, "
        "NULL::VARCHAR AS gender, NULL::VARCHAR AS address_line, NULL::VARCHAR AS postal_code, "
        "NULL::VARCHAR AS city",
        [email, first, last],
    )
    assert con.execute(f"SELECT email_names_only FROM ({features_sql('c')})").fetchone()[0] is (
        names_only
    )
