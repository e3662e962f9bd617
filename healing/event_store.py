"""Where every healing event is kept for reading back: the pattern detector and the analysis CLI ask here.

Two stores, chosen by the same URL as the state store (:func:`resilience.state.parse_state_url`):

- ``sqlite:///ABS/PATH.sqlite``: a ``healing_events`` table in the state store's SQLite file.
- ``firestore://PROJECT``: documents ``healing_events/{healing_id}``, as production keeps them.

The healing id is the idempotency key: adding an event whose id is stored already changes nothing
and answers False, so a retried heal is recorded once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from healing.model import HealingEvent
from resilience.state.base import StateStoreError, firestore_client_for, parse_state_url
from resilience.state.sqlite_file import BUSY_TIMEOUT_SECONDS, SQLiteFile

if TYPE_CHECKING:
    from google.cloud import firestore

__all__ = [
    "EventStore",
    "EventStoreError",
    "FirestoreEventStore",
    "SQLiteEventStore",
    "open_event_store",
]

FIRESTORE_TIMEOUT_SECONDS = 30.0
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_COLUMNS = (
    "healing_id",
    "timestamp",
    "healing_type",
    "trigger_reason",
    "action_taken",
    "before_state",
    "after_state",
    "success",
    "metadata",
)


class EventStoreError(StateStoreError):
    """The healing event store could not do something; names the store, the operation and the reason."""

    def __str__(self) -> str:
        return f"healing event store {self.location}: could not {self.operation}: {self.reason}"


class EventStore(Protocol):
    """Healing events by id, readable by type and time. Every method raises :class:`EventStoreError`."""

    #: Printable, never holds credentials.
    location: str

    def add(self, event: HealingEvent) -> bool:
        """Store ``event``; False, and no change, when an event with its ``healing_id`` is stored already."""
        ...

    def recent(self, healing_type: str | None, since: dt.datetime) -> list[HealingEvent]:
        """Events at or after ``since`` (of ``healing_type``, or of every type for None), newest first."""
        ...

    def close(self) -> None: ...


def _utc_text(moment: dt.datetime) -> str:
    # Fixed width (always microseconds, always +00:00), so text order is time order.
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _event(row: Mapping[str, Any]) -> HealingEvent:
    """The event a stored row holds, equal to the one that was added.

    ``to_row`` folds ``check_fingerprint`` into the metadata; ``from_row`` reads it back but leaves it
    in the metadata too, so it is taken out here.
    """
    event = HealingEvent.from_row(row)
    if event.check_fingerprint is None or "check_fingerprint" not in event.metadata:
        return event
    metadata = {name: value for name, value in event.metadata.items() if name != "check_fingerprint"}
    return dataclasses.replace(event, metadata=metadata)


def _require_aware(since: dt.datetime) -> None:
    if since.utcoffset() is None:
        raise ValueError(f"since must be timezone-aware, got naive {since.isoformat()}")


class SQLiteEventStore:
    """Healing events in a table of the state store's SQLite file (WAL mode, as the state store uses).

    The table is this store's own: the state store's schema version does not cover it, and either
    may create the file first. One instance may be shared by threads.
    """

    def __init__(
        self, path: Path, *, table: str = "healing_events", busy_timeout: float = BUSY_TIMEOUT_SECONDS
    ) -> None:
        if not _TABLE_NAME.match(table):
            raise ValueError(f"healing events table {table!r}: use letters, digits and '_' only")
        self.path = path
        self.table = table
        # ValueError/KeyError on reads: a row written by something else that does not decode.
        # require_wal=False: this store has always taken the journal mode it got.
        self._file = SQLiteFile(
            path,
            busy_timeout=busy_timeout,
            error_type=EventStoreError,
            undecodable=(ValueError, KeyError),
            require_wal=False,
        )
        self.location = self._file.location
        self._file.create(f"create the table {self.table}", self._create_table)

    def _create_table(self, connection: sqlite3.Connection) -> None:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " healing_id TEXT PRIMARY KEY,"
            " timestamp TEXT NOT NULL,"
            " healing_type TEXT NOT NULL,"
            " trigger_reason TEXT NOT NULL,"
            " action_taken TEXT NOT NULL,"
            " before_state TEXT,"
            " after_state TEXT,"
            " success INTEGER NOT NULL,"
            " metadata TEXT)"
        )
        connection.execute(
            f"CREATE INDEX IF NOT EXISTS {self.table}_by_type_and_time"
            f" ON {self.table} (healing_type, timestamp)"
        )
        connection.execute(f"CREATE INDEX IF NOT EXISTS {self.table}_by_time ON {self.table} (timestamp)")

    def add(self, event: HealingEvent) -> bool:
        row = event.to_row()
        row["timestamp"] = _utc_text(event.timestamp)
        row["success"] = int(event.success)
        with self._file.write(f"add healing event {event.healing_id!r}") as connection:
            cursor = connection.execute(
                f"INSERT INTO {self.table} ({', '.join(_COLUMNS)})"
                f" VALUES ({', '.join('?' for _ in _COLUMNS)}) ON CONFLICT (healing_id) DO NOTHING",
                [row[name] for name in _COLUMNS],
            )
            return cursor.rowcount == 1

    def recent(self, healing_type: str | None, since: dt.datetime) -> list[HealingEvent]:
        _require_aware(since)
        where, params = "timestamp >= ?", [_utc_text(since)]
        if healing_type is not None:
            where, params = "healing_type = ? AND " + where, [healing_type, *params]
        with self._file.read(f"read the healing events since {_utc_text(since)}") as connection:
            rows = connection.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM {self.table} WHERE {where}"
                " ORDER BY timestamp DESC, healing_id DESC",
                params,
            ).fetchall()
            return [_event(dict(zip(_COLUMNS, row, strict=True))) for row in rows]

    def close(self) -> None:
        self._file.close()


def _plain_utc(value: Any) -> dt.datetime:
    # The client hands back its own datetime subclass (with nanoseconds); return a plain UTC one.
    moment: dt.datetime = value.astimezone(dt.UTC)
    return dt.datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=dt.UTC,
    )


class FirestoreEventStore:
    """Healing events as documents ``{collection}/{healing_id}``. It owns ``client`` and closes it.

    Fields are the warehouse row's (before/after state and metadata as JSON text, which survives
    exactly), with ``timestamp`` a Firestore timestamp. Production wrote the server's time; the event's
    own time is written here, so that the store, the warehouse and the outbox agree on when it happened.
    Every call is bounded by ``timeout`` seconds, retries included.
    """

    def __init__(
        self,
        client: firestore.Client,
        collection: str = "healing_events",
        *,
        location: str | None = None,
        timeout: float = FIRESTORE_TIMEOUT_SECONDS,
    ) -> None:
        from resilience.state.firestore_store import FirestoreCalls

        self.location = location or f"firestore://{client.project}"
        self._client = client
        self._collection = client.collection(collection)
        # AttributeError too: a document without this store's shape.
        self._calls = FirestoreCalls(
            self.location, timeout, EventStoreError, (ValueError, KeyError, TypeError, AttributeError)
        )

    def add(self, event: HealingEvent) -> bool:
        from google.api_core import exceptions as api_exceptions

        from resilience.state.firestore_store import document_id

        document: dict[str, Any] = event.to_row()
        document["timestamp"] = event.timestamp.astimezone(dt.UTC)
        with self._calls.failure(f"add healing event {event.healing_id!r}"):
            reference = self._collection.document(document_id(event.healing_id))
            try:
                # create(), not set(): Firestore refuses an id that exists, so a duplicate never
                # overwrites the first record, even when two healers race.
                reference.create(document, **self._calls.bounded())
            except api_exceptions.AlreadyExists:
                return False
            return True

    def recent(self, healing_type: str | None, since: dt.datetime) -> list[HealingEvent]:
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        _require_aware(since)
        query = self._collection.where(filter=FieldFilter("timestamp", ">=", since.astimezone(dt.UTC)))
        if healing_type is not None:
            # Real Firestore needs a composite index for this query (the emulator does not check):
            #   gcloud firestore indexes composite create --project=nba-props-platform
            #     --collection-group=healing_events
            #     --field-config=field-path=healing_type,order=ascending
            #     --field-config=field-path=timestamp,order=descending
            query = query.where(filter=FieldFilter("healing_type", "==", healing_type))
        query = query.order_by("timestamp", direction=firestore.Query.DESCENDING)
        with self._calls.failure(f"read the healing events since {_utc_text(since)}"):
            events = []
            for snapshot in query.stream(**self._calls.bounded()):
                document: Mapping[str, Any] | None = snapshot.to_dict()
                if document is not None:
                    events.append(_event({**document, "timestamp": _plain_utc(document["timestamp"])}))
            # Equal timestamps: the same tie-break as SQLite, so both stores answer alike.
            events.sort(key=lambda event: (event.timestamp, event.healing_id), reverse=True)
            return events

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]  # google-cloud-core leaves it unannotated


def open_event_store(url: str, source: str, collection: str) -> EventStore:
    """Open the healing event store at the state store URL ``url`` (named by ``source`` in errors).

    ``collection`` is ``settings.healing.events_collection``: the Firestore collection, or the SQLite
    table. A malformed URL raises :class:`ValueError`; a store that cannot be opened,
    :class:`EventStoreError`.
    """
    target = parse_state_url(url, source)
    if target.kind == "sqlite":
        assert target.path is not None
        return SQLiteEventStore(target.path, table=collection)
    client = firestore_client_for(target, url, source, EventStoreError)
    return FirestoreEventStore(client, collection, location=target.describe())
