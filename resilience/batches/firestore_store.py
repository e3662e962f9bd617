"""Prediction batches in Firestore: the coordinator's own ``prediction_batches`` collection (production).

Documents are ``{collection}/{batch_id}`` with production's fields (production-facts.md section 3).
This store writes ``failure_reasons`` (player_lookup -> reason) next to ``failed_players``; documents
the coordinator wrote without it, or without the healing and counter fields, read as if those were
empty, false or 0.

Listing reads the batches created in the window with a single-field range on ``created_at`` (indexed
automatically) and judges the rest in Python: ``is_complete == false`` plus a range on ``created_at``
would need a composite index, and a day holds a handful of batches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import time
from collections.abc import Mapping
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from resilience.batches.model import PredictionBatch
from resilience.batches.store import created_after, stalled_among
from resilience.healing_settings import CleanupSettings
from resilience.state.base import utc
from resilience.state.firestore_store import FirestoreCalls, document_id

__all__ = ["FirestoreBatchStore"]

TIMEOUT_SECONDS = 30.0
#: Tries of a contended completion before its failure is reported (each after the client's own retries).
CONTENDED_ATTEMPTS = 4


def _time(value: Any) -> dt.datetime:
    # The client returns its own datetime subclass (with nanoseconds); hand back a plain one.
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a timestamp, found {type(value).__name__} {value!r}")
    return _plain(utc(value))


def _plain(moment: dt.datetime) -> dt.datetime:
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


def _optional_time(value: Any) -> dt.datetime | None:
    return None if value is None else _time(value)


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _document(batch: PredictionBatch) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "game_date": batch.game_date,
        "expected_players": batch.expected_players,
        "completed_players": list(batch.completed_players),
        "failed_players": list(batch.failed_players),
        "failure_reasons": dict(batch.failure_reasons),
        "predictions_by_player": dict(batch.predictions_by_player),
        "total_predictions": batch.total_predictions,
        "is_complete": batch.is_complete,
        "start_time": None if batch.start_time is None else utc(batch.start_time),
        "completion_time": None if batch.completion_time is None else utc(batch.completion_time),
        "created_at": utc(batch.created_at),
        "updated_at": utc(batch.updated_at),
        "completed_count": batch.completed_count,
        "auto_completed": batch.auto_completed,
        "auto_completion_reason": batch.auto_completion_reason,
        "stall_completed": batch.stall_completed,
        "stall_reason": batch.stall_reason,
        "correlation_id": batch.correlation_id,
        "dataset_prefix": batch.dataset_prefix,
    }


def _batch(document_key: str, document: Mapping[str, Any]) -> PredictionBatch:
    return PredictionBatch(
        batch_id=str(document.get("batch_id") or document_key),
        game_date=str(document["game_date"]),
        expected_players=int(document["expected_players"]),
        created_at=_time(document["created_at"]),
        updated_at=_time(document["updated_at"]),
        start_time=_optional_time(document.get("start_time")),
        completed_players=tuple(str(player) for player in document.get("completed_players") or ()),
        failed_players=tuple(str(player) for player in document.get("failed_players") or ()),
        failure_reasons={str(k): str(v) for k, v in (document.get("failure_reasons") or {}).items()},
        predictions_by_player={
            str(k): int(v) for k, v in (document.get("predictions_by_player") or {}).items()
        },
        total_predictions=int(document.get("total_predictions") or 0),
        is_complete=bool(document.get("is_complete", False)),
        completion_time=_optional_time(document.get("completion_time")),
        completed_count=int(document.get("completed_count") or 0),
        auto_completed=bool(document.get("auto_completed", False)),
        auto_completion_reason=_optional_text(document.get("auto_completion_reason")),
        stall_completed=bool(document.get("stall_completed", False)),
        stall_reason=_optional_text(document.get("stall_reason")),
        correlation_id=_optional_text(document.get("correlation_id")),
        dataset_prefix=_optional_text(document.get("dataset_prefix")),
    )


class FirestoreBatchStore:
    """A :class:`~resilience.batches.store.BatchStore` on ``collection``. It owns ``client`` and closes it.

    Every call is bounded by ``timeout`` seconds, retries included, so a Firestore that is down fails
    the clean-up in bounded time instead of hanging its schedule.
    """

    def __init__(
        self,
        client: firestore.Client,
        *,
        collection: str = "prediction_batches",
        location: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.location = location or f"firestore://{client.project}/{collection}"
        self._client = client
        self._calls = FirestoreCalls(self.location, timeout)
        self._batches = client.collection(collection)

    def _reference(self, batch_id: str) -> firestore.DocumentReference:
        return self._batches.document(document_id(batch_id))

    def put(self, batch: PredictionBatch) -> None:
        with self._calls.failure(f"write prediction batch {batch.batch_id!r}"):
            self._reference(batch.batch_id).set(_document(batch), **self._calls.bounded())

    def get(self, batch_id: str) -> PredictionBatch | None:
        with self._calls.failure(f"read prediction batch {batch_id!r}"):
            snapshot = self._reference(batch_id).get(**self._calls.bounded())
            document = snapshot.to_dict() if snapshot.exists else None
            return None if document is None else _batch(snapshot.id, document)

    def incomplete(self, created_after: dt.datetime) -> list[PredictionBatch]:
        batches: list[PredictionBatch] = []
        with self._calls.failure("list incomplete prediction batches"):
            query = self._batches.where(filter=FieldFilter("created_at", ">=", utc(created_after))).order_by(
                "created_at"
            )
            for snapshot in query.stream(**self._calls.bounded()):
                document = snapshot.to_dict()
                if document is None or document.get("is_complete", False):
                    continue
                try:
                    batches.append(_batch(snapshot.id, document))
                except (ValueError, KeyError, TypeError) as error:
                    raise ValueError(f"document {snapshot.id!r}: {type(error).__name__}: {error}") from error
        return sorted(batches, key=lambda batch: (batch.created_at, batch.batch_id))

    def stalled(self, now: dt.datetime, rule: CleanupSettings) -> list[PredictionBatch]:
        return stalled_among(self.incomplete(created_after(now, rule)), now, rule)

    def complete_if_unchanged(
        self, batch_id: str, seen_updated_at: dt.datetime, reason: str, now: dt.datetime
    ) -> PredictionBatch | None:
        reference = self._reference(batch_id)
        with self._calls.failure(f"complete prediction batch {batch_id!r}"):
            # A plain read first: a batch another healer already took is skipped without a
            # transaction (the emulator makes a conflicting one wait ~2 s), and it bounds the time to
            # notice Firestore is unreachable (beginning a transaction retries for 60 s, not ours).
            before = self._unchanged(reference.get(**self._calls.bounded()), seen_updated_at)
            if before is None:
                return None

            @firestore.transactional
            def complete(transaction: firestore.Transaction) -> PredictionBatch | None:
                snapshot = reference.get(transaction=transaction, **self._calls.bounded())
                current = self._unchanged(snapshot, seen_updated_at)
                if current is None:
                    return None
                # Firestore fails the commit (and the decorator re-runs this function) if the
                # document changed after the read above: the check and the write are one.
                transaction.update(
                    reference,
                    {
                        "is_complete": True,
                        "completion_time": utc(now),
                        "auto_completed": True,
                        "auto_completion_reason": reason,
                        "updated_at": utc(now),
                    },
                )
                return dataclasses.replace(
                    current,
                    is_complete=True,
                    completion_time=now,
                    auto_completed=True,
                    auto_completion_reason=reason,
                    updated_at=now,
                )

            # Under contention the loser's transaction is aborted ("lock timeout") once the client's
            # own retries are spent. Re-read: if the batch changed or was taken, the other healer won
            # and this one does nothing; else try again, a bounded number of times.
            for attempt in range(CONTENDED_ATTEMPTS):
                try:
                    healed: PredictionBatch | None = complete(self._client.transaction())
                    return healed
                except api_exceptions.Aborted:
                    if self._unchanged(reference.get(**self._calls.bounded()), seen_updated_at) is None:
                        return None
                    if attempt == CONTENDED_ATTEMPTS - 1:
                        raise
                    time.sleep(random.uniform(0.1, 0.3) * (attempt + 1))
            return None

    @staticmethod
    def _unchanged(snapshot: Any, seen_updated_at: dt.datetime) -> PredictionBatch | None:
        document = snapshot.to_dict() if snapshot.exists else None
        if document is None:
            return None
        current = _batch(snapshot.id, document)
        if current.updated_at != seen_updated_at or current.is_complete or current.claimed:
            return None
        return current

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]  # google-cloud-core leaves it unannotated
