"""The optional mapping YAML: per-entity file pattern, format overrides and column mapping.

Validation is strict and every error names the offending key path (``entities.orders.columns.
amount``) so a data engineer can fix the file without reading code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import sqlglot
import yaml
from sqlglot import exp

from pipeline.ingest.entities import ENTITIES

AUTO = "auto"
DELIMITERS = (",", ";", "\t")
ENCODINGS = ("utf-8", "cp1252", "latin-1")
DECIMAL_SEPARATORS = (".", ",")


class MappingError(ValueError):
    """The mapping file is invalid; the message names the key that is wrong."""


@dataclass(frozen=True)
class ColumnSpec:
    """How one canonical column is produced from a source file.

    Exactly one of `source` (rename), `expr` (DuckDB SQL over source columns) or `const` is set.
    """

    source: str | None = None
    expr: str | None = None
    const: str | None = None

    @property
    def kind(self) -> str:
        """'source', 'expr' or 'const'."""
        if self.source is not None:
            return "source"
        return "expr" if self.expr is not None else "const"


@dataclass(frozen=True)
class EntityMapping:
    """Overrides for one entity; `auto` means "detect from the file and log what was found"."""

    pattern: str | None = None
    delimiter: str = AUTO
    encoding: str = AUTO
    decimal_separator: str = AUTO
    date_format: str = AUTO
    columns: dict[str, ColumnSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class Mapping:
    """The whole mapping file; entities it does not mention use `EntityMapping()` defaults."""

    entities: dict[str, EntityMapping] = field(default_factory=dict)

    def for_entity(self, entity: str) -> EntityMapping:
        """The overrides of `entity` (defaults when the file does not mention it)."""
        return self.entities.get(entity, EntityMapping())


_ENTITY_KEYS = {"pattern", "delimiter", "encoding", "decimal_separator", "date_format", "columns"}


def _choice(value: Any, allowed: tuple[str, ...], key: str) -> str:
    """`value` if it is `auto` or one of `allowed` (after YAML escapes such as "\\t")."""
    if not isinstance(value, str):
        raise MappingError(f"{key}: expected a string, got {value!r}")
    if value == AUTO:
        return value
    if value in ("\\t", "tab"):
        value = "\t"
    normalized = value.lower().replace("_", "-")
    if key.endswith(".encoding"):
        aliases = {
            "utf8": "utf-8",
            "windows-1252": "cp1252",
            "latin1": "latin-1",
            "iso-8859-1": "latin-1",
        }
        normalized = aliases.get(normalized, normalized)
        if normalized in allowed:
            return normalized
    elif value in allowed:
        return value
    shown = ", ".join(repr(a) for a in (AUTO, *allowed))
    raise MappingError(f"{key}: {value!r} is not one of {shown}")


def _date_format(value: Any, key: str) -> str:
    """A strptime format containing at least a day, a month and a year directive."""
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{key}: expected 'auto' or a strptime format such as '%d/%m/%Y'")
    if value == AUTO:
        return value
    missing = [
        d for d in ("%d", "%m", "%Y") if d not in value and not (d == "%m" and "%b" in value)
    ]
    if missing and not (missing == ["%Y"] and "%y" in value):
        raise MappingError(f"{key}: date format {value!r} lacks {', '.join(missing)}")
    return value


#: What a mapping `expr` may use (docs/input_contract.md): operators, CASE, casts and these
#: scalar functions, as the node types sqlglot parses them into. Anything else (sub-queries,
#: table functions such as read_csv, settings and environment readers such as
#: current_setting or getenv, clocks, random) is refused when the mapping is loaded.
EXPR_NODES: dict[type[exp.Expression], str] = {
    exp.Column: "column",
    exp.Identifier: "column",
    exp.Literal: "literal",
    exp.Null: "NULL",
    exp.Boolean: "TRUE/FALSE",
    exp.Paren: "( )",
    exp.Neg: "-",
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.Div: "/",
    exp.IntDiv: "//",
    exp.Mod: "%",
    exp.DPipe: "||",
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.And: "AND",
    exp.Or: "OR",
    exp.Not: "NOT",
    exp.Is: "IS",
    exp.Between: "BETWEEN",
    exp.In: "IN (list)",
    exp.Like: "LIKE",
    exp.ILike: "ILIKE",
    exp.Case: "CASE",
    exp.If: "CASE WHEN / if",
    exp.Cast: "CAST / ::",
    exp.TryCast: "TRY_CAST",
    exp.DataType: "type name",
    exp.DataTypeParam: "type parameter",
    exp.Coalesce: "coalesce",
    exp.Nullif: "nullif",
    exp.Concat: "concat",
    exp.ConcatWs: "concat_ws",
    exp.Upper: "upper",
    exp.Lower: "lower",
    exp.Trim: "trim / ltrim / rtrim",
    exp.Substring: "substring / substr",
    exp.Replace: "replace",
    exp.Length: "length",
    exp.Left: "left",
    exp.Right: "right",
    exp.Pad: "lpad / rpad",
    exp.SplitPart: "split_part",
    exp.RegexpReplace: "regexp_replace",
    exp.RegexpExtract: "regexp_extract",
    exp.RegexpLike: "regexp_matches",
    exp.Contains: "contains",
    exp.StartsWith: "starts_with",
    exp.Round: "round",
    exp.Abs: "abs",
    exp.Floor: "floor",
    exp.Ceil: "ceil",
    exp.Greatest: "greatest",
    exp.Least: "least",
    exp.StrToTime: "strptime",
    exp.TimeToStr: "strftime",
    exp.DateFromParts: "make_date",
}
#: Functions sqlglot does not model (parsed as anonymous calls) that are allowed by name.
EXPR_FUNCTIONS = frozenset({"strip_accents", "nfc_normalize", "try_strptime"})


def _refused_node(node: exp.Expression) -> str | None:
    """Why `node` may not appear in a mapping expression, or None when it is allowed."""
    if isinstance(node, exp.Anonymous):
        return None if node.name.lower() in EXPR_FUNCTIONS else f"function {node.name}()"
    if isinstance(node, exp.Column) and node.table:
        return f"qualified column {node.sql(dialect='duckdb')} (use source column names only)"
    if isinstance(node, exp.In) and node.args.get("query") is not None:
        return "IN (sub-query)"
    if type(node) in EXPR_NODES:
        return None
    if isinstance(node, exp.Func):
        return f"function {node.sql_name().lower()}()"
    return f"{type(node).__name__} ({node.sql(dialect='duckdb')[:40]})"


def _expr(value: Any, key: str) -> str:
    """A scalar SQL expression over source columns, made only of whitelisted parts."""
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{key}.expr: expected a non-empty SQL expression")
    try:
        tree = sqlglot.parse_one(value, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise MappingError(f"{key}.expr: cannot parse {value!r}: {exc}") from exc
    for node in tree.walk():
        refused = _refused_node(node)
        if refused:
            raise MappingError(
                f"{key}.expr: {refused} is not allowed in {value!r}; allowed: operators, CASE, "
                "casts and the scalar functions listed in docs/input_contract.md"
            )
    return value


def _pattern(value: Any, key: str) -> str | None:
    """A file glob relative to the landing directory, never reaching outside it."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{key}: expected a file glob such as 'commandes*.csv'")
    if (
        PurePosixPath(value).is_absolute()
        or PureWindowsPath(value).is_absolute()
        or (PureWindowsPath(value).drive)
    ):
        raise MappingError(
            f"{key}: {value!r} is absolute; patterns are relative to the landing directory"
        )
    if ".." in PurePosixPath(value.replace("\\", "/")).parts:
        raise MappingError(
            f"{key}: {value!r} leaves the landing directory ('..'); patterns must match "
            "files inside it"
        )
    return value


def _column(value: Any, key: str) -> ColumnSpec:
    if isinstance(value, str):
        if not value.strip():
            raise MappingError(f"{key}: source column name is empty")
        return ColumnSpec(source=value)
    if isinstance(value, dict) and len(value) == 1:
        ((kind, arg),) = value.items()
        if kind == "source" and isinstance(arg, str) and arg.strip():
            return ColumnSpec(source=arg)
        if kind == "expr":
            return ColumnSpec(expr=_expr(arg, key))
        if kind == "const":
            if arg is None or isinstance(arg, (dict, list)):
                raise MappingError(f"{key}.const: expected a scalar value, got {arg!r}")
            return ColumnSpec(const=str(arg))
    raise MappingError(
        f"{key}: expected a source column name, {{expr: ...}} or {{const: ...}}, got {value!r}"
    )


def _entity(name: str, body: Any) -> EntityMapping:
    key = f"entities.{name}"
    if body is None:
        return EntityMapping()
    if not isinstance(body, dict):
        raise MappingError(f"{key}: expected a mapping of settings, got {body!r}")
    unknown = sorted(set(body) - _ENTITY_KEYS)
    if unknown:
        raise MappingError(f"{key}: unknown key(s) {unknown}; allowed: {sorted(_ENTITY_KEYS)}")
    pattern = _pattern(body.get("pattern"), f"{key}.pattern")
    columns_raw = body.get("columns") or {}
    if not isinstance(columns_raw, dict):
        raise MappingError(f"{key}.columns: expected canonical_name: spec pairs")
    spec = ENTITIES[name]
    columns: dict[str, ColumnSpec] = {}
    for canonical, col in columns_raw.items():
        if canonical not in spec.columns:
            raise MappingError(
                f"{key}.columns.{canonical}: not a column of {name}; "
                f"known columns: {', '.join(spec.columns)}"
            )
        columns[canonical] = _column(col, f"{key}.columns.{canonical}")
    return EntityMapping(
        pattern=pattern,
        delimiter=_choice(body.get("delimiter", AUTO), DELIMITERS, f"{key}.delimiter"),
        encoding=_choice(body.get("encoding", AUTO), ENCODINGS, f"{key}.encoding"),
        decimal_separator=_choice(
            body.get("decimal_separator", AUTO), DECIMAL_SEPARATORS, f"{key}.decimal_separator"
        ),
        date_format=_date_format(body.get("date_format", AUTO), f"{key}.date_format"),
        columns=columns,
    )


def parse_mapping(document: Any, origin: str = "<mapping>") -> Mapping:
    """Validate an already-parsed YAML document (a dict) and build a `Mapping`."""
    if document is None:
        return Mapping()
    if not isinstance(document, dict):
        raise MappingError(f"{origin}: top level must be a mapping with an 'entities' key")
    unknown = sorted(set(document) - {"entities"})
    if unknown:
        raise MappingError(f"{origin}: unknown top-level key(s) {unknown}; allowed: ['entities']")
    entities_raw = document.get("entities") or {}
    if not isinstance(entities_raw, dict):
        raise MappingError(f"{origin}: entities: expected entity_name: settings pairs")
    entities: dict[str, EntityMapping] = {}
    for name, body in entities_raw.items():
        if name not in ENTITIES:
            raise MappingError(
                f"{origin}: entities.{name}: unknown entity; known: {', '.join(ENTITIES)}"
            )
        try:
            entities[name] = _entity(name, body)
        except MappingError as exc:
            raise MappingError(f"{origin}: {exc}") from None
    return Mapping(entities=entities)


def load_mapping(path: Path | None) -> Mapping:
    """Parse and validate the optional mapping YAML; `None` gives the all-defaults mapping.

    Raises `MappingError` (naming the file and the key) on any invalid content, and
    `FileNotFoundError` when `path` is given but does not exist.
    """
    if path is None:
        return Mapping()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mapping file not found: {path}")
    text = path.read_bytes().decode("utf-8-sig") if path.stat().st_size else ""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: invalid YAML: {exc}") from exc
    return parse_mapping(document, origin=str(path))
