"""The warehouse contract every backend fulfils.

Queries are written once, in BigQuery Standard SQL with named parameters (``@game_date``); a backend
that is not BigQuery translates them. Table references are ``dataset.table`` in backticks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from resilience.schemas import TableSchema

#: The values a named query parameter may take; each maps to one BigQuery scalar type.
ParamValue = bool | int | float | str | dt.date | dt.datetime
QueryParams = Mapping[str, ParamValue]


@dataclass(frozen=True)
class QueryResult:
    """What one query returned, with enough identity to find it again in the warehouse's logs."""

    rows: Sequence[Mapping[str, Any]]
    query_id: str
    seconds: float
    bytes_processed: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BigQueryOptions:
    """How BigQuery jobs are bounded and labelled; resolved from settings, applied to every job."""

    job_timeout_seconds: float = 120.0
    #: Bound on each table write (history, healing events) including retries: a hung warehouse must not
    #: hold the end of a run for minutes; what could not be written waits in the state store's outbox.
    write_timeout_seconds: float = 30.0
    maximum_bytes_billed: int = 50 * 1024**3
    location: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


class QueryError(Exception):
    """A query did not run. The message says which query (by label) and what the warehouse answered."""

    def __init__(self, label: str, target: str, reason: str, query_id: str | None = None) -> None:
        self.label = label
        self.target = target
        self.reason = reason
        self.query_id = query_id
        super().__init__(f"query {label!r} on {target} failed: {reason}")


class WarehouseConfigError(ValueError):
    """The warehouse target is malformed or cannot be opened; the message names the value and its source."""


class Warehouse(Protocol):
    """A place the checks read from. Built by :func:`resilience.warehouse.open_warehouse`, then injected."""

    @property
    def target(self) -> str:
        """A printable name for the target (never holds credentials)."""
        ...

    @property
    def dialect(self) -> str:
        """``bigquery`` or ``duckdb``: what the SQL actually runs as."""
        ...

    def query(self, sql: str, params: QueryParams, *, label: str) -> QueryResult:
        """Run one BigQuery-dialect query with named parameters; raise :class:`QueryError` on failure."""
        ...

    def describe_table(self, table: str) -> TableSchema | None:
        """The live columns of ``dataset.table`` (or view) in BigQuery's type names, None if it does not
        exist; raise :class:`QueryError` when the warehouse cannot answer."""
        ...

    def close(self) -> None: ...


def first_line(text: str, limit: int = 300) -> str:
    """The first line of an error, cut to a length a terminal or Slack section can show."""
    line = text.strip().splitlines()[0] if text.strip() else "(no message)"
    return line if len(line) <= limit else line[: limit - 1] + "…"
