"""The embedded warehouse: DuckDB running the BigQuery-dialect queries, translated by sqlglot."""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
import sqlglot.errors
from sqlglot import expressions as exp

from resilience.schemas import FieldSchema, TableSchema
from resilience.warehouse.base import QueryError, QueryParams, QueryResult, WarehouseConfigError, first_line


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(str(value))


def _countif_as_count(node: exp.Expression) -> exp.Expression:
    """BigQuery's COUNTIF is 0 over no rows; DuckDB's COUNT_IF is NULL. COUNT(CASE ...) is 0 on both."""
    if isinstance(node, exp.CountIf):
        return exp.Count(this=exp.Case(ifs=[exp.If(this=node.this, true=exp.Literal.number(1))]))
    return node


#: DuckDB's names of the types the demo is built with, back to BigQuery's (resilience/demo/schema.py
#: maps the other way). A BigQuery TIMESTAMP is an instant, DuckDB's TIMESTAMPTZ; a naive one is DATETIME.
_BIGQUERY_TYPES = {
    "VARCHAR": "STRING",
    "BIGINT": "INT64",
    "INTEGER": "INT64",
    "DOUBLE": "FLOAT64",
    "FLOAT": "FLOAT64",
    "BOOLEAN": "BOOL",
    "DATE": "DATE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "TIMESTAMP": "DATETIME",
    "BLOB": "BYTES",
}


def bigquery_field(name: str, data_type: str, is_nullable: str) -> FieldSchema:
    """A column as information_schema describes it, in BigQuery's terms (``DOUBLE[]`` is FLOAT64 REPEATED)."""
    repeated = data_type.endswith("[]")
    scalar = data_type.removesuffix("[]")
    if scalar.startswith("DECIMAL"):
        kind = "NUMERIC"
    elif scalar.startswith("STRUCT"):
        kind = "STRUCT"
    else:
        # An unmapped type keeps DuckDB's name, so a mismatch shows what the column really is.
        kind = _BIGQUERY_TYPES.get(scalar, scalar)
    mode = "REPEATED" if repeated else "NULLABLE" if is_nullable == "YES" else "REQUIRED"
    return FieldSchema(name, kind, mode)


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

    def __init__(self, path: Path, *, read_only: bool = True, create: bool = False) -> None:
        self._path = path
        # Never create a warehouse by opening it: a writer pointed at a wrong or deleted path would
        # otherwise leave a file holding only the table it wrote, which later reads as the warehouse.
        if not path.exists() and not (create and not read_only):
            raise WarehouseConfigError(f"DuckDB warehouse file {path} does not exist")
        try:
            # UTC, whatever the machine's zone: sqlglot's translation of DATE(ts, tz) and friends reads
            # the session time zone, and BigQuery's own default is UTC.
            self._connection = duckdb.connect(str(path), read_only=read_only)
            # (Set after connecting: the time-zone extension is not loaded yet while connecting.)
            self._connection.execute("SET TimeZone = 'UTC'")
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

    def describe_table(self, table: str) -> TableSchema | None:
        label = f"describe {table}"
        dataset, _, name = table.partition(".")
        if not dataset or not name:
            raise QueryError(label, self.target, f"{table!r} is not a table name of the form dataset.table")
        try:
            cursor = self._connection.cursor()
            try:
                columns = cursor.execute(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
                    " WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?"
                    " ORDER BY ordinal_position",
                    [dataset, name],
                ).fetchall()
            finally:
                cursor.close()
        except duckdb.Error as error:
            raise QueryError(label, self.target, first_line(str(error))) from error
        if not columns:
            return None
        # DuckDB has no partitions, and a view's base table is not recorded: both stay None.
        return TableSchema(table, None, None, tuple(bigquery_field(*column) for column in columns))

    def ensure_table(
        self, table: str, fields: Sequence[Mapping[str, Any]], partition_column: str | None
    ) -> None:
        """Create the schema (dataset) and the table if missing; an existing table is left as it is.

        ``partition_column`` is accepted for parity with BigQuery; DuckDB has no partitions.
        """
        del partition_column
        columns = []
        for field in fields:
            column = FieldSchema(
                str(field["name"]),
                str(field["type"]).upper(),
                str(field.get("mode") or "NULLABLE"),
                "",
                _int_or_none(field.get("precision")),
                _int_or_none(field.get("scale")),
            )
            columns.append(f"{column.name} {column.duckdb_type}{' NOT NULL' if column.required else ''}")
        dataset = table.split(".", 1)[0]
        try:
            self._connection.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
            self._connection.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(columns)})")
        except duckdb.Error as error:
            raise QueryError(f"create {table}", self.target, first_line(str(error))) from error

    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]], *, key: str | None = None) -> None:
        """Append ``rows`` (all with the same keys) in one transaction: all or none are written.

        With ``key`` (a column every row carries), a row whose key value is in the table already,
        or earlier in ``rows``, is skipped: writing the same rows again changes nothing.
        """
        if not rows:
            return
        names = list(rows[0])
        placeholders = ", ".join("?" for _ in names)
        values = [[row.get(name) for name in names] for row in rows]
        if key is None:
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})"
        else:
            if key not in names:
                raise QueryError(f"insert into {table}", self.target, f"the rows have no key column {key!r}")
            sql = (
                f"INSERT INTO {table} ({', '.join(names)}) SELECT {placeholders}"
                f" WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {key} = ?)"
            )
            values = [[*row, row[names.index(key)]] for row in values]
        try:
            self._connection.execute("BEGIN TRANSACTION")
            self._connection.executemany(sql, values)
            self._connection.execute("COMMIT")
        except duckdb.Error as error:
            self._connection.execute("ROLLBACK")
            raise QueryError(f"insert into {table}", self.target, first_line(str(error))) from error

    def execute_script(self, sql: str) -> None:
        """Run DuckDB-native statements (DDL for the demo and for tests); not for checks."""
        self._connection.execute(sql)

    def close(self) -> None:
        self._connection.close()
