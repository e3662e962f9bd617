"""Table layouts of the demo warehouse, read from ``schemas/*.json``.

The JSON files hold BigQuery's schema format (a ``fields`` list) inside a small wrapper that
also records the partition column and, for views, the table they show. They are the single
source of truth: this module turns them into DuckDB schemas, tables and views, and a BigQuery
emulator fixture creates the same tables from the same files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"

# BigQuery's NUMERIC without parameters is 38 digits with 9 after the point; DuckDB's widest
# DECIMAL is the same, so an unparameterized column keeps BigQuery's meaning.
_UNPARAMETERIZED_NUMERIC = "DECIMAL(38,9)"

_SCALAR_TYPES: Mapping[str, str] = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "INTEGER": "BIGINT",
    "FLOAT64": "DOUBLE",
    "FLOAT": "DOUBLE",
    "BOOL": "BOOLEAN",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    # BigQuery TIMESTAMP is an absolute instant, which is DuckDB's TIMESTAMPTZ, not TIMESTAMP.
    "TIMESTAMP": "TIMESTAMPTZ",
}
_MODES = frozenset({"NULLABLE", "REQUIRED", "REPEATED"})


@dataclass(frozen=True)
class Column:
    """One field of a BigQuery schema."""

    name: str
    type: str
    mode: str
    description: str
    precision: int | None = None
    scale: int | None = None

    @property
    def duckdb_type(self) -> str:
        """The DuckDB type that holds this column's values."""
        if self.type in ("NUMERIC", "BIGNUMERIC"):
            if self.precision is None:
                scalar = _UNPARAMETERIZED_NUMERIC
            else:
                scalar = f"DECIMAL({self.precision},{self.scale or 0})"
        elif self.type in _SCALAR_TYPES:
            scalar = _SCALAR_TYPES[self.type]
        else:
            raise ValueError(f"column {self.name}: BigQuery type {self.type!r} has no DuckDB mapping")
        return f"{scalar}[]" if self.mode == "REPEATED" else scalar

    @property
    def required(self) -> bool:
        return self.mode == "REQUIRED"


@dataclass(frozen=True)
class TableSchema:
    """A table (or view) of the warehouse: ``dataset.table`` plus its columns."""

    table: str
    partition_column: str | None
    view_of: str | None
    columns: tuple[Column, ...]

    @property
    def dataset(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def is_view(self) -> bool:
        return self.view_of is not None


def _column_from_json(raw: Mapping[str, object], source: Path) -> Column:
    name = str(raw["name"])
    mode = str(raw.get("mode") or "NULLABLE").upper()
    if mode not in _MODES:
        raise ValueError(f"{source.name}: column {name} has unknown mode {mode!r}")
    precision = raw.get("precision")
    scale = raw.get("scale")
    return Column(
        name=name,
        type=str(raw["type"]).upper(),
        mode=mode,
        description=str(raw.get("description") or ""),
        # BigQuery's REST API spells these as strings ("5"); hand-written files may use numbers.
        precision=None if precision is None else int(str(precision)),
        scale=None if scale is None else int(str(scale)),
    )


def load_table_schema(path: Path) -> TableSchema:
    """Read one wrapped schema file."""
    document = json.loads(path.read_text())
    table = str(document["table"])
    if path.name != f"{table}.json":
        raise ValueError(f"{path.name}: file name must be '{table}.json'")
    partition = document.get("partition_column")
    view_of = document.get("view_of")
    columns = tuple(_column_from_json(field, path) for field in document["fields"])
    if partition is not None and partition not in {column.name for column in columns}:
        raise ValueError(f"{path.name}: partition column {partition!r} is not a field")
    return TableSchema(
        table=table,
        partition_column=None if partition is None else str(partition),
        view_of=None if view_of is None else str(view_of),
        columns=columns,
    )


def load_schemas(directory: Path = SCHEMAS_DIR) -> dict[str, TableSchema]:
    """Every table and view described in ``directory``, keyed by ``dataset.table``."""
    schemas = {}
    for path in sorted(directory.glob("*.json")):
        schema = load_table_schema(path)
        schemas[schema.table] = schema
    if not schemas:
        raise FileNotFoundError(f"no table schemas (*.json) in {directory}")
    return schemas


def create_warehouse(connection: duckdb.DuckDBPyConnection, schemas: Mapping[str, TableSchema]) -> None:
    """Create one DuckDB schema per dataset, then the tables, then the views over them."""
    for dataset in sorted({schema.dataset for schema in schemas.values()}):
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
    for schema in schemas.values():
        if schema.is_view:
            continue
        column_sql = ", ".join(
            f"{column.name} {column.duckdb_type}{' NOT NULL' if column.required else ''}"
            for column in schema.columns
        )
        connection.execute(f"CREATE TABLE {schema.table} ({column_sql})")
    for schema in schemas.values():
        if schema.view_of is None:
            continue
        # Select the columns by name so the view has exactly the layout its own file declares.
        names = ", ".join(schema.column_names)
        connection.execute(f"CREATE VIEW {schema.table} AS SELECT {names} FROM {schema.view_of}")
