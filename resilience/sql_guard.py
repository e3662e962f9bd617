"""Static guards on the suite's SQL: every read of a partitioned table filters its partition column.

An unfiltered query on a partitioned BigQuery table scans (and bills) every partition; on the
prediction tables that is a year of data every 30 minutes. The guard parses the query with sqlglot
and, for each partitioned table it reads, looks in the WHERE clause of that SELECT for a comparison
of the partition column with a constant or a query parameter.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import expressions as exp

from resilience.schemas import TableSchema

_COMPARISONS = (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In)


def _is_constant(node: exp.Expression) -> bool:
    """A literal, a parameter, or an expression built only from them (``DATE_SUB(@d, INTERVAL 1 DAY)``)."""
    if isinstance(node, exp.Column):
        return False
    if isinstance(node, exp.Literal | exp.Placeholder | exp.Parameter | exp.Var | exp.Interval):
        return True
    children: list[exp.Expression] = list(node.iter_expressions())
    return bool(children) and all(_is_constant(child) for child in children)


def _filters_column(where: exp.Expression | None, column: str, names: set[str]) -> bool:
    """Whether ``where`` compares ``column`` of the table known by ``names`` with a constant."""
    if where is None:
        return False

    def is_partition(node: exp.Expression) -> bool:
        if not isinstance(node, exp.Column) or node.name.lower() != column.lower():
            return False
        # An unqualified column is the table's own only when no other table could own it; a join
        # condition on another alias does not filter this table's partitions.
        return not node.table or node.table.lower() in names

    for comparison in where.find_all(*_COMPARISONS):
        operands = [o for o in comparison.iter_expressions() if isinstance(o, exp.Expression)]
        columns = [o for o in operands if is_partition(o)]
        others = [o for o in operands if o not in columns]
        if columns and others and all(_is_constant(o) for o in others):
            return True
    return False


def partition_filter_violations(sql: str, catalog: Mapping[str, TableSchema]) -> list[str]:
    """Each partitioned table the query reads without a constant filter on its partition column."""
    violations = []
    tree = sqlglot.parse_one(sql, read="bigquery")
    for table in tree.find_all(exp.Table):
        name = f"{table.db}.{table.name}" if table.db else table.name
        schema = catalog.get(name)
        if schema is None or schema.partition_column is None:
            continue
        select = table.find_ancestor(exp.Select)
        where = select.args.get("where") if select is not None else None
        names = {table.name.lower(), table.alias_or_name.lower()}
        if not _filters_column(where, schema.partition_column, names):
            violations.append(
                f"{name} is read without a filter on its partition column {schema.partition_column}"
            )
    return violations
