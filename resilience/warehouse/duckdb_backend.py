"""The embedded warehouse: DuckDB running the BigQuery-dialect queries, translated by sqlglot."""

from __future__ import annotations

import functools
import itertools
import time
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
import sqlglot.errors
from sqlglot import expressions as exp

from resilience.warehouse.base import QueryError, QueryParams, QueryResult, WarehouseConfigError, first_line


def _countif_as_count(node: exp.Expression) -> exp.Expression:
    """BigQuery's COUNTIF is 0 over no rows; DuckDB's COUNT_IF is NULL. COUNT(CASE ...) is 0 on both."""
    if isinstance(node, exp.CountIf):
        return exp.Count(this=exp.Case(ifs=[exp.If(this=node.this, true=exp.Literal.number(1))]))
    return node


@functools.lru_cache(maxsize=512)
def to_duckdb_sql(sql: str) -> str:
    """Translate one BigQuery-dialect statement; cached because the same queries run every 30 minutes."""
    statements = sqlglot.parse(sql, read="bigquery")
    if len(statements) != 1 or statements[0] is None:
        raise ValueError(f"expected one SQL statement, got {len(statements)}")
    return statements[0].transform(_countif_as_count).sql(dialect="duckdb")


class DuckDBWarehouse:
    """A DuckDB file holding the production datasets as schemas (``nba_raw.…``)."""

    dialect = "duckdb"

    def __init__(self, path: Path, *, read_only: bool = True) -> None:
        self._path = path
        if read_only and not path.exists():
            raise WarehouseConfigError(f"DuckDB warehouse file {path} does not exist")
        try:
            self._connection = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as error:
            raise WarehouseConfigError(
                f"cannot open DuckDB warehouse {path}: {first_line(str(error))}"
            ) from error
        # Query ids only need to be unique within a run; DuckDB has no job ids of its own.
        self._query_numbers = itertools.count(1)

    @property
    def target(self) -> str:
        return f"duckdb://{self._path}"

    @property
    def path(self) -> Path:
        return self._path

    def query(self, sql: str, params: QueryParams, *, label: str) -> QueryResult:
        query_id = f"duckdb-{next(self._query_numbers)}-{label}"
        started = time.perf_counter()
        try:
            translated = to_duckdb_sql(sql)
        except (sqlglot.errors.SqlglotError, ValueError) as error:
            raise QueryError(label, self.target, f"cannot translate SQL: {first_line(str(error))}") from error
        used = {name: value for name, value in params.items() if f"${name}" in translated}
        try:
            cursor = self._connection.cursor()
            try:
                relation = cursor.execute(translated, used)
                columns = [description[0] for description in relation.description or ()]
                rows: list[dict[str, Any]] = [
                    dict(zip(columns, row, strict=True)) for row in relation.fetchall()
                ]
            finally:
                cursor.close()
        except duckdb.Error as error:
            raise QueryError(label, self.target, first_line(str(error)), query_id) from error
        return QueryResult(rows=rows, query_id=query_id, seconds=time.perf_counter() - started)

    def execute_script(self, sql: str) -> None:
        """Run DuckDB-native statements (DDL for the demo and for tests); not for checks."""
        self._connection.execute(sql)

    def close(self) -> None:
        self._connection.close()
