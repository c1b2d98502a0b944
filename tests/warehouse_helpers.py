"""Helpers for tests that write a synthetic warehouse by hand (this module holds no tests)."""

from __future__ import annotations

import duckdb

from pipeline.ingest.clean import OUTPUT

#: Optional inputs the dbt sources read even when no export landed (cleaning creates them empty).
OPTIONAL_SOURCES = ("campaign_contacts", "marketing_spend")


def create_optional_sources(con: duckdb.DuckDBPyConnection) -> None:
    """Empty clean tables of the optional entities, with the columns cleaning gives them."""
    for entity in OPTIONAL_SOURCES:
        columns = ", ".join(f"{name} {sql_type}" for name, sql_type in OUTPUT[entity])
        con.execute(f"create table clean.{entity} ({columns})")
