"""The prediction batch store contract and the one function that opens a store from a URL.

The same URLs as the state store (:func:`resilience.state.parse_state_url`): ``sqlite:///ABS/PATH``
keeps a table in the state store's SQLite file (the demo and the tests), ``firestore://PROJECT`` reads
the coordinator's own collection (production). Only the chosen backend's module is imported.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Protocol

from resilience.batches.model import PredictionBatch, is_stalled, stall_cutoffs
from resilience.healing_settings import CleanupSettings
from resilience.state.base import firestore_client_for, parse_state_url

__all__ = ["DEFAULT_COLLECTION", "BatchStore", "created_after", "open_batch_store", "stalled_among"]

DEFAULT_COLLECTION = "prediction_batches"
# The collection is also the SQLite table name, so it must be a plain identifier.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class BatchStore(Protocol):
    """Where prediction batches live. Opened by :func:`open_batch_store`, then injected.

    Every method raises :class:`~resilience.state.StateStoreError` when the store fails, or when a
    stored batch does not have the shape of a prediction batch (the error names it).
    """

    #: Printable, never holds credentials.
    location: str

    def put(self, batch: PredictionBatch) -> None:
        """Write ``batch`` whole, replacing any batch with its id (seeding and tests)."""
        ...

    def get(self, batch_id: str) -> PredictionBatch | None: ...

    def incomplete(self, created_after: dt.datetime) -> list[PredictionBatch]:
        """Batches not marked complete and created at or after ``created_after``, oldest first."""
        ...

    def stalled(self, now: dt.datetime, rule: CleanupSettings) -> list[PredictionBatch]:
        """Batches the clean-up should complete at ``now`` (:func:`~resilience.batches.model.is_stalled`),
        oldest first."""
        ...

    def complete_if_unchanged(
        self, batch_id: str, seen_updated_at: dt.datetime, reason: str, now: dt.datetime
    ) -> PredictionBatch | None:
        """In one transaction: re-read the batch and, unless it is gone, changed since
        ``seen_updated_at``, complete, or claimed by a healer, set ``is_complete``, ``completion_time``,
        ``auto_completed``, ``auto_completion_reason`` and ``updated_at`` (all at ``now``).

        Returns the batch as written, or None when it did nothing: of two healers racing for one
        batch exactly one gets it back.
        """
        ...

    def close(self) -> None: ...


def stalled_among(
    batches: list[PredictionBatch], now: dt.datetime, rule: CleanupSettings
) -> list[PredictionBatch]:
    """The batches of ``batches`` that match the stall rule at ``now``, in their order."""
    return [batch for batch in batches if is_stalled(batch, now, rule)]


def created_after(now: dt.datetime, rule: CleanupSettings) -> dt.datetime:
    """The oldest creation time the stall rule looks at."""
    return stall_cutoffs(now, rule)[0]


def open_batch_store(url: str, source: str, collection: str = DEFAULT_COLLECTION) -> BatchStore:
    """Open the batch store at ``url`` (``sqlite:///ABS/PATH`` or ``firestore://PROJECT``).

    ``collection`` is ``Settings.healing.batches_collection``: the Firestore collection, and the table
    in the SQLite file. A malformed ``url`` or ``collection`` raises :class:`ValueError` naming
    ``source``; a store that cannot be reached raises :class:`~resilience.state.StateStoreError`.
    """
    if not _NAME.match(collection):
        raise ValueError(
            f"healing.batches_collection: {collection!r} is not a collection name this suite can use "
            "(letters, digits and underscores, not starting with a digit)"
        )
    target = parse_state_url(url, source)
    if target.kind == "sqlite":
        from resilience.batches.sqlite_store import SQLiteBatchStore

        assert target.path is not None
        return SQLiteBatchStore(target.path, table=collection)
    from resilience.batches.firestore_store import FirestoreBatchStore

    client = firestore_client_for(target, url, source)
    return FirestoreBatchStore(client, collection=collection, location=f"{target.describe()}/{collection}")
