"""Quality domain: Great Expectations gates that block publication of bad data.

Gate definitions live in `expectations/*.yml` (one file per gate); `suites` loads them,
`runner` validates DuckDB query results with GX 1.x, `checks` turns each gate into a blocking
Dagster asset check and `definitions` attaches the checks to the assets they protect.
"""
