"""Schema alignment: the suite's SQL against its catalog (``schemas/``), and the catalog against live tables.

Two questions, two halves:

* Does every query the suite issues read only columns the catalog has, with types that fit how the
  query uses them? :func:`check_usage` parses the query with sqlglot (BigQuery dialect), resolves each
  column to its table through aliases, CTEs and subqueries (:func:`columns_used`) and asks
  :func:`type_compatible` of each use. Run by the suite's own tests on every planned query.
* Do the live tables still have the catalog's columns, types and modes? :func:`compare_table` lists
  each difference; :func:`check_table_schema` turns them into a check result (``pytest -m schema``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import expressions as exp
from sqlglot.optimizer.scope import Scope, ScopeType, traverse_scope

from resilience.outcomes import Outcome
from resilience.results import CheckResult
from resilience.schemas import FieldSchema, TableSchema
from resilience.warehouse.base import ParamValue, QueryError, Warehouse

# ---- the catalog against a live table -----------------------------------------------------------

MismatchKind = Literal["missing_table", "missing_column", "type_change", "mode_change"]

#: Names BigQuery accepts for a type besides the one the catalog writes (legacy SQL, aliases).
_STANDARD_TYPE_NAMES: Mapping[str, str] = {
    "INTEGER": "INT64",
    "FLOAT": "FLOAT64",
    "BOOLEAN": "BOOL",
    "RECORD": "STRUCT",
    "DECIMAL": "NUMERIC",
    "BIGDECIMAL": "BIGNUMERIC",
}


def standard_type(name: str) -> str:
    """BigQuery's Standard SQL name of a column type: ``INTEGER`` is ``INT64``, ``RECORD`` is ``STRUCT``."""
    upper = name.upper()
    return _STANDARD_TYPE_NAMES.get(upper, upper)


@dataclass(frozen=True)
class SchemaMismatch:
    """One way a live table differs from its schema in ``schemas/``.

    ``expected`` and ``actual`` are what the catalog and the warehouse say: the type for a
    ``type_change``, the mode for a ``mode_change``, ``TYPE MODE`` of the lost column for a
    ``missing_column`` (``actual`` None), ``table`` or ``view`` for a ``missing_table``.
    """

    table: str
    column: str | None
    kind: MismatchKind
    expected: str | None
    actual: str | None
    message: str


def _schema_file(table: str) -> str:
    return f"schemas/{table}.json"


def _mode_message(table: str, field: FieldSchema, actual_mode: str) -> str:
    where = (
        f"{table}.{field.name} is {actual_mode} in the warehouse but {field.mode} in {_schema_file(table)}"
    )
    if field.mode == "REQUIRED" and actual_mode == "NULLABLE":
        return f"{where}: NULLs can now arrive where checks assume none; restore NOT NULL or relax the schema"
    if "REPEATED" in (field.mode, actual_mode):
        return f"{where}: the column changed between array and single value; queries reading it will break"
    return f"{where}: the live table is stricter than the catalog; update the schema file to match"


def compare_table(expected: TableSchema, actual: TableSchema | None) -> list[SchemaMismatch]:
    """Every difference between the catalog's ``expected`` and the warehouse's ``actual`` table.

    Columns only the live table has are fine: BigQuery tables grow. Type names are compared in
    Standard SQL form, column names ignoring case (as BigQuery does). The modes of a view's columns
    are compared only where an array is involved: a view cannot declare NOT NULL, its base table's
    nullability is checked on the base table itself.
    """
    table = expected.table
    if actual is None:
        kind = "view" if expected.view_of else "table"
        return [
            SchemaMismatch(
                table,
                None,
                "missing_table",
                kind,
                None,
                f"{kind} {table} does not exist: create it from {_schema_file(table)} "
                "or point [tables] in resilience.toml at the right table",
            )
        ]
    live = {field.name.lower(): field for field in actual.fields}
    mismatches: list[SchemaMismatch] = []
    for field in expected.fields:
        found = live.get(field.name.lower())
        if found is None:
            mismatches.append(
                SchemaMismatch(
                    table,
                    field.name,
                    "missing_column",
                    f"{standard_type(field.type)} {field.mode}",
                    None,
                    f"{table}.{field.name} ({standard_type(field.type)} {field.mode}) is missing from the "
                    f"warehouse: checks reading it will fail; restore the column or remove it from "
                    f"{_schema_file(table)} and the checks that use it",
                )
            )
            continue
        want, got = standard_type(field.type), standard_type(found.type)
        if want != got:
            mismatches.append(
                SchemaMismatch(
                    table,
                    field.name,
                    "type_change",
                    want,
                    got,
                    f"{table}.{field.name} is {got} in the warehouse but {want} in {_schema_file(table)}: "
                    "checks comparing or aggregating it may break or mislead; restore the type or update "
                    "the schema and the checks that use it",
                )
            )
        compare_mode = expected.view_of is None or "REPEATED" in (field.mode, found.mode)
        if compare_mode and field.mode != found.mode:
            mismatches.append(
                SchemaMismatch(
                    table,
                    field.name,
                    "mode_change",
                    field.mode,
                    found.mode,
                    _mode_message(table, field, found.mode),
                )
            )
    return mismatches


def schema_check_id(table: str) -> str:
    """``schema.nba_raw.nbac_schedule``: the id of the live schema check of one table."""
    return f"schema.{table}"


def schema_check_title(table: str) -> str:
    return f"{table} has the columns, types and modes of {_schema_file(table)}"


def tables_to_check(tables: Iterable[str], catalog: Mapping[str, TableSchema]) -> list[str]:
    """The tables named (by ``[tables]`` in the settings) plus every table their views show, sorted."""
    found: set[str] = set()
    pending = list(tables)
    while pending:
        table = pending.pop()
        if table in found:
            continue
        found.add(table)
        schema = catalog.get(table)
        if schema is not None and schema.view_of:
            pending.append(schema.view_of)
    return sorted(found)


def check_table_schema(warehouse: Warehouse, expected: TableSchema) -> CheckResult:
    """The live schema check of one table: FAILED naming each mismatch, ERROR when it cannot be read."""
    check_id = schema_check_id(expected.table)
    title = schema_check_title(expected.table)
    started = time.perf_counter()
    try:
        actual = warehouse.describe_table(expected.table)
    except QueryError as error:
        return CheckResult(
            check_id,
            0,
            title,
            Outcome.ERROR,
            f"check broken: {error}",
            (),
            seconds=time.perf_counter() - started,
        )
    mismatches = compare_table(expected, actual)
    seconds = time.perf_counter() - started
    if mismatches:
        message = f"{len(mismatches)} mismatch(es): " + "; ".join(m.message for m in mismatches)
        return CheckResult(check_id, 0, title, Outcome.FAILED, message, (), seconds=seconds)
    message = f"all {len(expected.fields)} catalog columns present with their types and modes"
    return CheckResult(check_id, 0, title, Outcome.PASSED, message, (), seconds=seconds)


# ---- the suite's SQL against the catalog --------------------------------------------------------

NUMERIC = "numeric"
BOOLEAN = "boolean"
STRING = "string"
DATE = "date"
TIMESTAMP = "timestamp"
ARRAY = "array"
ANY = "any"
USAGES = frozenset({NUMERIC, BOOLEAN, STRING, DATE, TIMESTAMP, ARRAY, ANY})

_NUMERIC_TYPES = frozenset({"INT64", "NUMERIC", "BIGNUMERIC", "FLOAT64"})
#: Which column types each use accepts. DATETIME takes a DATE operand: BigQuery coerces DATE to it.
_COMPATIBLE_TYPES: Mapping[str, frozenset[str]] = {
    NUMERIC: _NUMERIC_TYPES,
    BOOLEAN: frozenset({"BOOL"}),
    STRING: frozenset({"STRING"}),
    DATE: frozenset({"DATE", "DATETIME"}),
    TIMESTAMP: frozenset({"TIMESTAMP"}),
}


def type_compatible(field_type: str, mode: str, usage: str) -> bool:
    """Whether a column of ``field_type`` and ``mode`` can be used as ``usage`` (one of :data:`USAGES`).

    An array (REPEATED) can only be unnested, indexed or counted; anything can be used as ``any``.
    """
    if usage not in USAGES:
        raise ValueError(f"unknown column usage {usage!r}; expected one of {', '.join(sorted(USAGES))}")
    if usage == ANY:
        return True
    repeated = mode.upper() == "REPEATED"
    if usage == ARRAY:
        return repeated
    return not repeated and standard_type(field_type) in _COMPATIBLE_TYPES[usage]


# Functions whose argument is read as a number, a predicate, a string, a date, a timestamp or an array.
_NUMERIC_CONTEXTS = (
    exp.Sum, exp.Avg, exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance, exp.VariancePop,
    exp.Abs, exp.Round, exp.Floor, exp.Ceil, exp.Sqrt, exp.Ln, exp.Log, exp.Pow, exp.Exp, exp.Sign,
    exp.SafeDivide, exp.Corr, exp.CovarPop, exp.CovarSamp, exp.PercentileCont, exp.Median,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg,
)  # fmt: skip
_BOOLEAN_CONTEXTS = (exp.And, exp.Or, exp.Not, exp.Xor, exp.Where, exp.Having, exp.Qualify)
_BOOLEAN_ARGUMENT = (exp.CountIf, exp.LogicalAnd, exp.LogicalOr, exp.If)
_STRING_CONTEXTS = (
    exp.Like, exp.ILike, exp.RegexpLike, exp.Concat, exp.DPipe, exp.Lower, exp.Upper, exp.Trim,
    exp.Substring, exp.Length, exp.StartsWith, exp.EndsWith,
)  # fmt: skip
_DATE_CONTEXTS = (exp.DateDiff, exp.DateAdd, exp.DateSub, exp.DateTrunc)
_TIMESTAMP_CONTEXTS = (exp.TimestampDiff, exp.TimestampAdd, exp.TimestampSub, exp.TimestampTrunc)
_ARRAY_CONTEXTS = (exp.Unnest, exp.ArraySize, exp.Bracket)
_COMPARISONS = (
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ, exp.Between, exp.In,
    exp.Is,
)  # fmt: skip
#: Wrappers whose value has the type of their argument: the use is decided further up.
_SAME_TYPE_AGGREGATES = (exp.Paren, exp.Max, exp.Min, exp.AnyValue)
_PASS_THROUGH = (*_SAME_TYPE_AGGREGATES, exp.Coalesce, exp.Greatest, exp.Least)
_DATE_VALUES = (exp.CurrentDate, exp.DateAdd, exp.DateSub, exp.DateTrunc, exp.StrToDate, exp.Date)
_TIMESTAMP_VALUES = (
    exp.CurrentTimestamp,
    exp.TimestampAdd,
    exp.TimestampSub,
    exp.TimestampTrunc,
    exp.StrToTime,
)
_TIMESTAMP_DATA_TYPES = frozenset(
    {exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ}
)


def _parameter_kind(value: ParamValue) -> str:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int | float):
        return NUMERIC
    if isinstance(value, dt.datetime):
        return TIMESTAMP
    if isinstance(value, dt.date):
        return DATE
    return STRING


def _value_kind(node: exp.Expr, params: Mapping[str, ParamValue]) -> str | None:
    """What a constant operand is (a literal, a typed parameter, a cast, a date function), or None."""
    if isinstance(node, exp.Paren | exp.Neg):
        return _value_kind(node.this, params)
    if isinstance(node, exp.Literal):
        return STRING if node.is_string else NUMERIC
    if isinstance(node, exp.Boolean):
        return BOOLEAN
    if isinstance(node, exp.Parameter | exp.Placeholder):
        value = params.get(node.name)
        return None if value is None else _parameter_kind(value)
    if isinstance(node, exp.Cast | exp.TryCast):
        data_type = node.to
        if data_type.this in exp.DataType.NUMERIC_TYPES:
            return NUMERIC
        if data_type.this in exp.DataType.TEXT_TYPES:
            return STRING
        if data_type.this == exp.DataType.Type.DATE:
            return DATE
        if data_type.this in _TIMESTAMP_DATA_TYPES:
            return TIMESTAMP
        if data_type.this == exp.DataType.Type.BOOLEAN:
            return BOOLEAN
        return None
    if isinstance(node, _TIMESTAMP_VALUES):
        return TIMESTAMP
    if isinstance(node, _DATE_VALUES):
        return DATE
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
        kinds = {_value_kind(operand, params) for operand in (node.this, node.expression)}
        return NUMERIC if kinds == {NUMERIC} else None
    return None


def _comparison_usage(comparison: exp.Expr, side: exp.Expr, params: Mapping[str, ParamValue]) -> str:
    if isinstance(comparison, exp.Is):
        return BOOLEAN if isinstance(comparison.expression, exp.Boolean) else ANY
    if isinstance(comparison, exp.In) and comparison.args.get("query") is not None:
        return ANY
    operands = list(comparison.iter_expressions())
    if isinstance(comparison, exp.Between) and side is not comparison.this:
        operands = [comparison.this]
    kinds = {kind for operand in operands if operand is not side and (kind := _value_kind(operand, params))}
    return kinds.pop() if len(kinds) == 1 else ANY


def _sibling_kind(parent: exp.Expr, node: exp.Expr, params: Mapping[str, ParamValue]) -> str | None:
    siblings: list[exp.Expr | None]
    if isinstance(parent, exp.Coalesce | exp.Greatest | exp.Least):
        siblings = list(parent.iter_expressions())
    elif isinstance(parent, exp.If) and node.arg_key in ("true", "false"):
        siblings = [parent.args.get("true"), parent.args.get("false")]
    else:
        return None
    kinds = {kind for s in siblings if s is not None and s is not node and (kind := _value_kind(s, params))}
    return kinds.pop() if len(kinds) == 1 else None


def _usage(column: exp.Column, params: Mapping[str, ParamValue]) -> str:
    """How the query uses ``column``: the innermost context that says what type it must have."""
    node: exp.Expr = column
    while True:
        parent, key = node.parent, node.arg_key
        if parent is None:
            return ANY
        passes = (
            isinstance(parent, _PASS_THROUGH)
            or (isinstance(parent, exp.If) and key in ("true", "false"))
            or (isinstance(parent, exp.Case) and key in ("ifs", "default"))
            or (isinstance(parent, exp.Nullif) and key == "this")
        )
        if not passes:
            break
        # The values COALESCE or IF choose between share one type: a literal beside the column says it.
        sibling = _sibling_kind(parent, node, params)
        if sibling is not None:
            return sibling
        node = parent
    if isinstance(parent, _BOOLEAN_CONTEXTS) or (isinstance(parent, _BOOLEAN_ARGUMENT) and key == "this"):
        return BOOLEAN
    if isinstance(parent, exp.Join) and key == "on":
        return BOOLEAN
    if isinstance(parent, exp.Add | exp.Sub) and any(
        isinstance(operand, exp.Interval) for operand in (parent.this, parent.expression)
    ):
        return ANY
    if isinstance(parent, _COMPARISONS):
        return _comparison_usage(parent, node, params)
    if isinstance(parent, exp.Bracket) and key != "this":
        return ANY  # the subscript of an array, not the array
    for contexts, usage in (
        (_NUMERIC_CONTEXTS, NUMERIC),
        (_STRING_CONTEXTS, STRING),
        (_DATE_CONTEXTS, DATE),
        (_TIMESTAMP_CONTEXTS, TIMESTAMP),
        (_ARRAY_CONTEXTS, ARRAY),
    ):
        if isinstance(parent, contexts) and key != "unit":
            return usage
    return ANY


@dataclass(frozen=True)
class ColumnUse:
    """One use of a column. ``tables`` holds the one table it belongs to, or the candidates when an
    unqualified column could belong to any of several joined tables (empty: could not be resolved)."""

    tables: tuple[str, ...]
    column: str
    usage: str


def _table_key(table: exp.Table) -> str:
    return f"{table.db}.{table.name}" if table.db else table.name


def _named_projection(select: exp.Select, name: str) -> exp.Expr | None:
    for projection in select.expressions:
        if projection.alias_or_name.lower() == name.lower():
            return projection.unalias() if isinstance(projection, exp.Alias) else projection
    return None


def _has_star(select: exp.Select) -> bool:
    return any(isinstance(projection, exp.Star) or projection.is_star for projection in select.expressions)


def _from_source(source: exp.Table | Scope, name: str, usage: str) -> list[ColumnUse]:
    """The uses ``name`` of ``source`` comes down to: a table's column, or what a CTE or subquery projects."""
    if isinstance(source, exp.Table):
        return [ColumnUse((_table_key(source),), name, usage)]
    if source.scope_type is ScopeType.UDTF:
        return []
    if isinstance(source.expression, exp.SetOperation):
        return [use for branch in source.set_operation_scopes for use in _from_source(branch, name, usage)]
    if not isinstance(source.expression, exp.Select):
        return []
    projection = _named_projection(source.expression, name)
    # MAX(col) AS col keeps col's type, so the outer query's use of it is a use of col.
    while isinstance(projection, _SAME_TYPE_AGGREGATES):
        projection = projection.this
    if isinstance(projection, exp.Column):
        return _resolve(source, projection.table, projection.name, usage)
    if projection is None and _has_star(source.expression):
        return _resolve(source, "", name, usage)
    # A computed projection: its own columns are counted, with their own uses, in that scope.
    return []


def _may_provide(source: exp.Table | Scope, name: str) -> bool:
    if isinstance(source, exp.Table):
        return True
    expression = source.expression
    if isinstance(expression, exp.Select):
        return _named_projection(expression, name) is not None or _has_star(expression)
    return isinstance(expression, exp.SetOperation)


def _using_columns(scope: Scope) -> set[str]:
    joins = scope.expression.args.get("joins") or []
    return {column.name.lower() for join in joins for column in join.args.get("using") or []}


def _resolve(scope: Scope, qualifier: str, name: str, usage: str) -> list[ColumnUse]:
    """Which table(s) column ``qualifier.name`` (``qualifier`` may be empty) seen in ``scope`` belongs to."""
    if qualifier:
        owner: Scope | None = scope
        while owner is not None:
            if qualifier in owner.sources:
                return _from_source(owner.sources[qualifier], name, usage)
            # Only a subquery sees the sources of the query around it (a correlated reference).
            owner = owner.parent if owner.scope_type is ScopeType.SUBQUERY else None
        return [ColumnUse((), f"{qualifier}.{name}", usage)]
    selected = {alias: source for alias, (_, source) in scope.selected_sources.items()}
    unnested = selected.get(name)
    if isinstance(unnested, Scope) and unnested.scope_type is ScopeType.UDTF:
        return []  # the value of an UNNEST, named by its alias
    candidates = [source for source in selected.values() if _may_provide(source, name)]
    if len(candidates) == 1:
        return _from_source(candidates[0], name, usage)
    if not candidates and scope.parent is not None and scope.scope_type is ScopeType.SUBQUERY:
        return _resolve(scope.parent, "", name, usage)
    if name.lower() in _using_columns(scope):
        # JOIN … USING (col) merges the tables' columns into one: the use is a use of each.
        return [use for source in candidates for use in _from_source(source, name, usage)]
    tables = tuple(sorted(_table_key(c) for c in candidates if isinstance(c, exp.Table)))
    return [ColumnUse(tables, name, usage)]


def _select_alias(scope: Scope, column: exp.Column) -> exp.Expr | None:
    """The projection an unqualified name in GROUP BY, HAVING, QUALIFY or ORDER BY refers to, if any."""
    select = scope.expression
    if column.table or not isinstance(select, exp.Select):
        return None
    clause = column.find_ancestor(exp.Group, exp.Having, exp.Qualify, exp.Order, exp.Select)
    if clause is None or isinstance(clause, exp.Select) or clause.parent is not select:
        return None
    for projection in select.expressions:
        if isinstance(projection, exp.Alias) and projection.alias.lower() == column.name.lower():
            aliased: exp.Expr = projection.this
            return aliased
    return None


def _column_uses(tree: exp.Expr, params: Mapping[str, ParamValue]) -> Iterator[ColumnUse]:
    seen: set[int] = set()
    for scope in traverse_scope(tree):
        if scope.scope_type is ScopeType.UDTF:
            continue  # its columns belong to the query the UNNEST sits in
        for column in scope.columns:
            if id(column) in seen or id(column) not in scope.column_index:
                continue
            seen.add(id(column))
            usage = _usage(column, params)
            aliased = _select_alias(scope, column)
            if aliased is not None:
                if isinstance(aliased, exp.Column):
                    yield from _resolve(scope, aliased.table, aliased.name, usage)
                continue
            yield from _resolve(scope, column.table, column.name, usage)


def _parse(sql: str) -> exp.Expr:
    statements = sqlglot.parse(sql, read="bigquery")
    if len(statements) != 1 or statements[0] is None:
        raise ValueError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]


def _physical_tables(tree: exp.Expr) -> set[str]:
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {_table_key(table) for table in tree.find_all(exp.Table) if table.db or table.name not in ctes}


def _disambiguate(use: ColumnUse, catalog: Mapping[str, TableSchema] | None) -> ColumnUse:
    if len(use.tables) < 2 or catalog is None:
        return use
    having = tuple(t for t in use.tables if t in catalog and use.column.lower() in _lower_columns(catalog[t]))
    return ColumnUse(having, use.column, use.usage) if len(having) == 1 else use


def _lower_columns(schema: TableSchema) -> dict[str, FieldSchema]:
    return {field.name.lower(): field for field in schema.fields}


def columns_used(
    sql: str,
    params: Mapping[str, ParamValue] | None = None,
    *,
    catalog: Mapping[str, TableSchema] | None = None,
) -> dict[str, dict[str, set[str]]]:
    """Per table (``dataset.table``) the query reads, each column it references and how it uses it.

    Uses are ``numeric`` (summed, averaged, in arithmetic, compared with a number), ``boolean`` (a
    predicate on its own: ``COUNTIF(col)``, ``col AND …``, compared with TRUE), ``string`` (compared
    with a string literal, in LIKE or CONCAT), ``date`` / ``timestamp`` (compared with a DATE or
    TIMESTAMP value, parameter or function; in DATE_DIFF or TIMESTAMP_DIFF), ``array`` (unnested or
    measured with ARRAY_LENGTH) and ``any`` otherwise (projected, counted, compared with a column).
    Parameters are typed from ``params``' values; an untyped parameter says nothing.

    Table and select-list aliases, CTEs, subqueries and correlated references are resolved to the
    catalog table; an unqualified column belongs to the single table of its SELECT. With several
    tables, ``catalog`` decides which one has it; :class:`ValueError` if none can.
    """
    tree = _parse(sql)
    used: dict[str, dict[str, set[str]]] = {table: {} for table in _physical_tables(tree)}
    for use in _column_uses(tree, params or {}):
        resolved = _disambiguate(use, catalog)
        if len(resolved.tables) != 1:
            raise ValueError(_unplaced(resolved))
        used.setdefault(resolved.tables[0], {}).setdefault(resolved.column, set()).add(resolved.usage)
    return used


def _unplaced(use: ColumnUse) -> str:
    if use.tables:
        return f"column {use.column} could be in any of {', '.join(use.tables)}: qualify it with its table"
    return f"column {use.column} belongs to no table its query reads"


def _suggestion(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def check_usage(
    sql: str, catalog: Mapping[str, TableSchema], params: Mapping[str, ParamValue] | None = None
) -> list[str]:
    """Each problem of one query against the catalog: unknown table, unknown column, incompatible use."""
    tree = _parse(sql)
    problems: list[str] = []
    for table in sorted(_physical_tables(tree)):
        if table not in catalog:
            problems.append(
                f"table {table} is not in the schema catalog (schemas/){_suggestion(table, catalog)}"
            )
    uses: dict[tuple[str, str], set[str]] = defaultdict(set)
    for use in _column_uses(tree, params or {}):
        resolved = _disambiguate(use, catalog)
        if len(resolved.tables) != 1:
            problems.append(_unplaced(resolved))
            continue
        uses[(resolved.tables[0], resolved.column)].add(resolved.usage)
    for (table, column), usages in sorted(uses.items()):
        schema = catalog.get(table)
        if schema is None:
            continue  # reported above, once per table
        field = _lower_columns(schema).get(column.lower())
        if field is None:
            problems.append(
                f"{table}.{column}: no such column in {_schema_file(table)}"
                f"{_suggestion(column, schema.columns)}"
            )
            continue
        for usage in sorted(usages):
            if not type_compatible(field.type, field.mode, usage):
                shape = f"{standard_type(field.type)}{' REPEATED' if field.mode == 'REPEATED' else ''}"
                problems.append(f"{table}.{column} is {shape} in {_schema_file(table)} but used as {usage}")
    return list(dict.fromkeys(problems))  # one line per problem, however often the query repeats it
