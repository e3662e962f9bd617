"""The suite's catalog of the tables it reads, kept as BigQuery JSON schemas in ``schemas/``.

One file per table: ``{"table", "partition_column", "view_of", "fields": [BigQuery schema fields]}``.
Settings are validated against it (a table the suite does not know is a configuration error), the
demo builder and the BigQuery emulator fixture create tables from it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
_MODES = frozenset({"NULLABLE", "REQUIRED", "REPEATED"})

# BigQuery's NUMERIC without parameters is 38 digits with 9 after the point; DuckDB's widest
# DECIMAL is the same, so an unparameterized column keeps BigQuery's meaning.
_UNPARAMETERIZED_NUMERIC = "DECIMAL(38,9)"
_DUCKDB_SCALARS: Mapping[str, str] = {
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


@dataclass(frozen=True)
class FieldSchema:
    """One column. Equality is name, type and mode: what schema alignment compares."""

    name: str
    type: str
    mode: str = "NULLABLE"
    description: str = field(default="", compare=False)
    precision: int | None = field(default=None, compare=False)
    scale: int | None = field(default=None, compare=False)

    @property
    def required(self) -> bool:
        return self.mode == "REQUIRED"

    @property
    def duckdb_type(self) -> str:
        """The DuckDB type that holds this column's values (the demo and the embedded warehouse)."""
        if self.type in ("NUMERIC", "BIGNUMERIC"):
            scalar = (
                _UNPARAMETERIZED_NUMERIC
                if self.precision is None
                else f"DECIMAL({self.precision},{self.scale or 0})"
            )
        elif self.type in _DUCKDB_SCALARS:
            scalar = _DUCKDB_SCALARS[self.type]
        else:
            raise ValueError(f"column {self.name}: BigQuery type {self.type!r} has no DuckDB mapping")
        return f"{scalar}[]" if self.mode == "REPEATED" else scalar


@dataclass(frozen=True)
class TableSchema:
    table: str
    partition_column: str | None
    view_of: str | None
    fields: tuple[FieldSchema, ...]

    @property
    def dataset(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def columns(self) -> dict[str, FieldSchema]:
        return {column.name: column for column in self.fields}

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.fields)

    @property
    def is_view(self) -> bool:
        return self.view_of is not None


class SchemaCatalogError(ValueError):
    """A schema file is malformed; the message names the file."""


def _optional_int(value: object) -> int | None:
    # BigQuery's REST API spells precision and scale as strings ("5"); hand-written files use numbers.
    return None if value is None else int(str(value))


def _parse(path: Path, document: Any) -> TableSchema:
    if not isinstance(document, dict) or not isinstance(document.get("fields"), list):
        raise SchemaCatalogError(f"{path}: expected an object with 'table' and a 'fields' list")
    table = document.get("table")
    if not isinstance(table, str) or table.count(".") != 1:
        raise SchemaCatalogError(f"{path}: 'table' must be 'dataset.table', got {table!r}")
    if path.name != f"{table}.json":
        raise SchemaCatalogError(f"{path}: the file name must be '{table}.json'")
    fields: list[FieldSchema] = []
    for raw in document["fields"]:
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("name"), str)
            or not isinstance(raw.get("type"), str)
        ):
            raise SchemaCatalogError(f"{path}: field {raw!r} needs a 'name' and a 'type'")
        mode = str(raw.get("mode") or "NULLABLE").upper()
        if mode not in _MODES:
            raise SchemaCatalogError(f"{path}: column {raw['name']} has unknown mode {mode!r}")
        fields.append(
            FieldSchema(
                raw["name"],
                raw["type"].upper(),
                mode,
                str(raw.get("description") or ""),
                _optional_int(raw.get("precision")),
                _optional_int(raw.get("scale")),
            )
        )
    partition = document.get("partition_column")
    if partition is not None and partition not in {column.name for column in fields}:
        raise SchemaCatalogError(f"{path}: partition column {partition!r} is not a field")
    return TableSchema(table, partition, document.get("view_of"), tuple(fields))


@functools.lru_cache(maxsize=4)
def load_catalog(directory: Path = SCHEMA_DIR) -> Mapping[str, TableSchema]:
    """Every table schema in ``directory``, keyed by ``dataset.table``."""
    catalog: dict[str, TableSchema] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise SchemaCatalogError(f"{path}: not valid JSON ({error})") from error
        schema = _parse(path, document)
        catalog[schema.table] = schema
    return catalog


def bigquery_fields(schema: TableSchema) -> Sequence[Mapping[str, Any]]:
    """The fields in the JSON form BigQuery's client and API accept (precision and scale included)."""
    fields: list[dict[str, Any]] = []
    for column in schema.fields:
        entry: dict[str, Any] = {"name": column.name, "type": column.type, "mode": column.mode}
        if column.description:
            entry["description"] = column.description
        if column.precision is not None:
            entry["precision"] = str(column.precision)
        if column.scale is not None:
            entry["scale"] = str(column.scale)
        fields.append(entry)
    return fields
