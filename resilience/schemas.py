"""The suite's catalog of the tables it reads, kept as BigQuery JSON schemas in ``schemas/``.

One file per table: ``{"table", "partition_column", "view_of", "fields": [BigQuery schema fields]}``.
Settings are validated against it (a table the suite does not know is a configuration error), the
demo builder and the BigQuery emulator fixture create tables from it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


@dataclass(frozen=True)
class FieldSchema:
    name: str
    type: str
    mode: str = "NULLABLE"


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
        return {field.name: field for field in self.fields}


class SchemaCatalogError(ValueError):
    """A schema file is malformed; the message names the file."""


def _parse(path: Path, document: Any) -> TableSchema:
    if not isinstance(document, dict) or not isinstance(document.get("fields"), list):
        raise SchemaCatalogError(f"{path}: expected an object with 'table' and a 'fields' list")
    table = document.get("table")
    if not isinstance(table, str) or table.count(".") != 1:
        raise SchemaCatalogError(f"{path}: 'table' must be 'dataset.table', got {table!r}")
    fields: list[FieldSchema] = []
    for raw in document["fields"]:
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("name"), str)
            or not isinstance(raw.get("type"), str)
        ):
            raise SchemaCatalogError(f"{path}: field {raw!r} needs a 'name' and a 'type'")
        fields.append(FieldSchema(raw["name"], raw["type"].upper(), str(raw.get("mode", "NULLABLE")).upper()))
    return TableSchema(table, document.get("partition_column"), document.get("view_of"), tuple(fields))


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


def bigquery_fields(schema: TableSchema) -> Sequence[Mapping[str, str]]:
    """The fields in the JSON form BigQuery's client and API accept."""
    return [{"name": f.name, "type": f.type, "mode": f.mode} for f in schema.fields]
