"""The production warehouse: BigQuery through the official client, which is built elsewhere and injected.

Every job carries the suite's labels, a byte cap and a timeout, so a runaway check is cut off by
BigQuery and can be found afterwards in INFORMATION_SCHEMA.JOBS by its ``check_query`` label.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from google.api_core import exceptions as google_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_RETRY

from resilience.schemas import FieldSchema, TableSchema
from resilience.warehouse.base import (
    BigQueryOptions,
    ParamValue,
    QueryError,
    QueryParams,
    QueryResult,
    WarehouseConfigError,
    first_line,
)

#: The label every job carries, naming the check query that ran it.
CHECK_QUERY_LABEL = "check_query"
#: BigQuery's limits on labels: keys and values at most 63 characters, at most 64 labels per job.
LABEL_MAX_LENGTH = 63
LABELS_PER_JOB = 64

_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_LABEL_UNSAFE_RUN = re.compile(r"[^a-z0-9_-]+")
#: The client prefixes HTTP errors with "POST https://…: "; the reader needs only what BigQuery said.
_REQUEST_PREFIX = re.compile(r"^[A-Z]+ \S+: ")
#: What a call through the client may raise besides its documented API errors: credentials that cannot
#: be refreshed, and transport errors the client does not retry (TLS failures).
_TRANSPORT_ERRORS = (auth_exceptions.GoogleAuthError, requests.exceptions.RequestException)
#: The API still answers in legacy SQL's type names; the catalog spells them as Standard SQL does.
_STANDARD_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}


def label_value(text: str) -> str:
    """``text`` as a BigQuery label value: lowercase letters, digits, ``_`` and ``-``, at most 63 chars.

    Runs of other characters become one ``_``. A value cut to length ends with a short hash of the
    whole text, so two long query labels sharing a prefix stay distinguishable in the job history.
    """
    safe = _LABEL_UNSAFE_RUN.sub("_", text.lower()).strip("_")
    if len(safe) <= LABEL_MAX_LENGTH:
        return safe
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{safe[: LABEL_MAX_LENGTH - len(digest) - 1]}-{digest}"


def job_labels(options_labels: Mapping[str, str], query_label: str) -> dict[str, str]:
    """The labels of one job: the configured ones plus ``check_query`` (which wins over a configured one)."""
    return {**options_labels, CHECK_QUERY_LABEL: label_value(query_label)}


def validate_labels(labels: Mapping[str, str]) -> None:
    """Reject configured labels BigQuery would refuse, before any job runs, naming the bad one."""
    if len(labels) + 1 > LABELS_PER_JOB:
        raise WarehouseConfigError(
            f"BigQuery labels: {len(labels)} configured, at most {LABELS_PER_JOB - 1} allowed "
            f"(the suite adds {CHECK_QUERY_LABEL!r})"
        )
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key):
            raise WarehouseConfigError(
                f"BigQuery label key {key!r}: must start with a lowercase letter and hold only lowercase "
                "letters, digits, '_' and '-', at most 63 characters"
            )
        if not _LABEL_VALUE.fullmatch(value):
            raise WarehouseConfigError(
                f"BigQuery label {key}={value!r}: the value may hold only lowercase letters, digits, "
                "'_' and '-', at most 63 characters"
            )


def query_parameter(name: str, value: ParamValue) -> bigquery.ScalarQueryParameter:
    """A named BigQuery parameter whose type follows the Python value.

    ``bool`` is tested before ``int`` and ``datetime`` before ``date`` because each is a subclass of
    the other. A naive datetime is taken as UTC, as BigQuery itself reads a TIMESTAMP without a zone.
    """
    if isinstance(value, bool):
        return bigquery.ScalarQueryParameter(name, "BOOL", value)
    if isinstance(value, int):
        return bigquery.ScalarQueryParameter(name, "INT64", value)
    if isinstance(value, float):
        return bigquery.ScalarQueryParameter(name, "FLOAT64", value)
    if isinstance(value, str):
        return bigquery.ScalarQueryParameter(name, "STRING", value)
    if isinstance(value, dt.datetime):
        in_utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return bigquery.ScalarQueryParameter(name, "TIMESTAMP", in_utc)
    if isinstance(value, dt.date):
        return bigquery.ScalarQueryParameter(name, "DATE", value)
    raise TypeError(
        f"query parameter @{name} is a {type(value).__name__}; "
        "use bool, int, float, str, datetime.date or datetime.datetime"
    )


def json_value(value: Any) -> Any:
    """``value`` in the form BigQuery's JSON row APIs accept (streaming inserts, JSON loads)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        # A string keeps NUMERIC's 38 digits exactly; BigQuery parses it for FLOAT64 columns too.
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    raise TypeError(f"cannot write a {type(value).__name__} to BigQuery as JSON: {value!r}")


class TableWriteError(Exception):
    """Writing to a BigQuery table failed; the message names the table and what to fix."""

    def __init__(self, table: str, reason: str) -> None:
        self.table = table
        self.reason = reason
        super().__init__(f"writing to {table} failed: {reason}")


@dataclass(frozen=True)
class RejectedRow:
    """One row BigQuery refused in a streaming insert, with the field it blamed ('' if none)."""

    index: int
    field: str
    reason: str
    message: str

    def describe(self) -> str:
        where = f"field {self.field!r}" if self.field else "the row"
        return f"row {self.index} {where}: {self.message or self.reason}"


class RowsRejectedError(TableWriteError):
    """A streaming insert was refused; nothing of that request was written (BigQuery writes all or none)."""

    def __init__(self, table: str, row_count: int, rejected: Sequence[RejectedRow]) -> None:
        self.row_count = row_count
        self.rejected = tuple(rejected)
        shown = "; ".join(row.describe() for row in self.rejected[:5])
        more = f"; and {len(self.rejected) - 5} more" if len(self.rejected) > 5 else ""
        bad_rows = len({row.index for row in self.rejected})
        super().__init__(table, f"{bad_rows} of {row_count} rows rejected, none written: {shown}{more}")


def rejected_rows(insert_errors: Sequence[Mapping[str, Any]]) -> list[RejectedRow]:
    """The rows at fault in ``insert_rows_json``'s answer.

    Rows answered only with reason ``stopped`` were valid and merely not written because another row
    failed, so they are left out: naming them would send the reader to the wrong row.
    """
    rejected: list[RejectedRow] = []
    for row_errors in insert_errors:
        index = int(row_errors.get("index", -1))
        for error in row_errors.get("errors", ()):
            reason = str(error.get("reason", ""))
            if reason == "stopped":
                continue
            field = str(error.get("location", ""))
            rejected.append(RejectedRow(index, field, reason, str(error.get("message", ""))))
    if insert_errors and not rejected:
        # Every row "stopped" and none blamed: still a failed write, never a silent success.
        rejected.append(RejectedRow(-1, "", "stopped", "BigQuery refused the insert without naming a row"))
    return rejected


class BigQueryWarehouse:
    """Checks read BigQuery through one injected client; every job is labelled, capped and timed out."""

    dialect = "bigquery"

    def __init__(self, client: bigquery.Client, options: BigQueryOptions) -> None:
        validate_labels(options.labels)
        self._client = client
        self._options = options
        # Retries of the API calls themselves default to ten minutes; a check that cannot reach
        # BigQuery should fail within its own timeout instead.
        self._retry = DEFAULT_RETRY.with_timeout(options.job_timeout_seconds)
        self._write_retry = DEFAULT_RETRY.with_timeout(options.write_timeout_seconds)

    @property
    def target(self) -> str:
        return f"bigquery://{self._client.project}"

    @property
    def client(self) -> bigquery.Client:
        return self._client

    def job_config(self, params: QueryParams, *, label: str) -> bigquery.QueryJobConfig:
        """The configuration every check query runs with; raises TypeError for an unsupported parameter."""
        config = bigquery.QueryJobConfig(
            query_parameters=[query_parameter(name, value) for name, value in params.items()],
            labels=job_labels(self._options.labels, label),
            maximum_bytes_billed=self._options.maximum_bytes_billed,
        )
        # jobTimeoutMs makes BigQuery itself cancel the job; the client's own timeout only stops
        # waiting, and the query would keep running and billing. Older clients lack the property.
        if hasattr(bigquery.QueryJobConfig, "job_timeout_ms"):
            config.job_timeout_ms = int(self._options.job_timeout_seconds * 1000)
        return config

    def query(self, sql: str, params: QueryParams, *, label: str) -> QueryResult:
        started = time.perf_counter()
        try:
            config = self.job_config(params, label=label)
        except TypeError as error:
            raise QueryError(label, self.target, str(error)) from error
        timeout = self._options.job_timeout_seconds
        job: bigquery.QueryJob | None = None
        try:
            # jobs.insert rather than jobs.query: it returns the job (and its id) before the query
            # runs, so even a failed query can be found again in the job history.
            # job_retry=None: with any job retry the client wraps jobs.insert in a private retry of
            # ten minutes that no argument shortens, and a check must fail within its timeout. A job
            # that fails on BigQuery's side is reported as an error and runs again next cycle.
            job = self._client.query(
                sql,
                job_config=config,
                location=self._options.location,
                retry=self._retry,
                job_retry=None,
                timeout=timeout,
            )
            row_iterator = job.result(retry=self._retry, timeout=timeout)
            rows: list[dict[str, Any]] = [dict(row.items()) for row in row_iterator]
        except google_exceptions.RetryError as error:
            reason = f"no answer within {timeout:g} s of retries: {_message(error.cause or error)}"
            raise QueryError(label, self.target, first_line(reason), _job_id(job)) from error
        except (google_exceptions.GoogleAPIError, *_TRANSPORT_ERRORS) as error:
            raise QueryError(label, self.target, first_line(_message(error)), _job_id(job)) from error
        except TimeoutError as error:
            # What QueryJob.result raises when the job is still running at the deadline.
            raise QueryError(
                label, self.target, f"no answer within {timeout:g} s (job timeout)", _job_id(job)
            ) from error
        return QueryResult(
            rows=rows,
            query_id=job.job_id or "",
            seconds=time.perf_counter() - started,
            bytes_processed=job.total_bytes_processed,
            labels=dict(config.labels),
        )

    def describe_table(self, table: str) -> TableSchema | None:
        label = f"describe {table}"
        try:
            definition = self._client.get_table(
                table, retry=self._retry, timeout=self._options.job_timeout_seconds
            )
        except google_exceptions.NotFound:
            return None
        except google_exceptions.RetryError as error:
            reason = f"no answer within {self._options.job_timeout_seconds:g} s of retries"
            raise QueryError(
                label, self.target, f"{reason}: {first_line(_message(error.cause or error))}"
            ) from error
        except (google_exceptions.GoogleAPIError, *_TRANSPORT_ERRORS) as error:
            raise QueryError(label, self.target, first_line(_message(error))) from error
        fields = tuple(
            FieldSchema(
                field.name, _STANDARD_TYPES.get(field.field_type, field.field_type), field.mode or "NULLABLE"
            )
            for field in definition.schema
        )
        partitioning = definition.time_partitioning
        # A view's base table is only in its SQL; the catalog's view_of is not recovered from it.
        return TableSchema(table, partitioning.field if partitioning else None, None, fields)

    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]], *, key: str | None = None) -> None:
        """Stream ``rows`` into ``dataset.table``; raise :class:`RowsRejectedError` naming the bad rows.

        One request, so all or none are written; BigQuery caps a request at 10 MB and 50,000 rows,
        far above a run's result history. With ``key``, each row's value of that column is its insert
        id: BigQuery drops a row whose insert id it saw recently (best effort, about a minute), which
        covers the client's own retries of a request that did arrive.
        """
        if not rows:
            return
        if key is not None and any(row.get(key) is None for row in rows):
            raise TableWriteError(table, f"every row needs a value in its key column {key!r}")
        try:
            json_rows = [{str(name): json_value(value) for name, value in row.items()} for row in rows]
        except TypeError as error:
            raise TableWriteError(table, str(error)) from error
        # Without a key the client makes up a fresh insert id per row, as it always has.
        id_argument: dict[str, Any] = {} if key is None else {"row_ids": [str(row[key]) for row in rows]}
        try:
            insert_errors = self._client.insert_rows_json(
                table,
                json_rows,
                retry=self._write_retry,
                timeout=self._options.write_timeout_seconds,
                **id_argument,
            )
        except (google_exceptions.GoogleAPIError, *_TRANSPORT_ERRORS) as error:
            raise TableWriteError(table, first_line(_message(error))) from error
        if insert_errors:
            raise RowsRejectedError(table, len(rows), rejected_rows(insert_errors))

    def ensure_table(
        self, table: str, fields: Sequence[Mapping[str, Any]], partition_column: str | None
    ) -> None:
        """Create the dataset and the table (DAY-partitioned on ``partition_column``) if either is missing.

        An existing table is left exactly as it is, schema included: this never migrates.
        """
        dataset_id, _, table_id = table.partition(".")
        if not dataset_id or not table_id or "." in table_id:
            raise TableWriteError(table, "expected a table name of the form dataset.table")
        dataset = bigquery.Dataset(f"{self._client.project}.{dataset_id}")
        if self._options.location:
            dataset.location = self._options.location
        definition = bigquery.Table(
            f"{self._client.project}.{table}",
            schema=[bigquery.SchemaField.from_api_repr(dict(field)) for field in fields],
        )
        if partition_column:
            definition.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=partition_column
            )
        try:
            timeout = self._options.write_timeout_seconds
            self._client.create_dataset(dataset, exists_ok=True, retry=self._write_retry, timeout=timeout)
            self._client.create_table(definition, exists_ok=True, retry=self._write_retry, timeout=timeout)
        except (google_exceptions.GoogleAPIError, *_TRANSPORT_ERRORS) as error:
            raise TableWriteError(table, first_line(_message(error))) from error

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]  # google-cloud-core leaves it unannotated


def _job_id(job: bigquery.QueryJob | None) -> str | None:
    return job.job_id if job is not None else None


def _message(error: Exception) -> str:
    """The warehouse's own words, without the HTTP method and URL the client puts in front of them."""
    if isinstance(error, google_exceptions.GoogleAPICallError):
        # The structured error holds BigQuery's message alone; ``message`` repeats it after the URL
        # and before a footer with the job's location and id.
        for detail in error.errors or ():
            if isinstance(detail, Mapping) and detail.get("message"):
                return str(detail["message"])
        return _REQUEST_PREFIX.sub("", str(error.message or type(error).__name__))
    return str(error) or type(error).__name__
