"""The demo warehouse's DuckDB layout, made from the suite's table catalog (``schemas/*.json``).

The catalog (:mod:`resilience.schemas`) is the one reader of those files; this turns it into DuckDB
schemas, tables and views.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from resilience.schemas import SCHEMA_DIR as SCHEMAS_DIR
from resilience.schemas import TableSchema, load_catalog

__all__ = ["SCHEMAS_DIR", "TableSchema", "create_warehouse", "load_schemas"]


def load_schemas() -> dict[str, TableSchema]:
    """Every table and view of the catalog, keyed by ``dataset.table`` (a copy the caller may change)."""
    schemas = dict(load_catalog())
    if not schemas:
        raise FileNotFoundError(f"no table schemas (*.json) in {SCHEMAS_DIR}")
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
            for column in schema.fields
        )
        connection.execute(f"CREATE TABLE {schema.table} ({column_sql})")
    for schema in schemas.values():
        if schema.view_of is None:
            continue
        # Select the columns by name so the view has exactly the layout its own file declares.
        names = ", ".join(schema.column_names)
        connection.execute(f"CREATE VIEW {schema.table} AS SELECT {names} FROM {schema.view_of}")
