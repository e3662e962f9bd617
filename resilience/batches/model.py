"""A prediction batch as the coordinator keeps it in Firestore ``prediction_batches/{batch_id}``.

Plain frozen values shared by both stores. Datetimes must be timezone-aware; stores hand them back in
UTC. Fields the production documents may lack (the healing and stall fields, the counter) default to
what their absence means.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from resilience.healing_settings import CleanupSettings

__all__ = ["PredictionBatch", "completion", "is_stalled", "minutes_since_update", "stall_cutoffs"]


@dataclass(frozen=True)
class PredictionBatch:
    """One run of phase 5 for one game date: which players were expected, which finished, which failed.

    ``completed_count`` is 0 while the coordinator's counter mode is off; then the progress is the
    length of ``completed_players`` (see :func:`completion`). ``failure_reasons`` (player_lookup ->
    reason) is this suite's addition: production keeps ``failed_players`` as a bare array.
    """

    batch_id: str
    #: ``YYYY-MM-DD``, a string as in production.
    game_date: str
    expected_players: int
    created_at: dt.datetime
    updated_at: dt.datetime
    start_time: dt.datetime | None = None
    completed_players: tuple[str, ...] = ()
    failed_players: tuple[str, ...] = ()
    failure_reasons: Mapping[str, str] = field(default_factory=dict)
    #: player_lookup -> predictions made for him.
    predictions_by_player: Mapping[str, int] = field(default_factory=dict)
    total_predictions: int = 0
    is_complete: bool = False
    completion_time: dt.datetime | None = None
    completed_count: int = 0
    #: Set by a healer (this suite's clean-up): it marked the batch complete.
    auto_completed: bool = False
    auto_completion_reason: str | None = None
    #: Set by the coordinator's own stall path.
    stall_completed: bool = False
    stall_reason: str | None = None
    correlation_id: str | None = None
    dataset_prefix: str | None = None

    def __post_init__(self) -> None:
        if not self.batch_id:
            raise ValueError("PredictionBatch.batch_id must not be empty")
        if self.expected_players < 0 or self.completed_count < 0 or self.total_predictions < 0:
            raise ValueError(
                f"prediction batch {self.batch_id}: expected_players, completed_count and total_predictions "
                "must be >= 0"
            )
        for name, value in vars(self).items():
            if isinstance(value, dt.datetime) and value.utcoffset() is None:
                raise ValueError(
                    f"prediction batch {self.batch_id}: {name} must be timezone-aware, "
                    f"got naive {value.isoformat()}"
                )

    @property
    def completed(self) -> int:
        """Players finished: the counter when its mode is on, else the array's length."""
        return self.completed_count if self.completed_count > 0 else len(self.completed_players)

    @property
    def claimed(self) -> bool:
        """Some healer (this suite or the coordinator's stall path) already completed it."""
        return self.auto_completed or self.stall_completed

    def state(self) -> dict[str, Any]:
        """The fields a heal changes or is decided on, JSON-able (ISO datetimes): a heal's before/after."""
        return {
            "batch_id": self.batch_id,
            "game_date": self.game_date,
            "expected_players": self.expected_players,
            "completed": self.completed,
            "completed_count": self.completed_count,
            "completed_players_length": len(self.completed_players),
            "failed_players": list(self.failed_players),
            "completion": round(completion(self), 4),
            "total_predictions": self.total_predictions,
            "is_complete": self.is_complete,
            "completion_time": _iso(self.completion_time),
            "updated_at": _iso(self.updated_at),
            "auto_completed": self.auto_completed,
            "auto_completion_reason": self.auto_completion_reason,
            "stall_completed": self.stall_completed,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def completion(batch: PredictionBatch) -> float:
    """Share of the expected players finished, by production's rule: ``completed_count`` is 0 while the
    counter mode is off, so the array length counts then. A batch expecting nobody is 0.0: there is
    nothing to measure, and the clean-up must not complete it on a guess."""
    if batch.expected_players <= 0:
        return 0.0
    return batch.completed / batch.expected_players


def minutes_since_update(batch: PredictionBatch, now: dt.datetime) -> float:
    return (now - batch.updated_at).total_seconds() / 60


def stall_cutoffs(now: dt.datetime, rule: CleanupSettings) -> tuple[dt.datetime, dt.datetime]:
    """(created at or after, updated at or before): the time bounds of the stall rule."""
    return (
        now - dt.timedelta(hours=rule.created_within_hours),
        now - dt.timedelta(minutes=rule.stalled_after_minutes),
    )


def is_stalled(batch: PredictionBatch, now: dt.datetime, rule: CleanupSettings) -> bool:
    """The clean-up rule (production-facts.md section 6): created within the window, not complete and
    not claimed by a healer, at least ``min_completion`` done, and no update for ``stalled_after_minutes``."""
    created_after, updated_before = stall_cutoffs(now, rule)
    return (
        not batch.is_complete
        and not batch.claimed
        and batch.created_at >= created_after
        and batch.updated_at <= updated_before
        and completion(batch) >= rule.min_completion
    )
