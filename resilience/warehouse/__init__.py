"""Warehouse access: one contract, two backends (BigQuery in production, DuckDB embedded).

The google-cloud packages are imported only when the target is BigQuery, so the embedded default
starts fast and runs where they are not configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from resilience.warehouse.base import (
    BigQueryOptions,
    ParamValue,
    QueryError,
    QueryParams,
    QueryResult,
    Warehouse,
    WarehouseConfigError,
)

__all__ = [
    "BigQueryOptions",
    "ParamValue",
    "QueryError",
    "QueryParams",
    "QueryResult",
    "Warehouse",
    "WarehouseConfigError",
    "WarehouseTarget",
    "open_warehouse",
    "parse_target",
]


@dataclass(frozen=True)
class WarehouseTarget:
    """Where the checks read: a DuckDB file or a BigQuery project (optionally through an emulator)."""

    kind: Literal["duckdb", "bigquery"]
    path: Path | None = None
    project: str | None = None
    #: API endpoint override, for the local BigQuery emulator (``?endpoint=http://127.0.0.1:9050``).
    endpoint: str | None = None

    def describe(self) -> str:
        if self.kind == "duckdb":
            return f"duckdb://{self.path}"
        return f"bigquery://{self.project}" + (f" via {self.endpoint}" if self.endpoint else "")


def parse_target(value: str, source: str) -> WarehouseTarget:
    """Parse ``duckdb:///abs/path.duckdb`` or ``bigquery://PROJECT[?endpoint=URL]``.

    ``source`` names where the value came from (an environment variable, a settings key) so that the
    error says what to fix.
    """
    parts = urlsplit(value)
    if parts.scheme == "duckdb":
        if parts.netloc or not parts.path.startswith("/"):
            raise WarehouseConfigError(
                f"{source}: {value!r} is not a DuckDB target; write duckdb:///ABSOLUTE/PATH.duckdb"
            )
        return WarehouseTarget(kind="duckdb", path=Path(parts.path))
    if parts.scheme == "bigquery":
        project = parts.netloc
        if not project or parts.path not in ("", "/"):
            raise WarehouseConfigError(
                f"{source}: {value!r} is not a BigQuery target; write bigquery://PROJECT"
            )
        query = parse_qs(parts.query)
        unknown = sorted(set(query) - {"endpoint"})
        if unknown:
            raise WarehouseConfigError(f"{source}: {value!r} has unknown option(s) {', '.join(unknown)}")
        endpoint = query.get("endpoint", [None])[-1]
        return WarehouseTarget(kind="bigquery", project=project, endpoint=endpoint)
    raise WarehouseConfigError(
        f"{source}: {value!r} is not a warehouse target; write duckdb:///ABSOLUTE/PATH.duckdb or bigquery://PROJECT"
    )


def open_warehouse(
    target: WarehouseTarget, options: BigQueryOptions | None = None, *, read_only: bool = True
) -> Warehouse:
    """Build the one warehouse client a run uses; callers receive it, they never build their own."""
    if target.kind == "duckdb":
        from resilience.warehouse.duckdb_backend import DuckDBWarehouse

        assert target.path is not None
        return DuckDBWarehouse(target.path, read_only=read_only)
    from resilience.google_clients import bigquery_client
    from resilience.warehouse.bigquery_backend import BigQueryWarehouse

    assert target.project is not None
    client = bigquery_client(target.project, endpoint=target.endpoint)
    return BigQueryWarehouse(client, options or BigQueryOptions())
