"""The results history: every check result of every run, passes included, appended to the warehouse.

Rows are JSON-able (dates and times as ISO strings) so that they can wait in the state store's
outbox when the warehouse refuses them, and be written by the next run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from resilience.schemas import bigquery_fields, load_catalog


class WritableWarehouse(Protocol):
    def ensure_table(
        self, table: str, fields: Sequence[Mapping[str, Any]], partition_column: str | None
    ) -> None: ...
    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]], *, key: str | None = None) -> None:
        """Append ``rows``; with ``key``, a row whose key value was written before is not written again
        (exactly in DuckDB, best effort in BigQuery)."""
        ...

    def close(self) -> None: ...


def history_rows(
    payloads: Iterable[Mapping[str, Any]],
    *,
    run_id: str,
    recorded_at: dt.datetime,
    fallback_as_of: dt.date | None,
) -> list[dict[str, Any]]:
    rows = []
    for payload in payloads:
        metrics = payload.get("metrics") or {}
        rows.append(
            {
                "run_id": run_id,
                "suite": str(payload.get("suite") or "unknown"),
                "check_id": str(payload["id"]),
                "target": payload.get("target"),
                "as_of": payload.get("as_of") or (fallback_as_of.isoformat() if fallback_as_of else None),
                "outcome": str(payload["outcome"]),
                "message": payload.get("message"),
                "metrics": json.dumps(metrics, sort_keys=True),
                "duration_seconds": payload.get("duration_seconds"),
                "bytes_processed": payload.get("bytes_processed"),
                "query_ids": json.dumps(list(payload.get("query_ids") or [])),
                "nodeid": payload.get("nodeid"),
                "recorded_at": recorded_at.astimezone(dt.UTC).isoformat(),
            }
        )
    return rows


def write_history(
    warehouse: WritableWarehouse, table: str, rows: Sequence[Mapping[str, Any]], *, key: str | None = None
) -> None:
    """Create the table from the schema catalog if missing, then append ``rows`` in one request
    (skipping rows whose ``key`` value is already there, when a key is given)."""
    schema = load_catalog()[table]
    warehouse.ensure_table(table, bigquery_fields(schema), schema.partition_column)
    warehouse.insert_rows(table, rows, key=key)
