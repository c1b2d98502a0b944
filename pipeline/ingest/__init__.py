"""Ingestion library: landing files -> `raw.*` (extract) -> `clean.*` + quarantine (clean).

The Dagster assets in `pipeline.ingest.assets` wrap these functions; they hold no Dagster code.
"""

from pipeline.ingest.clean import CleanReport, EntityCounts, clean_entities
from pipeline.ingest.entities import ENTITIES, EntitySpec
from pipeline.ingest.extract import (
    ExtractReport,
    FileReport,
    IngestError,
    MissingColumnError,
    MissingEntityError,
    extract_landing,
)
from pipeline.ingest.mapping import Mapping, MappingError, load_mapping

__all__ = [
    "ENTITIES",
    "CleanReport",
    "EntityCounts",
    "EntitySpec",
    "ExtractReport",
    "FileReport",
    "IngestError",
    "Mapping",
    "MappingError",
    "MissingColumnError",
    "MissingEntityError",
    "clean_entities",
    "extract_landing",
    "load_mapping",
]
