"""Serving domain: publish the BI-facing marts atomically (DuckDB file, Parquet/CSV, PostgreSQL).

The pipeline only writes its private build warehouse. This package copies the BI-facing tables
out of it into outputs that readers can use while the next refresh is being built, with
pseudonymous customer keys instead of personal data.
"""
