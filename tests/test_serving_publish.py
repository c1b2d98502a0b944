"""Serving publication: contents, PII safety, exports, retention and failure handling."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from serving_helpers import (
    TEST_PII_KEY,
    customer_id,
    make_warehouse,
    served_refresh,
    serving_options,
)

from pipeline.serving import publish as publish_module
from pipeline.serving.exports import LATEST_FILE, latest_refresh
from pipeline.serving.options import PiiKeyMissingError
from pipeline.serving.pii import (
    Pseudonymizer,
    is_pii_column,
    looks_like_pii,
    scan_file,
    scan_relation,
)
from pipeline.serving.publish import PiiLeakError, publish_refresh, serving_path

AS_OF = dt.date(2026, 10, 1)
BI_TABLES = {
    "customer_rfm",
    "segment_kpis",
    "cohort_retention",
    "campaign_exclusions",
    "customer_preferences",
    "segment_map",
    "segment_history",
    "segment_transitions",
    "kpi_history",
}


@pytest.fixture(autouse=True)
def _no_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests cover the files; PostgreSQL has its own test module."""
    monkeypatch.delenv("SEGMENTS_PG_DSN", raising=False)


def publish(
    tmp_path: Path,
    as_of: dt.date = AS_OF,
    run: str = "run-1",
    descriptions: dict | None = None,
    **options: object,
):
    """Publish the warehouse under tmp_path (`descriptions`: the dbt docs, by table)."""
    return publish_refresh(
        warehouse_path=tmp_path / "warehouse.duckdb",
        state_dir=tmp_path / "state",
        as_of=as_of,
        run_id=run,
        options=serving_options(**options),
        descriptions=descriptions,
    )


def test_publication_contents(tmp_path: Path) -> None:
    make_warehouse(tmp_path / "warehouse.duckdb", AS_OF, customers=40)
    result = publish(tmp_path)

    served = serving_path(tmp_path / "state")
    assert result.serving_path == served and served.exists()
    assert set(result.row_counts) == BI_TABLES  # marts + history, nothing from clean/identity
    con = duckdb.connect(str(served), read_only=True)
    try:
        info = con.execute(
            "SELECT refresh_id, as_of, run_id, table_count, total_rows FROM refresh_info"
        ).fetchall()
        assert info == [("2026-10-01", AS_OF, "run-1", 9, sum(result.row_counts.values()))]
        for table, count in result.row_counts.items():
            assert con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == count
            ids = con.execute(f'SELECT DISTINCT refresh_id FROM "{table}"').fetchall()
            assert ids == [("2026-10-01",)]
        rfm_columns = [row[0] for row in con.execute("DESCRIBE customer_rfm").fetchall()]
        assert rfm_columns[:3] == ["refresh_id", "customer_key", "as_of"]
        assert "customer_id" not in rfm_columns
        pref_columns = {row[0] for row in con.execute("DESCRIBE customer_preferences").fetchall()}
        assert pref_columns == {"refresh_id", "customer_key", "preferred_channel"}
        # The key is the HMAC-SHA256 of the master id: same customer, same key in every table.
        expected = hmac.new(
            TEST_PII_KEY.encode(), customer_id(7).encode(), hashlib.sha256
        ).hexdigest()
        assert (
            con.execute(
                "SELECT count(*) FROM customer_rfm r JOIN segment_history h USING (customer_key) "
                "WHERE r.customer_key = ?",
                [expected],
            ).fetchone()[0]
            == 3
        )
        assert con.execute("SELECT count(*) FROM kpi_history").fetchone()[0] == 4
    finally:
        con.close()
    assert result.dropped_columns == {"customer_preferences": ["email", "contact_phone"]}
    # Nothing left behind but the published file and the lock.
    assert sorted(p.name for p in served.parent.iterdir()) == [".publish.lock", "segments.duckdb"]


def test_exports_parquet_csv_and_latest_pointer(tmp_path: Path) -> None:
    make_warehouse(tmp_path / "warehouse.duckdb", AS_OF, customers=10)
    result = publish(tmp_path)
    exports_root = tmp_path / "state" / "exports"
    folder = exports_root / "2026-10-01"
    assert result.export_dir == folder
    for table in [*BI_TABLES, "refresh_info", "refresh_tables"]:
        assert (folder / f"{table}.parquet").exists() and (folder / f"{table}.csv").exists()
    assert (exports_root / "latest").is_symlink()
    assert os.readlink(exports_root / "latest") == "2026-10-01"
    assert (exports_root / LATEST_FILE).read_text().strip() == "2026-10-01"

    con = duckdb.connect()
    parquet_rows = con.execute(
        f"SELECT count(*) FROM read_parquet('{exports_root / 'latest' / 'customer_rfm.parquet'}')"
    ).fetchone()[0]
    assert parquet_rows == result.row_counts["customer_rfm"] == 10
    con.close()

    raw = (folder / "customer_rfm.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    lines = raw[3:].decode("utf-8").splitlines()
    header = lines[0].split(";")
    assert header[:3] == ["refresh_id", "customer_key", "as_of"]
    first = dict(zip(header, lines[1].split(";"), strict=True))
    assert first["monetary"] == "10,50"  # decimal comma for French Excel
    assert "Fidèles" in raw.decode("utf-8")


def test_csv_standard_dialect(tmp_path: Path) -> None:
    make_warehouse(tmp_path / "warehouse.duckdb", AS_OF, customers=3)
    publish(tmp_path, csv_delimiter=",", csv_bom=False, csv_decimal_comma=False)
    text = (tmp_path / "state" / "exports" / "2026-10-01" / "customer_rfm.csv").read_text()
    header, first = text.splitlines()[:2]
    assert header.startswith("refresh_id,customer_key,as_of,")
    assert ",10.50," in first


def test_no_emails_or_phones_in_bi_outputs(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "warehouse.duckdb", AS_OF, customers=30)
    publish(tmp_path)
    # The scanner does find the personal data of the warehouse (so "none found" means something).
    con = duckdb.connect(str(warehouse), read_only=True)
    kinds = {f.kind for f in scan_relation(con, "identity.customers", "identity.customers")}
    con.close()
    assert kinds == {"email", "phone number"}

    served = serving_path(tmp_path / "state")
    con = duckdb.connect(str(served), read_only=True)
    try:
        tables = [row[0] for row in con.execute("SHOW TABLES").fetchall()]
        for table in tables:
            assert scan_relation(con, f'"{table}"', table) == []
            columns = [row[0] for row in con.execute(f'DESCRIBE "{table}"').fetchall()]
            assert not [c for c in columns if is_pii_column(c) or c == "customer_id"]
            # Independent Python check of every value, not only the text columns.
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                assert not [value for value in row if looks_like_pii(str(value))], (table, row)
    finally:
        con.close()
    files = list((tmp_path / "state" / "exports").rglob("*.*"))
    assert len([f for f in files if f.suffix in (".csv", ".parquet")]) == 2 * len(tables)
    for file in files:
        if file.suffix in (".csv", ".parquet"):
            assert scan_file(str(file)) == [], file
    assert not (tmp_path / "state" / "campaign").exists()


def test_campaign_export_only_when_enabled(tmp_path: Path) -> None:
    make_warehouse(tmp_path / "warehouse.duckdb", AS_OF, customers=30)
    result = publish(tmp_path, campaign_export=True)
    folder = tmp_path / "state" / "campaign" / "2026-10-01"
    assert result.campaign_dir == folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    con = duckdb.connect()
    rows = con.execute(
        "SELECT email, segment, customer_key FROM read_parquet(?)",
        [str(folder / "campaign_contacts.parquet")],
    ).fetchall()
    con.close()
    emails = {row[0] for row in rows}
    # Opted in: i % 3 != 0; excluded (campaign_exclusions): i = 1, 6, 11, ...
    expected = {f"client{i}@example.fr" for i in range(1, 31) if i % 3 != 0 and (i - 1) % 5 != 0}
    assert emails == expected and result.campaign_rows == len(expected)
    assert {f.kind for f in scan_file(str(folder / "campaign_contacts.csv"))} == {"email"}
    # The BI outputs stay clean even with the campaign export on.
    for file in (tmp_path / "state" / "exports").rglob("*.parquet"):
        assert scan_file(str(file)) == []


@pytest.mark.parametrize("umask", [0o077, 0o022])
def test_bi_outputs_get_their_documented_modes_whatever_the_umask(tmp_path: Path, umask) -> None:
    make_warehouse(tmp_path / "warehouse.duckdb", AS_OF)
    previous = os.umask(umask)
    try:
        publish(tmp_path)
    finally:
        os.umask(previous)
    state = tmp_path / "state"
    modes = {
        path.relative_to(state).as_posix(): stat.S_IMODE(path.lstat().st_mode)
        for path in [state / "serving", serving_path(state), state / "exports"]
        + list((state / "exports").rglob("*"))
        if not path.is_symlink()
    }
    assert modes.pop("serving") == 0o755 and modes.pop("serving/segments.duckdb") == 0o644
    assert modes.pop("exports") == 0o755 and modes.pop("exports/2026-10-01") == 0o755
    assert set(modes.values()) == {0o644}, modes  # every export file and exports/LATEST
    assert {p.name for p in (state / "serving").iterdir()} == {"segments.duckdb", ".publish.lock"}


def test_value_scan_stops_a_leak_and_keeps_previous_refresh(tmp_path: Path) -> None:
    make_warehouse(tmp_path / "warehouse.duckdb", AS_OF, customers=5)
    publish(tmp_path)
    make_warehouse(tmp_path / "warehouse.duckdb", dt.date(2026, 11, 1), customers=5, leak=True)
    with pytest.raises(PiiLeakError, match=r"segment_kpis\.note: 4 value\(s\) look like emails"):
        publish(tmp_path, as_of=dt.date(2026, 11, 1), run="run-2")
    state = tmp_path / "state"
    assert served_refresh(serving_path(state)) == "2026-10-01"
    assert latest_refresh(state / "exports") == "2026-10-01"
    leftovers = [p.name for p in state.rglob("*") if ".tmp" in p.name]
    assert leftovers == []
    # Declaring the column as PII drops it and the publication goes through.
    result = publish(
        tmp_path, as_of=dt.date(2026, 11, 1), run="run-3", extra_pii_columns=["^note$"]
    )
    assert "note" in result.dropped_columns["segment_kpis"]


def test_master_ids_in_clear_stop_the_publication_unless_the_yaml_withholds_the_column(
    tmp_path: Path,
) -> None:
    """A key built from a master id (`as_of|customer_id`) would publish the id the customer key
    hides, and outlive a change of the secret key: the value scan refuses it; the dbt YAML's
    `meta: {publish: false}` (TableDoc.withheld) keeps the column out."""
    from pipeline.identity.registry import format_master_id
    from pipeline.serving.docs import TableDoc

    make_warehouse(tmp_path / "warehouse.duckdb", AS_OF, customers=5)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute(
            "alter table history.segment_history add column history_key varchar default 'x'"
        )
        con.execute(
            "update history.segment_history set history_key = "
            "cast(as_of as varchar) || '|' || ? where customer_id = ?",
            [format_master_id(42), customer_id(1)],
        )
    with pytest.raises(
        PiiLeakError,
        match=r"segment_history\.history_key: 3 value\(s\) look like master customer ids",
    ):
        publish(tmp_path)
    assert not serving_path(tmp_path / "state").exists()

    withheld = TableDoc("History.", withheld=frozenset({"history_key"}))
    result = publish(tmp_path, run="run-withheld", descriptions={"segment_history": withheld})
    assert result.dropped_columns["segment_history"] == ["history_key"]
    with duckdb.connect(str(result.serving_path), read_only=True) as con:
        columns = [row[0] for row in con.execute("DESCRIBE segment_history").fetchall()]
    assert "history_key" not in columns and "customer_key" in columns


def test_every_customer_id_column_gets_its_own_key(tmp_path: Path) -> None:
    """Tables with two customer id columns (a merge: retired and surviving) key each one; ids
    absent (NULL) stay NULL; the keys are computed once per distinct id, in SQL."""
    make_warehouse(tmp_path / "warehouse.duckdb", AS_OF, customers=5)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute(
            "create table marts.merges as select * from (values (?, ?), (?, null)) "
            "v(retired_customer_id, customer_id)",
            [customer_id(1), customer_id(2), customer_id(3)],
        )
    result = publish(tmp_path)

    def key(index: int) -> str:
        return hmac.new(
            TEST_PII_KEY.encode(), customer_id(index).encode(), hashlib.sha256
        ).hexdigest()

    with duckdb.connect(str(result.serving_path), read_only=True) as con:
        rows = con.execute(
            "select retired_customer_key, customer_key from merges order by 1"
        ).fetchall()
        # The temporary table of keys stays out of the published file.
        tables = {
            row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()
        }
    assert sorted(rows, key=repr) == sorted([(key(1), key(2)), (key(3), None)], key=repr)
    assert publish_module.KEY_TABLE not in tables


def test_missing_pii_key_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_warehouse(tmp_path / "warehouse.duckdb", AS_OF, customers=3)
    monkeypatch.delenv("SEGMENTS_PII_KEY", raising=False)
    with pytest.raises(PiiKeyMissingError, match="SEGMENTS_PII_KEY"):
        publish(tmp_path, pii_key="")
    assert not serving_path(tmp_path / "state").exists()
    with pytest.raises(PiiKeyMissingError, match="too short"):
        publish(tmp_path, pii_key="short")
    # The environment variable is the normal way to provide it.
    monkeypatch.setenv("SEGMENTS_PII_KEY", "a-key-from-the-environment")
    assert publish(tmp_path, pii_key="").row_counts["customer_rfm"] == 3


def test_dev_key_is_generated_once_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_warehouse(tmp_path / "warehouse.duckdb", AS_OF, customers=3)
    monkeypatch.delenv("SEGMENTS_PII_KEY", raising=False)

    def keys() -> set[str]:
        con = duckdb.connect(str(serving_path(tmp_path / "state")), read_only=True)
        try:
            return {
                row[0] for row in con.execute("SELECT customer_key FROM customer_rfm").fetchall()
            }
        finally:
            con.close()

    publish(tmp_path, pii_key="", generate_dev_pii_key=True)
    key_file = tmp_path / "state" / "serving" / "pii_key.dev"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = keys()
    publish(tmp_path, pii_key="", generate_dev_pii_key=True, run="run-2")
    assert keys() == first and len(first) == 3


def test_retention_keeps_last_k_refreshes(tmp_path: Path) -> None:
    days = [dt.date(2026, m, 1) for m in (6, 7, 8, 9)]
    removed = []
    for index, day in enumerate(days):
        make_warehouse(tmp_path / "warehouse.duckdb", day, customers=3)
        removed += publish(
            tmp_path, as_of=day, run=f"run-{index}", keep_refreshes=2
        ).removed_refreshes
    exports_root = tmp_path / "state" / "exports"
    kept = sorted(p.name for p in exports_root.iterdir() if not p.name.startswith(("l", "L", ".")))
    assert kept == ["2026-08-01", "2026-09-01"]
    assert sorted(removed) == ["2026-06-01", "2026-07-01"]
    assert latest_refresh(exports_root) == "2026-09-01"
    # Re-publishing an existing refresh id replaces its folder in place.
    publish(tmp_path, as_of=days[-1], run="run-again", keep_refreshes=2)
    assert (exports_root / "2026-09-01" / "customer_rfm.parquet").exists()
    assert [p.name for p in exports_root.iterdir() if p.name.startswith(".")] == []


def test_descriptions_become_comments_and_the_data_dictionary(tmp_path: Path) -> None:
    """dbt descriptions are the comments of the published tables and columns; the publication
    describes its own columns (refresh_id, customer_key) and tables, and lists them all."""
    from pipeline.serving.docs import CUSTOMER_KEY_DESCRIPTION, TableDoc

    make_warehouse(tmp_path / "warehouse.duckdb", AS_OF, customers=20)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        rfm_columns = [
            name
            for (name,) in con.execute(
                "select column_name from duckdb_columns() "
                "where schema_name = 'marts' and table_name = 'customer_rfm'"
            ).fetchall()
        ]
    descriptions = {
        "customer_rfm": TableDoc(
            "One row per scored customer.", {name: f"About {name}." for name in rfm_columns}
        ),
        "segment_kpis": TableDoc("KPIs, it's per segment.", {"segment": "Segment, or 'All'."}),
    }
    result = publish(tmp_path, run="run-docs", descriptions=descriptions)
    assert "customer_rfm" not in result.undescribed_columns
    assert "segment" not in result.undescribed_columns["segment_kpis"]
    assert "customers" in result.undescribed_columns["segment_kpis"]
    with duckdb.connect(str(result.serving_path), read_only=True) as con:
        tables = dict(
            con.execute(
                "select table_name, comment from duckdb_tables() "
                "where database_name = current_database() and schema_name = 'main'"
            ).fetchall()
        )
        assert tables["customer_rfm"] == "One row per scored customer."
        assert tables["segment_kpis"] == "KPIs, it's per segment."
        assert tables["refresh_info"].startswith("Which refresh")
        columns = {
            (t, c): comment
            for t, c, comment in con.execute(
                "select table_name, column_name, comment from duckdb_columns() "
                "where database_name = current_database() and schema_name = 'main'"
            ).fetchall()
        }
        assert columns[("customer_rfm", "customer_key")] == CUSTOMER_KEY_DESCRIPTION
        assert columns[("customer_rfm", "recency_days")] == "About recency_days."
        assert columns[("segment_kpis", "refresh_id")].startswith("Refresh this row")
        assert columns[("segment_kpis", "customers")] is None
        dictionary = {
            (t, c): d
            for t, c, d in con.execute(
                "select table_name, column_name, description from data_dictionary"
            ).fetchall()
        }
        assert dictionary[("segment_kpis", "segment")] == "Segment, or 'All'."
        assert dictionary[("customer_rfm", "")] == "One row per scored customer."
        assert dictionary[("data_dictionary", "description")] == "What the table or column holds."
        # Every column of every table is listed, the dictionary itself included.
        assert len(dictionary) == len(columns) + len(tables)


@pytest.mark.parametrize(
    "key",
    [b"k", TEST_PII_KEY.encode(), b"x" * 64, "une clé bien plus longue que le bloc".encode() * 3],
)
def test_the_sql_keyed_hash_is_hmac_sha256_for_any_key_length(key: bytes) -> None:
    """The macro the publication hashes with gives Python's HMAC-SHA256 digests: keys shorter
    than SHA-256's 64-byte block, exactly one block, and longer ones (hashed first)."""
    ids = ["C1", "100016", "Ölaf-é", "", "E" * 300, None]
    with duckdb.connect() as con:
        name = Pseudonymizer(key).register(con)
        con.execute("CREATE TABLE ids AS SELECT * FROM (SELECT unnest(?) AS customer_id)", [ids])
        got = con.execute(f"SELECT {name}(customer_id) FROM ids").fetchall()
        # TEMP: the macro (and the padded key in it) stays out of the database written.
        assert con.execute(
            "SELECT list(database_name) FROM duckdb_functions() WHERE function_name = ?", [name]
        ).fetchone() == (["temp"],)
    expected = [
        None if i is None else hmac.new(key, i.encode(), hashlib.sha256).hexdigest() for i in ids
    ]
    assert [row[0] for row in got] == expected


def test_the_serving_file_is_built_within_the_warehouse_memory_limit_and_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection that builds the serving file (and hashes every customer id) takes the
    warehouse's DuckDB settings, not DuckDB's default of 80% of the machine's RAM."""
    make_warehouse(tmp_path / "warehouse.duckdb", AS_OF, customers=40)
    settings = "SELECT current_setting('memory_limit'), current_setting('threads')"
    opened: list[tuple] = []

    def connect(*args, **kwargs) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(*args, **kwargs)
        opened.append(con.execute(settings).fetchone())
        return con

    monkeypatch.setattr(publish_module, "duckdb", SimpleNamespace(connect=connect))
    result = publish_refresh(
        warehouse_path=tmp_path / "warehouse.duckdb",
        state_dir=tmp_path / "state",
        as_of=AS_OF,
        run_id="run-limits",
        options=serving_options(),
        duckdb_config={"memory_limit": "300MiB", "threads": 1},
    )
    assert result.row_counts["customer_rfm"] > 0
    limit = duckdb.connect(config={"memory_limit": "300MiB"}).execute(settings).fetchone()[0]
    assert opened == [(limit, 1)]
