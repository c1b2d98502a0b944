"""Run quality gates with Great Expectations 1.x on batches built in DuckDB.

Each suite's SQL runs in DuckDB (joins and aggregates stay in the database). Two engines validate
the batch, chosen per runner (`engine`, default `DEFAULT_ENGINE`) and per suite (`engine_for`):

* `sql` (default): GX's SQL engine through the persisted-connection DuckDB shim
  (`pipeline.quality.duckdb_sql`, which works around GX issues #10738/#11579). The suite's query,
  with its `$name` parameters inlined as literals (`inline_parameters`), becomes a GX query asset;
  GX's metrics run in DuckDB and no pandas frame is built. 2-2.5x faster than pandas on 5 M
  orders with identical results (docs/quality.md, "SQL shim vs pandas (measured)").
* `pandas`: the query is fetched into a pandas frame (`fetch`) and validated by GX's pandas
  engine (`validate_frame`). Two kinds of suites always use it: suites with `attach` (the drift
  suite `marts.segment_kpis.drift`: the shim's connection cannot ATTACH the published file) and
  suites with a regex expectation (`clean.customers`, `clean.customers.emails`: GX 1.24 has no
  regex expression for the DuckDB dialect and raises NotImplementedError). Both batches are
  small (segments; customers), so little speed is lost.

Only one connection to the warehouse is open at a time: the runner opens it read-only per suite
(`Warehouse.connect` for pandas, the shim's own duckdb-engine connection for SQL) and closes it
before the next one, because DuckDB refuses two connections with different configurations to
the same file in one process.

Results are kept twice under `<state>/quality/`: one JSON file per suite and run in
`results/<run_id>/`, and GX's own validation store (file context in `gx/`) from which the Data Docs
site in `data_docs/` is built. Results use the SUMMARY format; suites marked `pii` keep counts only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

# Importing the shim registers the `duckdb` datasource type, which the file context needs to
# load a saved `type: duckdb` datasource (and `add_or_update_duckdb`).
from pipeline.lib.resources import Warehouse
from pipeline.lib.settings import QualitySection
from pipeline.lib.sql import quote_ident, sql_literal
from pipeline.quality.delta_scope import Scope, delta_suite
from pipeline.quality.docs_offline import make_offline, prune_runs
from pipeline.quality.duckdb_sql import duckdb_datasource
from pipeline.quality.suites import GateSpec, SuiteSpec

#: Engines: `sql` = GX SQL engine in DuckDB via the shim, `pandas` = fetch + GX pandas engine.
ENGINES = ("sql", "pandas")
#: The engine gates use unless told otherwise: the default of the `quality.engine` setting.
DEFAULT_ENGINE = QualitySection.model_fields["engine"].default

log = logging.getLogger(__name__)

DATASOURCE = "warehouse"
#: The file context's `type: duckdb` datasource of the `sql` engine (one query asset per suite).
SQL_DATASOURCE = "warehouse_sql"
BATCH_DEFINITION_SQL = "whole"
#: Expectation types GX's SQL engine cannot evaluate on DuckDB (no regex for the dialect).
PANDAS_ONLY_EXPECTATIONS = frozenset(
    {
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_match_regex_list",
        "expect_column_values_to_not_match_regex_list",
    }
)
BATCH_DEFINITION = "frame"
DOCS_SITE = "quality_site"
#: How many unexpected values / sample keys a result keeps per expectation.
SAMPLE_SIZE = 5

# pandas nanosecond timestamps span 1677..2262; GX only compares datetimes vectorised (and
# reliably) on that dtype, so dates are clamped into the range: an out-of-range date stays out of
# any plausible [min, max] window and still fails, instead of crashing the conversion.
_NS_MIN = pd.Timestamp("1678-01-01")
_NS_MAX = pd.Timestamp("2261-12-31")


@dataclass
class ExpectationOutcome:
    """The verdict of one expectation, trimmed to what run logs and check metadata need."""

    suite: str
    label: str
    severity: str
    success: bool
    unexpected_count: int | None = None
    observed_value: Any = None
    sample_keys: list[str] = field(default_factory=list)
    error: str | None = None
    #: The rule's bound as people read it, e.g. `<= 0.01` (None when the type says it all).
    limit: str | None = None
    #: A few of the values that broke the rule (never for `pii` suites).
    unexpected_values: list[Any] = field(default_factory=list)
    #: The suite's `explain` column on the failing rows (e.g. both counts of a comparison).
    details: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """`<suite>: <expectation>(<columns>)`: unique enough to find it in the suite file."""
        return f"{self.suite}: {self.label}"

    def describe(self) -> str:
        """One log line: what failed, observed against the limit, counts and key samples."""
        parts = [f"[{self.severity.upper()}] {self.name}"]
        if self.error:
            parts.append(f"error: {self.error}")
        observed = (
            ", ".join(str(v) for v in self.unexpected_values)
            if self.unexpected_values
            else self.observed_value
        )
        if observed is not None and not self.success:
            parts.append(f"observed {observed}" + (f", limit {self.limit}" if self.limit else ""))
        if self.unexpected_count is not None:
            parts.append(f"unexpected rows: {self.unexpected_count}")
        if self.sample_keys:
            parts.append(f"sample keys: {', '.join(self.sample_keys)}")
        parts.extend(self.details)
        return " | ".join(parts)


def limit_text(kwargs: Mapping[str, Any]) -> str | None:
    """The bound an expectation's kwargs set, in words: `<= 0.01`, `between 1 and 5`, `= 0`."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None or high is not None:
        below = "<" if kwargs.get("strict_max") else "<="
        above = ">" if kwargs.get("strict_min") else ">="
        if low is not None and high is not None:
            if low == high and not kwargs.get("strict_min") and not kwargs.get("strict_max"):
                return f"= {low}"
            return f"{above} {low} and {below} {high}"
        return f"{above} {low}" if low is not None else f"{below} {high}"
    if kwargs.get("value") is not None:
        return f"= {kwargs['value']}"
    if kwargs.get("value_set") is not None:
        values = list(kwargs["value_set"])
        shown = ", ".join(str(v) for v in values[:SAMPLE_SIZE])
        return f"in {{{shown}{', ...' if len(values) > SAMPLE_SIZE else ''}}}"
    if kwargs.get("regex") is not None:
        return f"matches {kwargs['regex']!r}"
    return None


@dataclass
class SuiteOutcome:
    """One suite on one batch: its expectation verdicts, or why it was skipped."""

    name: str
    expectations: list[ExpectationOutcome] = field(default_factory=list)
    rows: int | None = None
    seconds: float = 0.0
    skipped_reason: str | None = None
    result_file: Path | None = None

    @property
    def success(self) -> bool:
        """True when every expectation passed (skipped suites count as passed)."""
        return all(e.success for e in self.expectations)


@dataclass
class GateOutcome:
    """Everything one gate run produced: suite outcomes and where the results were written."""

    gate: str
    suites: list[SuiteOutcome]
    results_dir: Path
    data_docs_index: Path | None = None
    #: What the suites with `delta:` validated, and why (`pipeline.quality.delta_scope`).
    scope: str = ""

    @property
    def expectations(self) -> list[ExpectationOutcome]:
        """All expectation outcomes of the gate, in suite order."""
        return [e for s in self.suites for e in s.expectations]

    @property
    def errors(self) -> list[ExpectationOutcome]:
        """Failed expectations of severity error: these block downstream assets."""
        return [e for e in self.expectations if not e.success and e.severity == "error"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        """Failed expectations of severity warn: reported, never blocking."""
        return [e for e in self.expectations if not e.success and e.severity == "warn"]

    @property
    def passed(self) -> bool:
        """True when nothing of severity error failed (warnings do not block)."""
        return not self.errors

    def summary(self) -> str:
        """Multi-line text for the run log and the check description."""
        ran = len(self.expectations)
        head = (
            f"gate {self.gate}: {ran} expectations, {len(self.errors)} blocking failure(s), "
            f"{len(self.warnings)} warning(s)"
        )
        lines = [head] + ([f"validated: {self.scope}"] if self.scope else [])
        lines += [e.describe() for e in self.errors + self.warnings]
        lines += [f"skipped {s.name}: {s.skipped_reason}" for s in self.suites if s.skipped_reason]
        return "\n".join(lines)

    def metadata(self) -> dict[str, Any]:
        """Plain JSON-able metadata: counts, failed names, unexpected counts and key samples."""
        failed = self.errors + self.warnings
        return {
            "expectations_run": len(self.expectations),
            "expectations_failed": len(failed),
            "failed_expectations": [e.name for e in self.errors],
            # One readable line per blocking failure (observed vs limit): what the CLI prints.
            "blocking_failures": [e.describe() for e in self.errors],
            "warning_expectations": [e.name for e in self.warnings],
            "unexpected_counts": {
                e.name: e.unexpected_count for e in failed if e.unexpected_count is not None
            },
            "sample_keys": {e.name: e.sample_keys for e in failed if e.sample_keys},
            "skipped_suites": {s.name: s.skipped_reason for s in self.suites if s.skipped_reason},
            "suite_seconds": {s.name: round(s.seconds, 3) for s in self.suites},
            "suite_rows": {s.name: s.rows for s in self.suites if s.rows is not None},
            "scope": self.scope,
            "results_dir": str(self.results_dir),
            "data_docs": str(self.data_docs_index) if self.data_docs_index else None,
        }


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Make DuckDB's frame comparable by GX: datetimes as naive nanosecond timestamps."""
    for column in frame.columns:
        dtype = frame[column].dtype
        if pd.api.types.is_datetime64_dtype(dtype) and dtype != "datetime64[ns]":
            frame[column] = frame[column].clip(_NS_MIN, _NS_MAX).astype("datetime64[ns]")
    return frame


_SQL_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


def inline_parameters(query: str, parameters: Mapping[str, Any]) -> str:
    """The suite query with its `$name` parameters replaced by literals (GX takes plain SQL).

    Suite queries never hold `$` inside string literals (DuckDB would not bind those either).
    A name missing from `parameters` raises KeyError, like DuckDB refusing an unbound one.
    """
    return _SQL_PARAM.sub(lambda m: sql_literal(parameters[m.group(1)]), query)


def _subquery(query: str) -> str:
    """`query` usable after FROM (newlines keep a trailing `--` comment from eating the paren)."""
    return f"(\n{query.strip()}\n) AS batch"


def _rows(results: list[Any]) -> int | None:
    """The batch's row count as GX reported it (element_count, or a row-count observation)."""
    for result in results:
        details = result.result or {}
        if details.get("element_count") is not None:
            return int(details["element_count"])
        if result.expectation_config.type.startswith("expect_table_row_count"):
            observed = details.get("observed_value")
            if observed is not None:
                return int(observed)
    return None


_MIDNIGHT = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T]00:00:00$")


def _shown(value: Any) -> Any:
    """A value as a failure message shows it, the same whichever engine produced it.

    Decimals become numbers (the SQL engine returns Decimal('-3.50') where pandas has -3.5) and
    midnight timestamps become dates (date bounds are written as timestamps, see docs).
    """
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | pd.Timestamp):
        value = value.isoformat()
    elif isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        match = _MIDNIGHT.match(value)
        return match.group(1) if match else value
    return _json_safe(value)


def _json_safe(value: Any) -> Any:
    """Numbers stay numbers, everything else becomes text (numpy scalars, dates, decimals)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


#: The GX context of the last run that gated, with its quality folder and run id, for that run's
#: next gates: a file context re-reads and validates its whole configuration when created
#: (0.1-0.2 s, and a refresh runs 11 gates one after the other in one process). One slot: any
#: other folder or run makes its own context and takes the slot, so a long-lived process (a test
#: worker, `dagster dev`) keeps one context, not one per folder it ever gated.
_last_context: list[tuple[Path, str, Any]] = []


class QualityRunner:
    """Runs gates for one Dagster run and keeps results and Data Docs under `<state>/quality`.

    The GX file context lives in `<state>/quality/gx` and is created on first use; suites are
    re-registered from `expectations/` on every run, so the files stay the single definition.
    """

    def __init__(
        self,
        state_dir: Path,
        run_id: str,
        *,
        build_docs: bool = True,
        engine: str = DEFAULT_ENGINE,
        keep_runs: int | None = None,
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"quality engine must be one of {ENGINES}, got {engine!r}")
        self.engine = engine
        self.quality_dir = Path(state_dir) / "quality"
        self.run_id = run_id
        self.results_dir = self.quality_dir / "results" / run_id
        self.docs_dir = self.quality_dir / "data_docs"
        self.build_docs = build_docs
        #: Runs whose results and Data Docs pages are kept (None = all).
        self.keep_runs = keep_runs
        self._context: Any = None

    # -- GX context -------------------------------------------------------------------------
    @property
    def context(self) -> Any:
        """The file-mode GX context under `<state>/quality/gx` (configured once, then reused)."""
        if self._context is None:
            if _last_context and _last_context[0][:2] == (self.quality_dir, self.run_id):
                self._context = _last_context[0][2]
                return self._context
            self.quality_dir.mkdir(parents=True, exist_ok=True)
            ctx = gx.get_context(mode="file", project_root_dir=str(self.quality_dir))
            site = {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(self.docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
            changed = False
            if (ctx.variables.data_docs_sites or {}) != {DOCS_SITE: site}:
                # Only our site: GX's default one would copy results under gx/uncommitted too.
                ctx.variables.data_docs_sites = {DOCS_SITE: site}
                changed = True
            if ctx.variables.analytics_enabled is not False:
                # Runs are offline and private: no usage analytics leave the machine.
                ctx.variables.analytics_enabled = False
                changed = True
            bars = ctx.variables.progress_bars
            # The setting reads back as a config object or, after a save, a plain dict.
            enabled = (
                bars.get("globally", True)
                if isinstance(bars, dict)
                else (bars is None or bars.globally)
            )
            if enabled:
                # tqdm bars would flood the Dagster run log with one line per metric batch.
                ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
                changed = True
            if changed:
                ctx.variables.save()
                ctx = gx.get_context(mode="file", project_root_dir=str(self.quality_dir))
            self._context = ctx
            _last_context[:] = [(self.quality_dir, self.run_id, ctx)]
        return self._context

    def _validation_definition(self, suite: SuiteSpec) -> Any:
        ctx = self.context
        try:
            source = ctx.data_sources.get(DATASOURCE)
        except (KeyError, ValueError):
            source = ctx.data_sources.add_pandas(DATASOURCE)
        try:
            asset = source.get_asset(suite.name)
        except LookupError:
            asset = source.add_dataframe_asset(suite.name)
        try:
            batch = asset.get_batch_definition(BATCH_DEFINITION)
        except KeyError:
            batch = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
        gx_suite = ctx.suites.add_or_update(suite.to_gx())
        return ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite)
        )

    def _sql_validation_definition(self, suite: SuiteSpec, source: Any, query: str) -> Any:
        """The suite's validation definition on a query asset of the `duckdb` datasource.

        The asset is replaced on every run: its query holds this run's inlined parameters. GX
        only accepts queries starting with SELECT, so others (`WITH ...`) are wrapped.
        """
        if not re.match(r"(?i)select\s", query.lstrip()):
            query = f"SELECT * FROM {_subquery(query)}"
        ctx = self.context
        try:
            source.delete_asset(suite.name)
        except LookupError:
            pass
        batch = source.add_query_asset(suite.name, query=query).add_batch_definition_whole_table(
            BATCH_DEFINITION_SQL
        )
        gx_suite = ctx.suites.add_or_update(suite.to_gx())
        return ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite)
        )

    # -- running ----------------------------------------------------------------------------
    def engine_for(self, suite: SuiteSpec) -> str:
        """The runner's engine, except `pandas` for suites the SQL engine cannot run.

        Those are suites that ATTACH another database and suites with an expectation in
        `PANDAS_ONLY_EXPECTATIONS` (see the module doc).
        """
        if suite.attach or any(e.type in PANDAS_ONLY_EXPECTATIONS for e in suite.expectations):
            return "pandas"
        return self.engine

    def run_gate(
        self,
        gate: GateSpec,
        warehouse: Warehouse,
        parameters: Mapping[str, Any],
        attachments: Mapping[str, Path | None] | None = None,
        scope: Scope | None = None,
    ) -> GateOutcome:
        """Run every suite of `gate` on the warehouse (read-only) and build the Data Docs.

        `parameters` feed both the SQL (`$name`) and the expectations (`{$PARAMETER: name}`);
        `attachments` name the extra DuckDB files suites may read (attached read-only). The
        caller must not hold a connection to the warehouse file meanwhile (see module doc).
        With a delta `scope`, suites that declare `delta:` validate the delta only.
        """
        specs = [delta_suite(s) if scope and scope.delta else s for s in gate.suites]
        suites = [self.run_suite(s, warehouse, parameters, attachments or {}) for s in specs]
        outcome = GateOutcome(
            gate=gate.name,
            suites=suites,
            results_dir=self.results_dir,
            scope=scope.describe() if scope else "",
        )
        if self.build_docs and any(s.rows is not None for s in suites):
            if self.keep_runs:
                pruned = prune_runs(self.quality_dir, self.keep_runs, self.run_id)
                if pruned:
                    log.info("pruned the results and Data Docs of %d older run(s)", len(pruned))
            self._build_data_docs(gate)
            # GX links its libraries from CDNs: point the pages at local copies (offline).
            make_offline(self.docs_dir)
            outcome.data_docs_index = self.docs_dir / "index.html"
        self._write_json(
            f"{gate.name}.gate.json",
            {"gate": gate.name, "passed": outcome.passed, **outcome.metadata()},
        )
        return outcome

    def _build_data_docs(self, gate: GateSpec) -> None:
        """Render the pages of this gate's suites and results of this run, then the index.

        A plain `build_data_docs()` renders every stored result and suite again: a refresh
        builds the docs after each of its gates, so the first gate's pages were rendered 13 times
        per run, and every kept run's pages once more at each gate (7 s of a 76 s demo refresh,
        measured). Pages already written do not change; a site without an index yet (first run,
        or a deleted docs folder) is built in full.
        """
        ctx = self.context
        if not (self.docs_dir / "index.html").exists():
            ctx.build_data_docs(site_names=[DOCS_SITE])
            return
        names = {suite.name for suite in gate.suites}
        pages: list[Any] = [
            key
            for key in ctx.validation_results_store.list_keys()
            if key.run_id.run_name == self.run_id and key.expectation_suite_identifier.name in names
        ]
        pages += [ExpectationSuiteIdentifier(name=name) for name in sorted(names)]
        ctx.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=pages)

    def run_suite(
        self,
        suite: SuiteSpec,
        warehouse: Warehouse,
        parameters: Mapping[str, Any],
        attachments: Mapping[str, Path | None],
    ) -> SuiteOutcome:
        """Build the suite's batch in DuckDB and validate it; query failures fail the suite."""
        started = time.perf_counter()
        if suite.attach:
            path = attachments.get(suite.attach)
            if path is None or not Path(path).exists():
                outcome = SuiteOutcome(
                    suite.name, skipped_reason=f"no {suite.attach} database to compare with"
                )
                self._write_json(
                    f"{suite.name}.json",
                    {"suite": suite.name, "skipped": True, "reason": outcome.skipped_reason},
                )
                return outcome
        try:
            if self.engine_for(suite) == "sql":
                query = inline_parameters(suite.query, parameters)
                with warehouse.connect(read_only=True) as con:
                    # Fail fast (and closed) on a query DuckDB cannot plan, e.g. a missing table.
                    probe = con.execute(f"SELECT * FROM {_subquery(query)} LIMIT 0")
                    columns = [d[0] for d in probe.description]
            else:
                with warehouse.connect(read_only=True) as con:
                    frame = self.fetch(suite, con, parameters, attachments)
        except duckdb.Error as exc:
            # Fail closed: a batch that cannot be built is a blocking failure, named in the log.
            failure = ExpectationOutcome(
                suite.name, "batch query", "error", success=False, error=str(exc).splitlines()[0]
            )
            self._write_json(f"{suite.name}.json", {"suite": suite.name, "error": failure.error})
            return SuiteOutcome(suite.name, [failure], seconds=time.perf_counter() - started)
        if self.engine_for(suite) == "sql":
            outcome = self.validate_sql(suite, warehouse, query, columns, parameters)
        else:
            outcome = self.validate_frame(suite, frame, parameters)
        outcome.seconds = time.perf_counter() - started
        return outcome

    def validate_sql(
        self,
        suite: SuiteSpec,
        warehouse: Warehouse,
        query: str,
        columns: list[str],
        parameters: Mapping[str, Any],
    ) -> SuiteOutcome:
        """Validate the rows of `query` (parameters inlined; its result `columns`) in DuckDB.

        GX's SQL engine computes every metric in DuckDB through the shim, whose connection is
        closed before this returns; sample keys of failed table-level expectations are then read
        with one `LIMIT` query on a fresh read-only connection.
        """
        started = time.perf_counter()
        with duckdb_datasource(
            self.context,
            warehouse.resolved_path(),
            name=SQL_DATASOURCE,
            config=warehouse.duckdb_config(),
        ) as source:
            definition = self._sql_validation_definition(suite, source, query)
            result = definition.run(
                expectation_parameters=dict(parameters),
                result_format=self._result_format(suite, columns),
                run_id=RunIdentifier(run_name=self.run_id, run_time=datetime.now(UTC)),
            )

        def head_keys() -> list[tuple[Any, ...]]:
            keys = ", ".join(quote_ident(k) for k in suite.key)
            with warehouse.connect(read_only=True) as con:
                return con.execute(
                    f"SELECT {keys} FROM {_subquery(query)} LIMIT {SAMPLE_SIZE}"
                ).fetchall()

        outcomes = [self._outcome(suite, r, columns, head_keys) for r in result.results]
        path = self._write_json(f"{suite.name}.json", result.to_json_dict())
        rows = _rows(result.results)
        if rows is None:
            # No expectation counted rows (e.g. column checks only): count them once here.
            with warehouse.connect(read_only=True) as con:
                (rows,) = con.execute(f"SELECT count(*) FROM {_subquery(query)}").fetchone()
        return SuiteOutcome(
            suite.name,
            outcomes,
            rows=int(rows),
            seconds=time.perf_counter() - started,
            result_file=path,
        )

    def fetch(
        self,
        suite: SuiteSpec,
        con: duckdb.DuckDBPyConnection,
        parameters: Mapping[str, Any],
        attachments: Mapping[str, Path | None] | None = None,
    ) -> pd.DataFrame:
        """Run the suite's query (attaching its extra database read-only) into a pandas frame."""
        params = {name: parameters[name] for name in suite.sql_parameters}
        attached = None
        if suite.attach:
            path = Path((attachments or {})[suite.attach]).resolve()
            con.execute(f"ATTACH {sql_literal(path)} AS {suite.attach} (READ_ONLY)")
            attached = suite.attach
        try:
            return _normalise(con.execute(suite.query, params).df())
        finally:
            if attached:
                con.execute(f"DETACH {attached}")

    def validate_frame(
        self, suite: SuiteSpec, frame: pd.DataFrame, parameters: Mapping[str, Any]
    ) -> SuiteOutcome:
        """Validate an already built batch with GX and keep the result (JSON + GX store)."""
        started = time.perf_counter()
        result = self._validation_definition(suite).run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=dict(parameters),
            result_format=self._result_format(suite, list(frame.columns)),
            run_id=RunIdentifier(run_name=self.run_id, run_time=datetime.now(UTC)),
        )

        def head_keys() -> list[tuple[Any, ...]]:
            return list(frame[list(suite.key)].head(SAMPLE_SIZE).itertuples(index=False))

        columns = list(frame.columns)
        outcomes = [self._outcome(suite, r, columns, head_keys) for r in result.results]
        path = self._write_json(f"{suite.name}.json", result.to_json_dict())
        return SuiteOutcome(
            suite.name,
            outcomes,
            rows=len(frame),
            seconds=time.perf_counter() - started,
            result_file=path,
        )

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _result_format(suite: SuiteSpec, columns: list[str]) -> dict[str, Any]:
        if suite.pii:
            # Counts only: no value of a personal-data batch reaches results or Data Docs.
            return {
                "result_format": "SUMMARY",
                "partial_unexpected_count": 0,
                "exclude_unexpected_values": True,
            }
        fmt: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
        index = list(suite.key) if suite.key and all(k in columns for k in suite.key) else []
        if suite.explain in columns and suite.explain not in index:
            index.append(suite.explain)
        if index:
            fmt["unexpected_index_column_names"] = index
        return fmt

    @staticmethod
    def _outcome(
        suite: SuiteSpec,
        result: Any,
        columns: list[str],
        head_keys: Callable[[], list[tuple[Any, ...]]],
    ) -> ExpectationOutcome:
        """Trim one GX result; `head_keys` gives the batch's first key tuples (read lazily)."""
        config = result.expectation_config
        label = (config.meta or {}).get("label") or config.type
        severity = "warn" if str(config.severity.value) == "warning" else "error"
        details = result.result or {}
        error = None
        info = result.exception_info or {}
        # GX nests exception info per metric when a metric fails to resolve.
        infos = [info] if "raised_exception" in info else list(info.values())
        for item in infos:
            if isinstance(item, dict) and item.get("raised_exception"):
                error = str(item.get("exception_message") or "exception").splitlines()[0]
                break
        samples: list[str] = []
        explained: list[str] = []
        values: list[Any] = []
        if not result.success and not suite.pii:
            for row in details.get("partial_unexpected_index_list") or []:
                if suite.key:
                    samples.append("/".join(str(row.get(k)) for k in suite.key))
                if suite.explain and row.get(suite.explain) is not None:
                    explained.append(str(row[suite.explain]))
            table_level = "column" not in config.kwargs and "column_A" not in config.kwargs
            if suite.key and not samples and table_level and all(k in columns for k in suite.key):
                # Mismatch batches (rows that should not exist): their first keys are the sample.
                samples = ["/".join(str(v) for v in row) for row in head_keys()]
            values = [
                _shown(v)
                for v in details.get("partial_unexpected_list") or []
                if v is not None and not (isinstance(v, float) and math.isnan(v))
            ]
        unexpected = details.get("unexpected_count")
        return ExpectationOutcome(
            suite=suite.name,
            label=label,
            severity=severity,
            success=bool(result.success),
            unexpected_count=int(unexpected) if unexpected is not None else None,
            observed_value=_json_safe(details.get("observed_value")),
            sample_keys=list(dict.fromkeys(samples))[:SAMPLE_SIZE],
            error=error,
            limit=limit_text({k: _shown(v) for k, v in config.kwargs.items()}),
            unexpected_values=list(dict.fromkeys(values))[:SAMPLE_SIZE],
            details=list(dict.fromkeys(explained))[:SAMPLE_SIZE],
        )

    def _write_json(self, filename: str, payload: Mapping[str, Any]) -> Path:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        path = self.results_dir / filename
        path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        return path
