"""Prediction batches (Firestore ``prediction_batches``): the model, the stores and the stall rule.

``open_batch_store("sqlite:///ABS/PATH.sqlite" | "firestore://PROJECT", source, collection)`` opens a
store; importing this package loads neither sqlite3 nor the google-cloud packages.
"""

from __future__ import annotations

from resilience.batches.model import PredictionBatch, completion, is_stalled, minutes_since_update
from resilience.batches.store import DEFAULT_COLLECTION, BatchStore, open_batch_store

__all__ = [
    "DEFAULT_COLLECTION",
    "BatchStore",
    "PredictionBatch",
    "completion",
    "is_stalled",
    "minutes_since_update",
    "open_batch_store",
]
