"""Stage generated rows in CSV files and bulk-load them into DuckDB.

Row-by-row inserts would take minutes for a season; one ``INSERT ... SELECT FROM read_csv``
per table takes well under a second. Each staged row is a tuple in the column order of the
table's JSON schema; ``None`` becomes an empty field, which DuckDB reads back as NULL.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import duckdb

from resilience.demo.schema import TableSchema


class StagedTables:
    """One CSV file per table; ``load`` copies them all into a connection."""

    def __init__(self, directory: Path, schemas: Mapping[str, TableSchema]) -> None:
        self._schemas = {name: schema for name, schema in schemas.items() if not schema.is_view}
        self._paths = {name: directory / f"{name}.csv" for name in self._schemas}
        self._files: dict[str, IO[str]] = {}
        self._writers: dict[str, Any] = {}

    def add(self, table: str, rows: Iterable[tuple[object, ...]]) -> None:
        """Append rows to a table's staging file."""
        writer = self._writers.get(table)
        if writer is None:
            if table not in self._schemas:
                raise KeyError(f"no schema file for table {table}")
            handle = self._paths[table].open("w", newline="", encoding="utf-8")
            self._files[table] = handle
            writer = self._writers[table] = csv.writer(handle)
        width = len(self._schemas[table].fields)
        staged = list(rows)
        if staged and len(staged[0]) != width:
            # A shifted tuple would load silently into the wrong columns.
            raise ValueError(f"{table}: row has {len(staged[0])} values, schema has {width} columns")
        writer.writerows(staged)

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def load(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Close the staging files and insert every non-empty one into its table."""
        self.close()
        for table in self._writers:
            schema = self._schemas[table]
            read_types = ", ".join(
                f"'{column.name}': '{'VARCHAR' if column.mode == 'REPEATED' else column.duckdb_type}'"
                for column in schema.fields
            )
            # The CSV reader has no list type: arrays travel as '[1.0, 2.0]' text and are cast here.
            select = ", ".join(
                f"CAST({column.name} AS {column.duckdb_type})" if column.mode == "REPEATED" else column.name
                for column in schema.fields
            )
            path = str(self._paths[table]).replace("'", "''")
            connection.execute(
                f"INSERT INTO {table} SELECT {select} FROM read_csv('{path}', header = false, "
                f"auto_detect = false, delim = ',', quote = '\"', escape = '\"', nullstr = '', "
                f"columns = {{{read_types}}})"
            )
