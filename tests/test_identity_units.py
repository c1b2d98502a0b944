"""Unit tests of identity resolution: guards, survivorship, stable ids, overrides, edge cases."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import duckdb
import pytest

from pipeline.identity import resolve as resolve_module
from pipeline.identity.assets import identity_assets
from pipeline.identity.guards import Profile, clusters_conflict, conflict, jaro_winkler
from pipeline.identity.overrides import Overrides, load_overrides
from pipeline.identity.registry import assign_master_ids
from pipeline.lib.resources import RefreshSettings, Warehouse
from tests.identity_helpers import customer, resolve_rows, write_customers

AS_OF = dt.date(2026, 10, 1)


def resolve(db: Path, rows: list[dict], overrides: Overrides | None = None, as_of=AS_OF):
    """Write clean.customers and run one resolution; returns (report, source id -> master id)."""
    return resolve_rows(db, rows, overrides, as_of)


def query(db: Path, sql: str) -> list[tuple]:
    """Rows of a query on the test warehouse."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def helene(customer_id: str, **fields) -> dict:
    """Hélène Dupont, the same person in several systems."""
    base = dict(
        first_name="Hélène", last_name="Dupont", phone="+33612345678",
        birth_date=dt.date(1980, 2, 3), postal_code="75002", city="Paris",
    )  # fmt: skip
    return customer(customer_id, **(base | fields))


# --- guards -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [("martha", "marhta"), ("helene", "helen"), ("jean", "jeanne"), ("dixon", "dicksonx")],
)
def test_jaro_winkler_agrees_with_duckdb(a: str, b: str) -> None:
    expected = duckdb.sql(f"SELECT jaro_winkler_similarity('{a}', '{b}')").fetchone()[0]
    assert jaro_winkler(a, b) == pytest.approx(expected)


def test_one_disagreement_is_left_to_the_model_two_are_two_people() -> None:
    born = dt.date(1980, 2, 3)
    helene = Profile("helene", "dupont", born, "f", "12 rue de la paix", "+33612345678", None)

    def variant(**changes) -> Profile:
        return dataclasses.replace(helene, **changes)

    # One disagreement: a corrupted duplicate. No veto.
    assert conflict(helene, variant(birth_date=dt.date(1986, 2, 8))) is None  # two digits
    assert conflict(helene, variant(birth_date=dt.date(1980, 3, 2))) is None  # day/month swap
    assert conflict(helene, variant(first_name="elena")) is None  # close, contacts agree
    assert conflict(helene, variant(first_name="dupont", last_name="helene")) is None  # swap
    assert conflict(helene, variant(first_name="claire")) is None  # replaced, same birth date
    assert conflict(helene, variant(phone=None, first_name="hln")) is None
    # Two disagreements: two people.
    household = variant(first_name="paul", birth_date=dt.date(1975, 7, 21), gender="m")
    assert conflict(helene, household) == "gender_conflict"
    home = variant(phone="+33140000000")  # a landline: shared by a household
    landline = dataclasses.replace(home, first_name="claire", birth_date=None)
    assert conflict(home, landline) == "household_conflict"
    # ... unless both share a personal contact: the same mobile number.
    assert conflict(helene, variant(first_name="claire", birth_date=None)) is None
    # Between members of two clusters only positive evidence counts (no birth date: no veto).
    assert conflict(home, landline, strict=False) is None
    twin = variant(first_name="helena", phone="+33699999999")
    assert conflict(helene, twin) == "contact_conflict"
    namesake = variant(birth_date=dt.date(1961, 9, 30), address="40 cours victor hugo")
    assert conflict(helene, namesake) == "birth_date_conflict"
    father = variant(birth_date=dt.date(1950, 11, 27), phone="+33611111111")
    assert conflict(helene, father) == "birth_date_conflict"


def test_namesakes_born_the_same_day_differ_in_every_contact_and_their_home() -> None:
    born = dt.date(2008, 10, 1)
    adele = Profile("adele", "collin", born, "f", "15 boulevard de gauthier", "+33719553963",
                    "adelecollin08")  # fmt: skip
    other = dataclasses.replace(
        adele, address="120 rue maggie perrin", phone="+33776160681", email_user="adelecollin"
    )
    assert conflict(adele, other) == "contact_conflict"
    assert conflict(adele, other, strict=False) == "contact_conflict"
    # A customer who moved and changed one contact (or whose other record lacks it) merges.
    assert conflict(adele, dataclasses.replace(other, phone=adele.phone)) is None
    assert conflict(adele, dataclasses.replace(other, email_user=None)) is None
    assert conflict(adele, dataclasses.replace(other, address=adele.address)) is None


def test_between_clusters_household_evidence_is_a_vote_contact_evidence_vetoes() -> None:
    """Copies of one person with one replaced first name and one replaced birth date stay one
    cluster; two people's clusters, a tie or a pair with other contacts stay apart."""
    born = dt.date(1956, 1, 11)
    nicholas = Profile("nicholas", "cavanaugh", born, None, "9 rodway street", None, None)

    def copy(**changes) -> Profile:
        return dataclasses.replace(nicholas, **changes)

    new_date = copy(birth_date=dt.date(1958, 10, 14))  # a copy whose birth date was replaced
    new_name = copy(first_name="monique")  # a copy whose first name was replaced
    assert conflict(new_date, new_name, strict=False) == "household_conflict"  # alone: a couple
    # Three copies against one: one pair of five says household, the others one person.
    cluster = [nicholas, copy(address="9 rodway st"), new_date]
    assert clusters_conflict(cluster, [new_name]) is None
    assert clusters_conflict([new_name], cluster) is None
    # Two records against one, one agreeing and one not: a tie stays apart.
    assert clusters_conflict([nicholas, new_date], [new_name]) == "household_conflict"
    # Another person's records (other first name and birth date) against the cluster.
    wife = [copy(first_name="claire", birth_date=dt.date(1958, 5, 1))] * 2
    assert clusters_conflict(cluster, wife) == "household_conflict"
    # Contact evidence is not outvoted: one pair with other phones is two people.
    own_phone = dataclasses.replace(new_name, phone="+33611111111")
    with_phone = [nicholas, copy(phone="+33622222222"), copy()]
    assert clusters_conflict(with_phone, [own_phone]) == "contact_conflict"


# --- matching ---------------------------------------------------------------------------------


def test_accents_case_and_swapped_names_with_same_phone_merge(tmp_path: Path) -> None:
    rows = [
        customer("s1", first_name="Hélène", last_name="Dupont", phone="+33612345678"),
        customer("s2", first_name="DUPONT", last_name="Helene", phone="+33612345678"),
        customer("s3", first_name="Paul", last_name="Durand", phone="+33698765432"),
    ]
    report, mapping = resolve(tmp_path / "w.duckdb", rows)
    assert mapping["s1"] == mapping["s2"] != mapping["s3"]
    assert report.masters_out == 2 and report.records_merged == 1


def test_gmail_dot_and_case_variant_is_email_exact(tmp_path: Path) -> None:
    rows = [
        customer("s1", email="jean.dupont@gmail.com", first_name="Jean", last_name="Dupont"),
        customer("s2", email="jeandupont@googlemail.com", first_name="JEAN", last_name="Dupond"),
    ]
    db = tmp_path / "w.duckdb"
    _, mapping = resolve(db, rows)
    assert mapping["s1"] == mapping["s2"]
    assert {r[0] for r in query(db, "SELECT rule FROM identity.identity_merges")} == {"email_exact"}


def test_household_twins_and_homonyms_stay_apart(tmp_path: Path) -> None:
    addr = dict(address_line="5 avenue Foch", postal_code="75016", city="Paris")
    rows = [
        # Household: same address and landline, different first names.
        customer("h1", first_name="Paul", last_name="Durand", phone="+33140000000",
                 birth_date=dt.date(1970, 1, 1), email="paul.durand@orange.fr", **addr),
        customer("h2", first_name="Claire", last_name="Durand", phone="+33140000000",
                 birth_date=dt.date(1972, 5, 1), email="claire.d@free.fr", **addr),
        # Twins: same last name, birth date, address; different first names.
        customer("t1", first_name="Lucas", last_name="Moreau", birth_date=dt.date(2001, 6, 9),
                 address_line="8 rue Victor Hugo", postal_code="69003", city="Lyon",
                 phone="+33611111111"),
        customer("t2", first_name="Louis", last_name="Moreau", birth_date=dt.date(2001, 6, 9),
                 address_line="8 rue Victor Hugo", postal_code="69003", city="Lyon",
                 phone="+33622222222"),
        # Homonyms: two Marie Martin in one town, different birth dates.
        customer("m1", first_name="Marie", last_name="Martin", birth_date=dt.date(1990, 1, 1),
                 postal_code="33000", city="Bordeaux", address_line="1 rue Sainte-Catherine"),
        customer("m2", first_name="Marie", last_name="Martin", birth_date=dt.date(1962, 7, 12),
                 postal_code="33000", city="Bordeaux", address_line="40 cours Victor Hugo"),
        # Household sharing a family mailbox: the e-mail rule must not merge them either.
        customer("f1", first_name="Anne", last_name="Petit", email="famille.petit@sfr.fr"),
        customer("f2", first_name="Bernard", last_name="Petit", email="famille.petit@sfr.fr"),
    ]  # fmt: skip
    report, mapping = resolve(tmp_path / "w.duckdb", rows)
    assert len(set(mapping.values())) == len(rows)
    assert report.records_merged == 0
    assert sum(report.pairs_refused.values()) >= 1


def test_chain_through_incomplete_record_does_not_join_twins(tmp_path: Path) -> None:
    """t1~x and x~t2 are each plausible, but the cluster would hold two people: refused."""
    common = dict(last_name="Moreau", birth_date=dt.date(2001, 6, 9), postal_code="69003",
                  city="Lyon", address_line="8 rue Victor Hugo")  # fmt: skip
    rows = [
        customer("t1", first_name="Lucas", phone="+33611111111", **common),
        customer("t2", first_name="Louis", phone="+33622222222", **common),
        customer("x", first_name="Lucas", phone="+33622222222", **common),
    ]
    _, mapping = resolve(tmp_path / "w.duckdb", rows)
    assert mapping["t1"] != mapping["t2"]


def test_derived_from_orders_and_all_null_columns(tmp_path: Path) -> None:
    rows = [customer(f"o{i}", derived_from_orders=True) for i in range(5)]
    rows.append(customer("n1", first_name="Jean", last_name="Martin"))
    rows.append(customer("n2", first_name="Jean", last_name="Martin"))
    db = tmp_path / "w.duckdb"
    report, mapping = resolve(db, rows)
    # Names alone (no e-mail, phone, birth date or address) are not enough to merge.
    assert len(set(mapping.values())) == 7
    assert report.clusters_by_size == {1: 7}
    golden = query(db, "SELECT count(*), bool_and(source_record_count = 1) FROM identity.customers")
    assert golden == [(7, True)]
    derived = query(
        db,
        "SELECT count(*) FROM identity.customers WHERE derived_from_orders "
        "AND completeness_score = 0",
    )
    assert derived == [(5,)]


def test_empty_input(tmp_path: Path) -> None:
    report, mapping = resolve(tmp_path / "w.duckdb", [])
    assert mapping == {} and report.masters_out == 0


# --- survivorship -----------------------------------------------------------------------------


def test_survivorship_most_recent_non_empty_and_consent(tmp_path: Path) -> None:
    old, new = dt.datetime(2024, 1, 1), dt.datetime(2026, 9, 1)
    rows = [
        helene("a", email="helene@example.fr", gender="F", marketing_opt_in=True,
               address_line="12 rue de la Paix", region="IDF", country="FR",
               created_at=dt.datetime(2020, 5, 1), updated_at=old, source_system="crm"),
        helene("b", email="h.dupont@example.com", phone=None, marketing_opt_in=False,
               address_line="3 place Bellecour", postal_code="69002", city="Lyon",
               created_at=dt.datetime(2022, 1, 1), updated_at=new, source_system="shop"),
        # Most recent record but states no consent and no address: it must not win those.
        helene("c", email="helene@example.fr", first_name="Helene", marketing_opt_in=None,
               postal_code=None, city=None, created_at=dt.datetime(2026, 9, 20)),
    ]  # fmt: skip
    db = tmp_path / "w.duckdb"
    _, mapping = resolve(db, rows)
    assert len(set(mapping.values())) == 1
    (golden,) = query(
        db,
        "SELECT first_name, email, phone, gender, address_line, postal_code, city, region, "
        "marketing_opt_in, created_at, updated_at, source_record_count, freshness_days, "
        "completeness_score, source_system, derived_from_orders FROM identity.customers",
    )
    assert golden[0] == "Helene"  # from c, the freshest record
    assert golden[1] == "helene@example.fr"
    assert golden[2] == "+33612345678"  # b has no phone: the next freshest value survives
    assert golden[3] == "F"
    # The address survives as a block from b (c has none): no Paris street with a Lyon town.
    assert golden[4:8] == ("3 place Bellecour", "69002", "Lyon", None)
    assert golden[8] is False  # the latest stated consent (b) is an opt-out
    assert golden[9] == dt.datetime(2020, 5, 1)
    assert golden[10] == dt.datetime(2026, 9, 20)
    assert golden[11] == 3
    assert golden[12] == (AS_OF - dt.date(2026, 9, 20)).days
    assert golden[13] == pytest.approx(round(10 / 11, 3))  # region missing
    assert golden[14] == "shop"
    assert golden[15] is False


def test_survivorship_tie_broken_by_most_complete_record(tmp_path: Path) -> None:
    ts = dt.datetime(2025, 6, 1)
    rows = [
        helene("a", gender="M", created_at=ts),
        helene("b", gender="F", email="helene@example.fr", address_line="1 rue X", created_at=ts),
    ]
    db = tmp_path / "w.duckdb"
    resolve(db, rows)
    assert query(db, "SELECT gender FROM identity.customers") == [("F",)]


# --- stable ids -------------------------------------------------------------------------------


def test_master_ids_stable_when_cluster_grows_and_merge_recorded(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    jean = dict(first_name="Jean", last_name="Dupont")
    # Same name, but nothing else in common: not enough evidence to merge a and c yet.
    a = customer("a", email="jean.dupont@laposte.net", city="Paris", **jean)
    c = customer("c", phone="+33655555555", city="Lyon", **jean)
    other = customer("z", first_name="Zoé", last_name="Blanc", phone="+33600000001")
    _, first = resolve(db, [a, c, other], as_of=dt.date(2026, 1, 1))
    assert len({first["a"], first["c"], first["z"]}) == 3

    # A new record of Jean (same mailbox) joins a's cluster: a keeps its id.
    b = customer("b", email="jean.dupont@laposte.net", city="Paris", **jean)
    _, second = resolve(db, [a, b, c, other], as_of=dt.date(2026, 2, 1))
    assert second["a"] == second["b"] == first["a"]
    assert second["c"] == first["c"] and second["z"] == first["z"]

    # A record with both the mailbox and the phone joins the two clusters: the oldest id wins.
    bridge = customer("d", email="jean.dupont@laposte.net", phone="+33655555555", **jean)
    report, third = resolve(db, [a, b, c, bridge, other], as_of=dt.date(2026, 3, 1))
    survivor, retired = min(first["a"], first["c"]), max(first["a"], first["c"])
    assert {third[k] for k in "abcd"} == {survivor}
    assert report.retired_master_ids == 1 and report.new_master_ids == 0
    assert query(db, "SELECT * FROM identity.master_id_merges") == [
        (retired, survivor, dt.date(2026, 3, 1))
    ]
    assert query(
        db, f"SELECT retired_into FROM identity.master_ids WHERE customer_id = '{retired}'"
    ) == [(survivor,)]

    # Re-running the same data changes nothing and records no new merge.
    report, again = resolve(db, [a, b, c, bridge, other], as_of=dt.date(2026, 3, 1))
    assert again == third and report.new_master_ids == 0 and report.retired_master_ids == 0
    assert len(query(db, "SELECT * FROM identity.master_id_merges")) == 1


def test_registry_split_keeps_id_with_majority_and_issues_new_one() -> None:
    previous = {"a": "C0000000007", "b": "C0000000007", "c": "C0000000007"}
    result = assign_master_ids([["a", "b"], ["c"], ["d"]], previous, 7)
    assert result.master_of == {
        "a": "C0000000007", "b": "C0000000007", "c": "C0000000008", "d": "C0000000009",
    }  # fmt: skip
    assert result.retired == [] and result.new_ids == ["C0000000008", "C0000000009"]


def _registry_case(rnd: random.Random) -> tuple[list[list[str]], dict[str, str]]:
    """Groups of source ids, and earlier master ids of most of them (some of another format)."""
    ids = [f"s{i:02d}" for i in range(rnd.randint(1, 40))]
    previous = {
        i: f"C{rnd.randint(1, 12):010d}" if rnd.random() < 0.8 else rnd.choice(["X1", "C", "C1a"])
        for i in ids
        if rnd.random() < 0.85
    }
    rnd.shuffle(ids)
    groups, start = [], 0
    while start < len(ids):
        size = rnd.randint(1, 4)
        groups.append(ids[start : start + size])
        start += size
    return groups, previous


@pytest.mark.parametrize("seed", range(200))
def test_registry_rules_hold_on_random_merges_and_splits(seed: int) -> None:
    """The module's rules, checked one by one on random regroupings of old clusters: each old id
    goes to the group holding most of its records (ties: smallest source id), a group awarded
    several keeps the oldest and retires the others into it, the others get new sequences in
    the order of their smallest source id, after every sequence issued."""
    rnd = random.Random(seed)
    groups, previous = _registry_case(rnd)
    result = assign_master_ids(groups, previous, 20)
    ordered = sorted((sorted(g) for g in groups), key=lambda g: g[0])
    holders: dict[str, list[tuple[int, str]]] = {}
    for group in ordered:
        for old in {previous[m] for m in group if m in previous}:
            records = sum(previous.get(m) == old for m in group)
            holders.setdefault(old, []).append((-records, group[0]))
    awarded: dict[str, list[str]] = {}
    for old, places in holders.items():
        awarded.setdefault(min(places)[1], []).append(old)
    sequence = lambda i: int(i[1:]) if i[1:].isdigit() and i[0] == "C" else 0  # noqa: E731
    expected_new, retired, next_seq = [], [], 21
    for group in ordered:
        olds = sorted(awarded.get(group[0], []), key=lambda i: (sequence(i), i))
        if olds:
            master = olds[0]
            retired += [(old, master) for old in olds[1:]]
        else:
            master = f"C{next_seq:010d}"
            expected_new.append(master)
            next_seq += 1
        assert {m: result.master_of[m] for m in group} == dict.fromkeys(group, master)
    assert result.new_ids == expected_new and result.retired == retired


# --- steward overrides ------------------------------------------------------------------------


def test_never_merge_splits_a_chain_and_force_merge_joins(tmp_path: Path) -> None:
    rows = [
        helene("h1", email="helene@example.fr"),
        helene("h2", email="helene@example.fr", phone=None),
        helene("h3"),
        customer("p1", first_name="Paul", last_name="Durand", phone="+33611110000"),
        customer("p2", first_name="Pierre", last_name="Leroy", email="pl@example.fr"),
    ]
    db = tmp_path / "w.duckdb"
    _, before = resolve(db, rows)
    assert before["h1"] == before["h2"] == before["h3"]

    overrides = Overrides(never_merge=[("h2", "h3")], force_merge=[("p1", "p2")])
    report, after = resolve(db, rows, overrides)
    assert after["h2"] != after["h3"]
    assert after["p1"] == after["p2"]
    assert report.pairs_by_rule.get("force_merge") == 1
    # h3 also links to h1 (phone): it may follow h1 or stay alone, never with h2.
    assert len({after["h1"], after["h2"], after["h3"]}) >= 2


def test_load_overrides_file(tmp_path: Path) -> None:
    assert load_overrides(tmp_path / "missing.yaml") == Overrides()
    good = tmp_path / "o.yaml"
    good.write_text("never_merge:\n  - [a, 1042]\nforce_merge: []\n")
    assert load_overrides(good) == Overrides(never_merge=[("a", "1042")], force_merge=[])
    bad = tmp_path / "bad.yaml"
    bad.write_text("never_merge:\n  - [a]\n")
    with pytest.raises(ValueError, match="pair"):
        load_overrides(bad)
    assert load_overrides(Path(__file__).parents[1] / "config/identity_overrides.yaml") == (
        Overrides()
    )


# --- Dagster ----------------------------------------------------------------------------------


@pytest.mark.integration
def materialize_identity(db: Path, overrides: Path, as_of: dt.date) -> dict[tuple, dict]:
    """Run the identity step on `db` (state beside the overrides file): each identity table's
    materialization metadata."""
    result = dg.materialize(
        [identity_assets],
        resources={
            "warehouse": Warehouse(path=str(db)),
            "settings": RefreshSettings(
                as_of=as_of.isoformat(),
                identity_overrides_file=str(overrides),
                state_dir=str(overrides.parent / "state"),
            ),
        },
    )
    assert result.success
    return {
        tuple(e.asset_key.path): e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


def test_dagster_multi_asset_materializes_with_metadata(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    write_customers(
        db,
        [
            helene("h1", email="helene@example.fr"),
            helene("h2", first_name="DUPONT", last_name="Helene"),
            customer("p1", first_name="Paul", last_name="Durand", phone="+33611110000"),
            customer("p2", first_name="Pierre", last_name="Leroy", email="pl@example.fr"),
        ],
    )
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("never_merge: []\nforce_merge:\n  - [p1, p2]\n")
    events = materialize_identity(db, overrides, AS_OF)
    assert set(events) == {
        ("identity", t)
        for t in (
            "customer_identity_map",
            "customers",
            "identity_merges",
            "master_id_merges",
            "master_id_successors",
        )
    }
    meta = events[("identity", "customers")]
    assert meta["records_in"].value == 4
    assert meta["master_customers_out"].value == 2
    assert meta["records_merged"].value == 2
    assert meta["dagster/row_count"].value == 2
    assert meta["clusters_by_size"].value == {"2": 2}
    assert meta["pairs_by_rule"].value == {"force_merge": 1, "splink": 1}
    assert events[("identity", "customer_identity_map")]["dagster/row_count"].value == 4


def test_unchanged_records_overrides_and_as_of_keep_the_identity_tables(tmp_path: Path) -> None:
    """A refresh that changed nothing identity reads (a marts setting, new orders only) keeps the
    last resolution's tables; a changed record, the overrides or the as-of date resolve again."""
    db = tmp_path / "w.duckdb"
    rows = [
        helene("h1", email="helene@example.fr"),
        helene("h2", first_name="DUPONT", last_name="Helene"),
        customer("p1", first_name="Paul", last_name="Durand", phone="+33611110000"),
    ]
    write_customers(db, rows)
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("never_merge: []\nforce_merge: []\n")

    def materialize(as_of: dt.date = AS_OF) -> tuple[str, list[tuple]]:
        meta = materialize_identity(db, overrides, as_of)[("identity", "customers")]
        tables = query(
            db,
            "SELECT m.source_customer_id, m.customer_id, g.freshness_days "
            "FROM identity.customer_identity_map m JOIN identity.customers g USING (customer_id) "
            "ORDER BY 1",
        )
        return meta["resolution"].value, tables

    first = materialize()
    assert first[0] == "resolved" and len({m for _, m, _ in first[1]}) == 2
    assert materialize() == ("kept: inputs unchanged", first[1])
    # Rows written in another order: the same records.
    write_customers(db, list(reversed(rows)))
    assert materialize()[0] == "kept: inputs unchanged"
    later = materialize(AS_OF + dt.timedelta(days=30))
    assert later[0] == "resolved"
    assert [f for *_, f in later[1]] == [f + 30 for *_, f in first[1]]
    overrides.write_text("never_merge:\n  - [h1, h2]\nforce_merge: []\n")
    split = materialize(AS_OF + dt.timedelta(days=30))
    assert split[0] == "resolved" and len({m for _, m, _ in split[1]}) == 3
    write_customers(db, [*rows, customer("p9", first_name="Zoe", last_name="Martin")])
    assert materialize(AS_OF + dt.timedelta(days=30))[0] == "resolved"


def test_the_scratch_database_keeps_the_warehouse_memory_limit_threads_and_spill_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Links are scored in an in-memory DuckDB: left to DuckDB's defaults it may take 80% of the
    machine's RAM (seen: 23.4 GB resident at 10M records) and spill into the current folder."""
    db = tmp_path / "w.duckdb"
    write_customers(db, [helene("h1", email="helene@example.fr"), helene("h2")])
    settings = (
        "SELECT current_setting('memory_limit'), current_setting('threads'), "
        "current_setting('temp_directory')"
    )
    opened: list[tuple] = []

    def connect(*args, **kwargs) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(*args, **kwargs)
        opened.append(con.execute(settings).fetchone())
        return con

    # The connections resolve.py opens (splink opens an idle one of its own, not used here).
    monkeypatch.setattr(
        resolve_module, "duckdb", SimpleNamespace(connect=connect, Error=duckdb.Error)
    )
    result = dg.materialize(
        [identity_assets],
        resources={
            "warehouse": Warehouse(path=str(db), memory_limit="300MiB", threads=1),
            "settings": RefreshSettings(as_of=AS_OF.isoformat(), state_dir=str(tmp_path / "s")),
        },
    )
    assert result.success
    limit = duckdb.connect(config={"memory_limit": "300MiB"}).execute(settings).fetchone()[0]
    assert limit != duckdb.connect().execute(settings).fetchone()[0]  # not DuckDB's default
    assert opened == [(limit, 1, f"{db}.identity.tmp")]
