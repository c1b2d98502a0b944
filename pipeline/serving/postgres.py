"""Optional PostgreSQL publication: load a fresh schema, then swap it in with one transaction.

Readers query `<schema>.<table>` (default `segments`). A publication:
1. loads every table into a new schema `<schema>_new_<refresh>_<run>` with COPY (invisible to
   readers, who only know the live name), and commits;
2. in ONE transaction locks the live tables (waiting for open reader transactions that have read
   them to finish), renames the live schema aside, renames the new one to the live name, drops
   the old one, and commits. A reader therefore sees the previous refresh or the new one, never
   a mix; a reader transaction that keeps reading delays the swap (up to `lock_timeout`).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import psycopg
from psycopg import sql

from pipeline.lib.sql import quote_ident, sql_literal
from pipeline.serving.docs import table_comments

#: DuckDB type -> PostgreSQL type; anything else is published as text (cast in DuckDB).
_SIMPLE_TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(39,0)",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric(20,0)",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "VARCHAR": "text",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval",
    "UUID": "uuid",
}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")


def pg_type(duckdb_type: str) -> tuple[str, bool]:
    """PostgreSQL column type for a DuckDB type, and whether DuckDB must cast it to text first."""
    if duckdb_type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[duckdb_type], False
    match = _DECIMAL.match(duckdb_type)
    if match:
        return f"numeric({match.group(1)},{match.group(2)})", False
    # Lists, structs, maps, enums, blobs: their DuckDB text form keeps them readable in BI.
    return "text", True


class PostgresPublisher:
    """Publishes the serving tables of one refresh to PostgreSQL (see the module docstring)."""

    def __init__(
        self,
        dsn: str,
        schema: str = "segments",
        reader_role: str = "",
        lock_timeout_seconds: int = 300,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", schema):
            raise ValueError(f"pg_schema must be a lower-case identifier, got {schema!r}")
        self.dsn = dsn
        self.schema = schema
        self.reader_role = reader_role
        self.lock_timeout_seconds = lock_timeout_seconds
        self._log = log or (lambda message: None)
        self._conn: psycopg.Connection | None = None

    # Connection and mutual exclusion -------------------------------------------------------

    def __enter__(self) -> PostgresPublisher:
        # Autocommit: every multi-statement step below runs in an explicit `transaction()`.
        self._conn = psycopg.connect(self.dsn, autocommit=True)
        locked = self._conn.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s))", [f"segments-publication:{self.schema}"]
        ).fetchone()[0]
        if not locked:
            self._conn.close()
            raise RuntimeError(
                f"another publication to PostgreSQL schema {self.schema!r} is running"
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._conn is not None:
            # Closing the session releases the advisory lock.
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> psycopg.Connection:
        """The open connection (inside `with`)."""
        if self._conn is None:
            raise RuntimeError("PostgresPublisher must be used as a context manager")
        return self._conn

    # Steps ---------------------------------------------------------------------------------

    def clean_debris(self) -> list[str]:
        """Drop half-loaded or left-over schemas of killed publications (we hold the lock)."""
        prefixes = [f"{self.schema}_new_", f"{self.schema}_old_"]
        rows = self.conn.execute(
            "SELECT nspname FROM pg_namespace WHERE left(nspname, %s) = %s "
            "OR left(nspname, %s) = %s ORDER BY 1",
            [len(prefixes[0]), prefixes[0], len(prefixes[1]), prefixes[1]],
        ).fetchall()
        for (name,) in rows:
            self.conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
            self._log(f"dropped left-over PostgreSQL schema {name}")
        return [name for (name,) in rows]

    def load(
        self,
        con: duckdb.DuckDBPyConnection,
        tables: list[str],
        tag: str,
        workdir: Path,
    ) -> tuple[str, dict[str, int]]:
        """COPY the DuckDB tables of `con` into a new schema; returns it and its row counts."""
        new_schema = f"{self.schema}_new_{re.sub(r'[^a-z0-9]', '', tag.lower())}"[:63]
        workdir.mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}
        try:
            with self.conn.transaction():
                self.conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(new_schema)))
                for table in tables:
                    counts[table] = self._load_table(con, new_schema, table, workdir)
                if self.reader_role:
                    role = sql.Identifier(self.reader_role)
                    schema = sql.Identifier(new_schema)
                    self.conn.execute(
                        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role)
                    )
                    self.conn.execute(
                        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
                            schema, role
                        )
                    )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return new_schema, counts

    def _load_table(
        self, con: duckdb.DuckDBPyConnection, new_schema: str, table: str, workdir: Path
    ) -> int:
        """Create one table and COPY its rows through a CSV file written by DuckDB."""
        columns = con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()
        definitions, select = [], []
        for name, duck_type, *_ in columns:
            target_type, as_text = pg_type(duck_type)
            definitions.append(sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(target_type)))
            col = quote_ident(name)
            select.append(f"CAST({col} AS VARCHAR) AS {col}" if as_text else col)
        target = sql.Identifier(new_schema, table)
        self.conn.execute(
            sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(definitions))
        )
        # The serving file's comments (the dbt descriptions) become PostgreSQL comments.
        table_comment, column_comments = table_comments(con, table)
        if table_comment:
            self.conn.execute(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(target, sql.Literal(table_comment))
            )
        for column, comment in column_comments.items():
            self.conn.execute(
                sql.SQL("COMMENT ON COLUMN {} IS {}").format(
                    sql.Identifier(new_schema, table, column), sql.Literal(comment)
                )
            )
        csv_path = workdir / f"{table}.csv"
        literal = sql_literal(csv_path)
        # DuckDB writes NULL as an empty field and '' as "": PostgreSQL's CSV format reads
        # exactly that distinction back.
        con.execute(
            f"COPY (SELECT {', '.join(select)} FROM {quote_ident(table)}) TO {literal} "
            "(FORMAT csv, HEADER false, DELIMITER ',', QUOTE '\"')"
        )
        with self.conn.cursor() as cur:
            with (
                cur.copy(sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv)").format(target)) as copy,
                open(csv_path, "rb") as source,
            ):
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
        csv_path.unlink()
        loaded = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchone()
        expected = con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()
        if loaded[0] != expected[0]:
            raise RuntimeError(
                f"PostgreSQL load of {table}: {loaded[0]} rows loaded, {expected[0]} expected"
            )
        return int(loaded[0])

    def swap(self, new_schema: str, tag: str, attempts: int = 3) -> None:
        """Make `new_schema` the live schema in one transaction (see the module docstring).

        A reader that reads the live tables in another order than the swap locks them can
        deadlock with it; PostgreSQL then aborts one side, and the swap is retried.
        """
        for attempt in range(1, attempts + 1):
            try:
                self._swap_once(new_schema, tag)
                return
            except psycopg.errors.DeadlockDetected:
                if attempt == attempts:
                    self.conn.execute(
                        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                            sql.Identifier(new_schema)
                        )
                    )
                    raise
                self._log(f"schema swap deadlocked with a reader, retrying ({attempt})")

    def _swap_once(self, new_schema: str, tag: str) -> None:
        """One attempt of the swap transaction."""
        live = sql.Identifier(self.schema)
        old_name = f"{self.schema}_old_{re.sub(r'[^a-z0-9]', '', tag.lower())}"[:63]
        try:
            with self.conn.transaction():
                self.conn.execute(
                    sql.SQL("SET LOCAL lock_timeout = {}").format(
                        sql.Literal(f"{self.lock_timeout_seconds}s")
                    )
                )
                exists = self.conn.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", [self.schema]
                ).fetchone()
                if exists:
                    live_tables = self.conn.execute(
                        "SELECT c.relname FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = %s "
                        "AND c.relkind IN ('r', 'p') ORDER BY 1",
                        [self.schema],
                    ).fetchall()
                    if live_tables:
                        # Waits until every transaction that has read a live table ends, and
                        # makes new readers queue behind the swap: nobody reads half of it.
                        self.conn.execute(
                            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                                sql.SQL(", ").join(
                                    sql.Identifier(self.schema, name) for (name,) in live_tables
                                )
                            )
                        )
                    self.conn.execute(
                        sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                            live, sql.Identifier(old_name)
                        )
                    )
                self.conn.execute(
                    sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(new_schema), live)
                )
                if exists:
                    self.conn.execute(
                        sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(old_name))
                    )
        except psycopg.errors.LockNotAvailable as exc:
            self.conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(new_schema))
            )
            raise RuntimeError(
                f"PostgreSQL schema {self.schema!r} kept the previous refresh: reader "
                f"transactions held its tables longer than {self.lock_timeout_seconds}s"
            ) from exc
