"""Ingest domain: landing exports to raw and clean tables."""

import dagster as dg

from pipeline.ingest.assets import clean_entities, extract_landing

defs = dg.Definitions(assets=[extract_landing, clean_entities])
