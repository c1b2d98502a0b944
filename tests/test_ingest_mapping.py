"""Mapping YAML parsing and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ingest_support import DATA, write

from pipeline.ingest.mapping import ColumnSpec, MappingError, load_mapping


def test_no_mapping_gives_defaults() -> None:
    mapping = load_mapping(None)
    assert mapping.entities == {}
    assert mapping.for_entity("orders").delimiter == "auto"


def test_fixture_mapping_parses_every_column_kind() -> None:
    orders = load_mapping(DATA / "mapping_commandes.yaml").for_entity("orders")
    assert orders.pattern == "commandes*.csv"
    assert orders.delimiter == ";"
    assert orders.columns["order_id"] == ColumnSpec(source="N° commande")
    assert orders.columns["amount"] == ColumnSpec(expr='"Qté" * "Prix unitaire"')
    assert orders.columns["currency"] == ColumnSpec(const="EUR")
    assert orders.columns["amount"].kind == "expr"


def test_encoding_aliases_and_tab(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.yaml",
        "entities:\n  refunds:\n    encoding: Windows-1252\n"
        '    delimiter: "\\t"\n    date_format: "%d.%m.%Y"\n',
    )
    refunds = load_mapping(path).for_entity("refunds")
    assert (refunds.encoding, refunds.delimiter, refunds.date_format) == (
        "cp1252",
        "\t",
        "%d.%m.%Y",
    )


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("entities:\n  invoices: {}\n", "entities.invoices"),
        ("entities:\n  orders:\n    delimiter: '|'\n", "entities.orders.delimiter"),
        ("entities:\n  orders:\n    encoding: utf-16\n", "entities.orders.encoding"),
        ("entities:\n  orders:\n    decimal_separator: x\n", "entities.orders.decimal_separator"),
        ("entities:\n  orders:\n    date_format: '%Y'\n", "entities.orders.date_format"),
        ("entities:\n  orders:\n    colums: {}\n", "entities.orders"),
        ("entities:\n  orders:\n    columns:\n      total: x\n", "entities.orders.columns.total"),
        (
            "entities:\n  orders:\n    columns:\n      amount: {expr: 'select 1'}\n",
            "entities.orders.columns.amount.expr",
        ),
        (
            "entities:\n  orders:\n    columns:\n      amount: {expr: '(a + b'}\n",
            "entities.orders.columns.amount.expr",
        ),
        (
            "entities:\n  orders:\n    columns:\n      amount: {sum: a}\n",
            "entities.orders.columns.amount",
        ),
        ("other: 1\n", "unknown top-level key"),
    ],
)
def test_invalid_mapping_names_the_key(tmp_path: Path, body: str, key: str) -> None:
    path = write(tmp_path / "mapping.yaml", body)
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert key in str(err.value)
    assert str(path) in str(err.value)


def test_missing_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_mapping(tmp_path / "nope.yaml")
