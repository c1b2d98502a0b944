"""Incremental extraction: a landing file loaded earlier with the same content, mapping and reader
code is not read again, and the raw and clean tables equal those of a full load of the same files.

Real demo exports (with their faults) in real DuckDB files; every path of issue "refresh in
seconds when a month lands" that touches extraction: a new file, a changed file, a removed
file, a mapping change, `full`.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
from test_ingest_support import LOG, write
from warehouse_helpers import columns_except

from pipeline.demo.generator import generate_demo
from pipeline.ingest import MissingEntityError, clean_entities, extract_landing, load_mapping
from pipeline.ingest.entities import ENTITIES
from pipeline.ingest.extract import CONTENT_CHANGED, FULL_RELOAD, NEW_FILE, READER_CHANGED

AS_OF = dt.date(2026, 10, 1)
#: The month that "lands" after the base load.
NEW = "orders_2026.csv"


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small demo exports with every planted fault."""
    out = tmp_path_factory.mktemp("incremental")
    generate_demo(out, customers=300, orders=1200, seed=11, as_of=AS_OF)
    return out / "landing"


def copy_landing(exports: Path, target: Path, without: tuple[str, ...] = ()) -> Path:
    """A private landing directory: the exports' files but `without`
    (tests/test_refresh_incremental.py uses it too)."""
    target.mkdir()
    for path in exports.iterdir():
        if path.name not in without:
            shutil.copy(path, target / path.name)
    return target


def _load(con: duckdb.DuckDBPyConnection, landing: Path, mapping=None, full: bool = False):
    report = extract_landing(con, landing, mapping or load_mapping(None), LOG, full=full)
    clean_entities(con, AS_OF, "EUR", LOG, date_floor=dt.date(1900, 1, 1))
    return report


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every raw and clean table, sorted, without the load times and what says how the last
    cleaning ran (its id, mode and the rows a delta cleaned: the only things that differ)."""
    out = {}
    for schema, table in con.execute(
        "select schema_name, table_name from duckdb_tables() where schema_name in ('raw', 'clean') "
        "and table_name <> 'file_registry' and not suffix(table_name, '__delta') order by 1, 2"
    ).fetchall():
        run = ("_loaded_at", "loaded_at", "mode", "cleaning_id", "previous_id")
        columns = columns_except(con, schema, table, run)
        select = ", ".join(f'"{c}"' for c in columns)
        rows = con.execute(f"select {select} from {schema}.{table}").fetchall()
        out[f"{schema}.{table}"] = sorted(rows, key=repr)
    return out


def _full(exports: Path, tmp_path: Path, landing: Path, mapping=None) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(tmp_path / "full.duckdb"))
    _load(con, landing, mapping)
    try:
        return _tables(con)
    finally:
        con.close()


def test_a_new_file_is_the_only_one_read_and_the_tables_equal_a_full_load(
    exports: Path, tmp_path: Path
) -> None:
    landing = copy_landing(exports, tmp_path / "landing", without=(NEW,))
    con = duckdb.connect(str(tmp_path / "incremental.duckdb"))
    first = _load(con, landing)
    assert set(first.read.values()) == {NEW_FILE} and first.reused == []
    # Load times are kept to the second and both loads can fall in the same one: the first load
    # is dated a day back, so a file read again (stamped now) cannot look kept.
    con.execute("update raw.file_registry set loaded_at = loaded_at - interval 1 day")
    con.execute("update raw.orders set _loaded_at = _loaded_at - interval 1 day")
    loaded = dict(con.execute("select source_file, loaded_at from raw.file_registry").fetchall())
    (orders_loaded,) = con.execute("select distinct _loaded_at from raw.orders").fetchone()

    shutil.copy(exports / NEW, landing / NEW)
    second = _load(con, landing)
    assert second.read == {NEW: NEW_FILE}
    assert sorted(second.reused) == sorted(loaded)
    # The files kept are not loaded again: their rows keep the time of their first load.
    again = dict(con.execute("select source_file, loaded_at from raw.file_registry").fetchall())
    assert {f: again[f] for f in loaded} == loaded and again[NEW] > max(loaded.values())
    kept_rows = con.execute(
        "select distinct _loaded_at from raw.orders where _source_file <> ?", [NEW]
    ).fetchall()
    assert kept_rows == [(orders_loaded,)]
    rows = con.execute("select count(*) from raw.orders where _source_file = ?", [NEW]).fetchone()
    assert rows[0] > 100
    assert _tables(con) == _full(exports, tmp_path, landing)


def test_a_changed_file_is_read_again_and_the_tables_equal_a_full_load(
    exports: Path, tmp_path: Path
) -> None:
    landing = copy_landing(exports, tmp_path / "landing")
    con = duckdb.connect(str(tmp_path / "incremental.duckdb"))
    _load(con, landing)
    refunds = landing / "refunds.csv"
    lines = refunds.read_bytes().rstrip(b"\n").split(b"\n")
    # The export drops its last refund and changes nothing else.
    refunds.write_bytes(b"\n".join(lines[:-1]) + b"\n")
    report = _load(con, landing)
    assert report.read == {"refunds.csv": CONTENT_CHANGED}
    assert len(report.reused) == len(list(landing.iterdir())) - 1
    assert con.execute("select count(*) from raw.refunds").fetchone()[0] == len(lines) - 2
    assert _tables(con) == _full(exports, tmp_path, landing)


def test_a_removed_file_drops_its_rows_and_the_tables_equal_a_full_load(
    exports: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows of a file gone from the landing must not keep counting, even for an entity left with
    no file at all (refunds here); the report and the log name each file with its rows."""
    landing = copy_landing(exports, tmp_path / "landing")
    con = duckdb.connect(str(tmp_path / "incremental.duckdb"))
    _load(con, landing)
    loaded = dict(con.execute("select source_file, rows_read from raw.file_registry").fetchall())
    assert loaded[NEW] > 100 and loaded["refunds.csv"] > 10
    (landing / NEW).unlink()
    (landing / "refunds.csv").unlink()
    with caplog.at_level("INFO", logger=LOG.name):
        report = _load(con, landing)
    assert report.read == {}
    assert sorted(report.reused) == sorted(p.name for p in landing.iterdir())
    assert [(f.entity, f.source_file, f.rows) for f in report.removed] == [
        ("orders", NEW, loaded[NEW]),
        ("refunds", "refunds.csv", loaded["refunds.csv"]),
    ]
    for name in (NEW, "refunds.csv"):
        assert f"{name}: removed from landing, its {loaded[name]} raw rows dropped" in caplog.text
    for table in ("raw.orders", "raw.refunds", "raw.file_registry", "clean.load_log"):
        column = "source_file" if "_log" in table or "registry" in table else "_source_file"
        gone = con.execute(
            f"select count(*) from {table} where {column} in (?, ?)", [NEW, "refunds.csv"]
        ).fetchone()[0]
        assert gone == 0, table
    assert con.execute("select count(*) from clean.orders").fetchone()[0] > 100
    assert _tables(con) == _full(exports, tmp_path, landing)
    # Back in the landing later, both files are new again: the tables equal a full load of all.
    shutil.copy(exports / NEW, landing / NEW)
    shutil.copy(exports / "refunds.csv", landing / "refunds.csv")
    report = _load(con, landing)
    assert report.read == {NEW: NEW_FILE, "refunds.csv": NEW_FILE} and report.removed == []
    (tmp_path / "all").mkdir()
    assert _tables(con) == _full(exports, tmp_path / "all", landing)


def test_full_reads_every_file_and_still_drops_a_removed_one(exports: Path, tmp_path: Path) -> None:
    landing = copy_landing(exports, tmp_path / "landing")
    con = duckdb.connect(str(tmp_path / "incremental.duckdb"))
    _load(con, landing)
    (landing / NEW).unlink()
    report = _load(con, landing, full=True)
    assert set(report.read.values()) == {FULL_RELOAD} and NEW not in report.read
    assert [f.source_file for f in report.removed] == [NEW]
    assert _tables(con) == _full(exports, tmp_path, landing)


def test_removing_every_orders_file_still_fails_and_drops_nothing(
    exports: Path, tmp_path: Path
) -> None:
    landing = copy_landing(exports, tmp_path / "landing")
    con = duckdb.connect(str(tmp_path / "incremental.duckdb"))
    _load(con, landing)
    before = _tables(con)
    for path in landing.glob("orders*"):
        path.unlink()
    with pytest.raises(MissingEntityError):
        extract_landing(con, landing, load_mapping(None), LOG)
    assert con.execute("select count(*) from raw.file_registry").fetchone()[0] == len(
        list(exports.iterdir())
    )
    assert _tables(con) == before


def test_a_file_matched_as_another_entity_leaves_no_rows_under_the_former(tmp_path: Path) -> None:
    """A mapping pattern moves a file to another entity: it is read again as that entity, and its
    rows under the former one go (loading only replaces the rows of the entity it loads)."""
    landing = tmp_path / "landing"
    write(landing / "orders.csv", "order_id,customer_id,order_date,amount\nO1,C1,2024-01-02,10\n")
    write(landing / "crm.csv", "ticket_id,customer_id,created_at\nT1,C1,2024-02-03\n")
    as_customers = write(tmp_path / "a.yml", "entities:\n  customers:\n    pattern: 'crm*'\n")
    as_tickets = write(tmp_path / "b.yml", "entities:\n  support_tickets:\n    pattern: 'crm*'\n")
    con = duckdb.connect()

    def rows(entity: str) -> int:
        return con.execute(
            f"select count(*) from raw.{entity} where _source_file = 'crm.csv'"
        ).fetchone()[0]

    extract_landing(con, landing, load_mapping(as_customers), LOG)
    assert (rows("customers"), rows("support_tickets")) == (1, 0)
    report = extract_landing(con, landing, load_mapping(as_tickets), LOG)
    assert report.read == {"crm.csv": CONTENT_CHANGED} and report.removed == []
    assert (rows("customers"), rows("support_tickets")) == (0, 1)


def test_a_mapping_change_reads_that_entity_again_and_full_reads_everything(
    exports: Path, tmp_path: Path
) -> None:
    landing = copy_landing(exports, tmp_path / "landing")
    con = duckdb.connect(str(tmp_path / "incremental.duckdb"))
    _load(con, landing)
    assert _load(con, landing).read == {}
    mapping_file = tmp_path / "mapping.yml"
    mapping_file.write_text("entities:\n  refunds:\n    delimiter: ','\n")
    mapping = load_mapping(mapping_file)
    report = _load(con, landing, mapping)
    assert report.read == {"refunds.csv": READER_CHANGED}
    report = _load(con, landing, mapping, full=True)
    assert set(report.read.values()) == {FULL_RELOAD} and report.reused == []
    assert len(report.read) == len(list(landing.iterdir()))
    assert _tables(con) == _full(exports, tmp_path, landing, mapping)
    assert {e for (e,) in con.execute("select entity from raw.file_registry").fetchall()} <= set(
        ENTITIES
    )


def test_the_ingest_assets_reuse_unchanged_files_unless_run_with_full(
    exports: Path, tmp_path: Path
) -> None:
    """The run config `segments refresh --full` sets reaches both assets (real Dagster runs):
    every file read and every row cleaned again; and a file removed from the landing is named
    in the extraction's metadata with its rows."""
    import dagster as dg

    from pipeline.cli import FULL_RELOAD_RUN_CONFIG
    from pipeline.ingest.assets import QUARANTINE_KEY, RAW_KEYS
    from pipeline.ingest.assets import clean_entities as clean_asset
    from pipeline.ingest.assets import extract_landing as extract_asset
    from pipeline.lib.resources import RefreshSettings, Warehouse

    landing = copy_landing(exports, tmp_path / "landing")
    resources = {
        "warehouse": Warehouse(path=str(tmp_path / "warehouse.duckdb")),
        "settings": RefreshSettings(
            state_dir=str(tmp_path / "state"), as_of=AS_OF.isoformat(), landing_dir=str(landing)
        ),
    }
    removed: dict = {}
    cleaning: list[str] = []

    def files(run_config: dict) -> tuple[int, int]:
        result = dg.materialize(
            [extract_asset, clean_asset], resources=resources, run_config=run_config
        )
        meta = {
            m.asset_key: m.metadata
            for m in result.asset_materializations_for_node("extract_landing")
        }[RAW_KEYS["orders"]]
        removed.update(meta["files_removed"].value)
        nodes = result.asset_materializations_for_node("clean_entities")
        cleaned = {m.asset_key: m.metadata for m in nodes}[QUARANTINE_KEY]
        cleaning.append(f"{cleaned['cleaning'].value} ({cleaned['raw_rows_cleaned'].value})")
        return len(meta["files_read"].value), len(meta["files_reused"].value)

    orders = len(list(landing.glob("orders*")))
    assert files({}) == (orders, 0)
    assert files({}) == (0, orders)
    assert files(FULL_RELOAD_RUN_CONFIG) == (orders, 0) and removed == {}
    rows = cleaning[0].rsplit("(", 1)[1]
    assert int(rows.rstrip(")")) > 1000
    assert cleaning == [
        f"everything: no earlier cleaning in this warehouse ({rows}",
        "a delta: nothing new since the last cleaning: the clean tables stand (0)",
        f"everything: full cleaning requested ({rows}",
    ]
    with duckdb.connect(resources["warehouse"].path) as con:
        (rows,) = con.execute(
            "select count(*) from raw.orders where _source_file = ?", [NEW]
        ).fetchone()
    (landing / NEW).unlink()
    assert files({}) == (0, orders - 1)
    assert removed == {NEW: rows} and rows > 100
