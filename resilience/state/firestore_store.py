"""The production state store: Firestore, through the client built by resilience.google_clients.

Collections (document ids are percent-encoded, see :func:`document_id`):

- ``resilience_alert_states/{fingerprint}``
- ``resilience_outbox/{id}``: the payload is kept as a JSON string, not a map: Slack payloads may
  hold arrays of arrays (table blocks), which Firestore cannot store, and the text survives exactly.
- ``resilience_outbox_delivered/{id}``: carries ``expire_at``; production needs a TTL policy on that
  field (``gcloud firestore fields ttls update expire_at --collection-group=resilience_outbox_delivered
  --enable-ttl``), or the collection only grows. Nothing here relies on expiry happening on time.
- ``resilience_heartbeats/{suite}__{run_id}``

This module imports the google-cloud packages, so :mod:`resilience.state` imports it only when a
Firestore store is opened.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry, if_transient_error
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from resilience.state.base import (
    DELIVERED_RETENTION,
    StateStoreError,
    check_limit,
    error_text,
    metric_values,
    payload_from_json,
    payload_json,
    utc,
)
from resilience.state.model import AlertState, Heartbeat, OutboxItem

#: Tries of a contended outbox_add before its failure is reported (each after the client's own retries).
_CONTENDED_ATTEMPTS = 4

__all__ = [
    "ALERT_STATES",
    "HEARTBEATS",
    "OUTBOX",
    "OUTBOX_DELIVERED",
    "FirestoreStateStore",
    "document_id",
]

ALERT_STATES = "resilience_alert_states"
OUTBOX = "resilience_outbox"
OUTBOX_DELIVERED = "resilience_outbox_delivered"
HEARTBEATS = "resilience_heartbeats"
#: Firestore's limit on the writes of one batch.
BATCH_LIMIT = 500
TIMEOUT_SECONDS = 30.0


def document_id(key: str) -> str:
    """``key`` as a readable, URL-safe Firestore document id; distinct keys give distinct ids.

    Firestore forbids ``/`` in ids and reserves ``.``, ``..`` and ``__...__``; percent-encoding
    everything but letters, digits and ``_.-~@:`` removes ``/``, and the reserved forms get their
    first character encoded too (``%`` itself is always encoded, so nothing else can look alike).
    """
    if not key:
        raise ValueError("a Firestore document id must not be empty")
    encoded = quote(key, safe="@:")
    if encoded in (".", "..") or (len(encoded) >= 4 and encoded.startswith("__") and encoded.endswith("__")):
        encoded = f"%{ord(encoded[0]):02X}{encoded[1:]}"
    return encoded


def _time(value: Any) -> dt.datetime:
    # The client returns its own datetime subclass (with nanoseconds); hand back a plain one.
    moment = utc(value)
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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _alert_document(state: AlertState) -> dict[str, Any]:
    return {
        "fingerprint": state.fingerprint,
        "check_id": state.check_id,
        "target": state.target,
        "first_seen": utc(state.first_seen),
        "last_seen": utc(state.last_seen),
        "last_sent": None if state.last_sent is None else utc(state.last_sent),
        "last_outcome": state.last_outcome,
        "last_band": state.last_band,
        "count": state.count,
        "recent_outcomes": list(state.recent_outcomes),
        "flapping": state.flapping,
        "last_values": dict(state.last_values),
    }


def _alert_state(document: Mapping[str, Any]) -> AlertState:
    last_sent = document.get("last_sent")
    return AlertState(
        fingerprint=str(document["fingerprint"]),
        check_id=str(document["check_id"]),
        target=str(document["target"]),
        first_seen=_time(document["first_seen"]),
        last_seen=_time(document["last_seen"]),
        last_sent=None if last_sent is None else _time(last_sent),
        last_outcome=str(document["last_outcome"]),
        last_band=str(document["last_band"]),
        count=int(document["count"]),
        recent_outcomes=tuple(str(outcome) for outcome in document["recent_outcomes"]),
        flapping=bool(document["flapping"]),
        last_values=metric_values(document["last_values"]),
    )


def _outbox_item(document: Mapping[str, Any]) -> OutboxItem:
    return OutboxItem(
        id=str(document["id"]),
        channel=str(document["channel"]),
        payload=payload_from_json(str(document["payload_json"])),
        created_at=_time(document["created_at"]),
        attempts=int(document["attempts"]),
        last_error=str(document["last_error"]),
    )


def _heartbeat(document: Mapping[str, Any]) -> Heartbeat:
    return Heartbeat(
        suite=str(document["suite"]),
        run_id=str(document["run_id"]),
        started_at=_time(document["started_at"]),
        finished_at=_time(document["finished_at"]),
        outcome=str(document["outcome"]),
        counts={str(name): int(number) for name, number in document["counts"].items()},
    )


class FirestoreCalls:
    """What every Firestore-backed store does around a call: bound it by ``timeout`` seconds, retries
    included, so a Firestore that is down fails in bounded time; and turn what it raises into the
    store's error, naming the store and the operation."""

    def __init__(
        self,
        location: str,
        timeout: float,
        error_type: type[StateStoreError] = StateStoreError,
        shape_errors: tuple[type[Exception], ...] = (ValueError, KeyError, TypeError),
    ) -> None:
        self.location = location
        self.timeout = timeout
        self.retry = Retry(predicate=if_transient_error, initial=0.1, maximum=2.0, timeout=timeout)
        self._error_type = error_type
        self._shape_errors = shape_errors

    def bounded(self) -> dict[str, Any]:
        """The ``retry`` and ``timeout`` keyword arguments of every client call."""
        return {"retry": self.retry, "timeout": self.timeout}

    @contextlib.contextmanager
    def failure(self, operation: str) -> Iterator[None]:
        try:
            yield
        except api_exceptions.GoogleAPIError as error:
            # GoogleAPIError covers call errors and RetryError (the deadline ran out while retrying).
            raise self._error_type(self.location, operation, _message(error)) from error
        except self._shape_errors as error:
            # ValueError also comes from the client: a transaction that kept conflicting, an invalid
            # id; KeyError/TypeError from a document that does not have the store's shape.
            raise self._error_type(self.location, operation, f"{type(error).__name__}: {error}") from error


class FirestoreStateStore:
    """A :class:`~resilience.state.base.StateStore` in Firestore. It owns ``client`` and closes it.

    Every call is bounded by ``timeout`` seconds, retries included, so a Firestore that is down
    fails the run's bookkeeping in bounded time instead of hanging the schedule.
    """

    def __init__(
        self,
        client: firestore.Client,
        *,
        location: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.location = location or f"firestore://{client.project}"
        self._client = client
        self._calls = FirestoreCalls(self.location, timeout)
        self._clock = clock
        self._alert_states = client.collection(ALERT_STATES)
        self._outbox = client.collection(OUTBOX)
        self._delivered = client.collection(OUTBOX_DELIVERED)
        self._heartbeats = client.collection(HEARTBEATS)

    def load_alert_states(self, fingerprints: Iterable[str]) -> dict[str, AlertState]:
        wanted = list(dict.fromkeys(fingerprints))
        states: dict[str, AlertState] = {}
        with self._calls.failure("load alert states"):
            references = [self._alert_states.document(document_id(key)) for key in wanted]
            for start in range(0, len(references), BATCH_LIMIT):
                chunk = references[start : start + BATCH_LIMIT]
                for snapshot in self._client.get_all(chunk, **self._calls.bounded()):
                    document = snapshot.to_dict() if snapshot.exists else None
                    if document is not None:
                        state = _alert_state(document)
                        states[state.fingerprint] = state
        return states

    def save_alert_states(self, states: Iterable[AlertState]) -> None:
        # The last of duplicate fingerprints wins, as a sequence of upserts would have it.
        latest = {state.fingerprint: state for state in states}
        documents = [(document_id(key), _alert_document(state)) for key, state in latest.items()]
        with self._calls.failure("save alert states"):
            # One batch is atomic; more than BATCH_LIMIT states are written as several batches, each
            # atomic on its own (a run alerts on far fewer checks than that).
            for start in range(0, len(documents), BATCH_LIMIT):
                batch = self._client.batch()
                for key, document in documents[start : start + BATCH_LIMIT]:
                    batch.set(self._alert_states.document(key), document)
                batch.commit(**self._calls.bounded())

    def outbox_add(self, item: OutboxItem) -> bool:
        document = {
            "id": item.id,
            "channel": item.channel,
            "payload_json": payload_json(item, self.location),
            "created_at": utc(item.created_at),
            "attempts": item.attempts,
            "last_error": error_text(item.last_error),
        }
        with self._calls.failure(f"add outbox item {item.id!r}"):
            queued = self._outbox.document(document_id(item.id))
            delivered = self._delivered.document(document_id(item.id))
            # A plain read first: the common repeat answers without a transaction, and it bounds
            # the time to notice that Firestore is unreachable (the client begins a transaction
            # with its own 60 s retry deadline, not ours).
            snapshots = self._client.get_all([queued, delivered], **self._calls.bounded())
            if any(snapshot.exists for snapshot in snapshots):
                return False

            @firestore.transactional
            def add_if_new(transaction: firestore.Transaction) -> bool:
                snapshots = transaction.get_all([queued, delivered], **self._calls.bounded())
                if any(snapshot.exists for snapshot in snapshots):
                    return False
                # create(), not set(): should a write slip past the transaction, it fails instead of
                # overwriting an item another run queued.
                transaction.create(queued, document)
                return True

            # Under contention the emulator (and Firestore) abort the losing transaction with "lock
            # timeout" once the client's own retries are spent. The loser re-reads: if the item exists
            # now, another writer won; if not, it tries again, a bounded number of times.
            for attempt in range(_CONTENDED_ATTEMPTS):
                try:
                    added: bool = add_if_new(self._client.transaction())
                    return added
                except (api_exceptions.Aborted, api_exceptions.AlreadyExists):
                    snapshots = self._client.get_all([queued, delivered], **self._calls.bounded())
                    if any(snapshot.exists for snapshot in snapshots):
                        return False
                    if attempt == _CONTENDED_ATTEMPTS - 1:
                        raise
                    time.sleep(0.2 * (attempt + 1))
            return False

    def outbox_pending(self, limit: int = 100) -> list[OutboxItem]:
        check_limit(limit)
        if limit == 0:
            return []
        with self._calls.failure("read the outbox"):
            query = self._outbox.order_by("created_at").limit(limit)
            return [
                _outbox_item(document)
                for snapshot in query.stream(**self._calls.bounded())
                if (document := snapshot.to_dict()) is not None
            ]

    def outbox_delivered(self, item_id: str) -> None:
        now = utc(self._clock())
        with self._calls.failure(f"mark outbox item {item_id!r} delivered"):
            batch = self._client.batch()
            batch.delete(self._outbox.document(document_id(item_id)))
            batch.set(
                self._delivered.document(document_id(item_id)),
                {"id": item_id, "delivered_at": now, "expire_at": now + DELIVERED_RETENTION},
            )
            batch.commit(**self._calls.bounded())

    def outbox_failed(self, item_id: str, error: str) -> None:
        # NotFound: the item was delivered (and removed) meanwhile by another run.
        with (
            self._calls.failure(f"record a failed delivery of outbox item {item_id!r}"),
            contextlib.suppress(api_exceptions.NotFound),
        ):
            # Increment is applied by the server, so two runs failing at once both count.
            self._outbox.document(document_id(item_id)).update(
                {"attempts": firestore.Increment(1), "last_error": error_text(error)}, **self._calls.bounded()
            )

    def record_heartbeat(self, heartbeat: Heartbeat) -> None:
        key = f"{document_id(heartbeat.suite)}__{document_id(heartbeat.run_id)}"
        with self._calls.failure(f"record the heartbeat of {heartbeat.suite} run {heartbeat.run_id!r}"):
            self._heartbeats.document(key).set(
                {
                    "suite": heartbeat.suite,
                    "run_id": heartbeat.run_id,
                    "started_at": utc(heartbeat.started_at),
                    "finished_at": utc(heartbeat.finished_at),
                    "outcome": heartbeat.outcome,
                    "counts": dict(heartbeat.counts),
                },
                **self._calls.bounded(),
            )

    def heartbeats(self, suite: str, limit: int = 20) -> list[Heartbeat]:
        check_limit(limit)
        if limit == 0:
            return []
        with self._calls.failure(f"read the heartbeats of {suite}"):
            # Real Firestore needs a composite index for this query (the emulator does not check):
            # collection resilience_heartbeats, fields suite ASCENDING + finished_at DESCENDING.
            # gcloud firestore indexes composite create --collection-group=resilience_heartbeats
            #   --field-config=field-path=suite,order=ascending
            #   --field-config=field-path=finished_at,order=descending
            query = (
                self._heartbeats.where(filter=FieldFilter("suite", "==", suite))
                .order_by("finished_at", direction=firestore.Query.DESCENDING)
                .limit(limit)
            )
            return [
                _heartbeat(document)
                for snapshot in query.stream(**self._calls.bounded())
                if (document := snapshot.to_dict()) is not None
            ]

    def suites_with_heartbeats(self) -> list[str]:
        suites: list[str] = []
        with self._calls.failure("list the suites with heartbeats"):
            # Firestore has no DISTINCT. Rather than read every heartbeat ever recorded, hop from one
            # suite to the next: one single-document read per suite, on the automatic index on suite.
            while True:
                query = self._heartbeats.order_by("suite").select(["suite"]).limit(1)
                if suites:
                    query = query.where(filter=FieldFilter("suite", ">", suites[-1]))
                found = [
                    str(document["suite"])
                    for snapshot in query.stream(**self._calls.bounded())
                    if (document := snapshot.to_dict()) is not None
                ]
                if not found:
                    return suites
                suites.append(found[0])

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]  # google-cloud-core leaves it unannotated


def _message(error: api_exceptions.GoogleAPIError) -> str:
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first if len(first) <= 300 else first[:299] + "…"
