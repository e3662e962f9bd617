"""The stalled-batch clean-up: complete prediction batches that stopped just short of done.

Production's coordinator sometimes left a batch at 90-99% for good: a few players failed, nothing
marked the batch complete, and phase 6 waited on it. Every 15 minutes this job finds such batches
(``[healing.cleanup]``: created in the last 24 h, not complete, >= 90% done, no update for >= 15 min),
completes each one in a transaction that re-reads it first, and records one healing event per batch
it completed, with machine-readable before/after state (lesson 10: healing is recorded wherever it
happens, and only one healer owns a repair: a batch another healer or the coordinator changed first is
skipped, not completed twice).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from healing.model import HealingEvent
from resilience.batches.model import PredictionBatch, completion, minutes_since_update
from resilience.batches.store import BatchStore
from resilience.settings import Settings
from resilience.state.base import StateStoreError

__all__ = [
    "HEALING_TYPE",
    "CleanupEntry",
    "CleanupReport",
    "CleanupResult",
    "HealingRecorder",
    "run_cleanup",
    "stall_cause",
]

HEALING_TYPE = "stalled_batch_completion"
#: Distinct failure reasons named in a cause; the rest are counted together.
NAMED_REASONS = 4
REASON_LENGTH = 60


class HealingRecorder(Protocol):
    """The signature of ``HealingTracker.record``: writes one healing event and returns it."""

    def __call__(
        self,
        healing_type: str,
        trigger_reason: str,
        action_taken: str,
        before_state: Mapping[str, Any],
        after_state: Mapping[str, Any],
        success: bool,
        metadata: Mapping[str, Any],
        check_fingerprint: str | None = None,
    ) -> HealingEvent: ...


class CleanupResult(enum.Enum):
    HEALED = "healed"
    #: Changed, completed or claimed by someone else between the listing and the transaction.
    SKIPPED = "skipped"
    WOULD_HEAL = "would heal"
    #: The completion failed, or it was made but its healing event could not be recorded.
    FAILED = "failed"


@dataclass(frozen=True)
class CleanupEntry:
    """What the clean-up did with one stalled batch."""

    batch_id: str
    game_date: str
    completion: float
    stalled_minutes: float
    result: CleanupResult
    #: The ``auto_completion_reason`` written (or that would be): the likely cause of the stall.
    reason: str
    #: Why it was skipped or failed; empty when healed or would heal.
    detail: str = ""
    healing_id: str | None = None


@dataclass(frozen=True)
class CleanupReport:
    """One clean-up run: every stalled batch it looked at, in the order it took them (oldest first)."""

    ran_at: dt.datetime
    dry_run: bool
    max_batches: int
    #: Batches matching the stall rule, including those beyond ``max_batches``.
    stalled_found: int
    entries: tuple[CleanupEntry, ...]
    #: The store the batches were read from, for the reader.
    location: str = ""

    def _with(self, result: CleanupResult) -> tuple[CleanupEntry, ...]:
        return tuple(entry for entry in self.entries if entry.result is result)

    @property
    def healed(self) -> tuple[CleanupEntry, ...]:
        return self._with(CleanupResult.HEALED)

    @property
    def skipped(self) -> tuple[CleanupEntry, ...]:
        return self._with(CleanupResult.SKIPPED)

    @property
    def would_heal(self) -> tuple[CleanupEntry, ...]:
        return self._with(CleanupResult.WOULD_HEAL)

    @property
    def failed(self) -> tuple[CleanupEntry, ...]:
        return self._with(CleanupResult.FAILED)

    @property
    def left_for_next_run(self) -> int:
        """Stalled batches beyond ``max_batches``: the next run takes them."""
        return self.stalled_found - len(self.entries)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_table(self) -> str:
        """A terminal table, one row per batch, and a closing line with the counts."""
        heading = f"batch clean-up{' (dry run)' if self.dry_run else ''} at {_when(self.ran_at)}"
        if self.location:
            heading += f" on {self.location}"
        if not self.entries:
            return f"{heading}\nno stalled prediction batch"
        header = ("batch", "game date", "done", "stalled", "result", "reason")
        rows = [
            (
                entry.batch_id,
                entry.game_date,
                f"{entry.completion:.0%}",
                f"{entry.stalled_minutes:.0f} min",
                entry.result.value,
                entry.reason + (f" -- {entry.detail}" if entry.detail else ""),
            )
            for entry in self.entries
        ]
        widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]

        def line(row: tuple[str, ...]) -> str:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            return "  ".join([*cells, row[-1]]).rstrip()

        rule = "  ".join("-" * width for width in widths) + "  " + "-" * len(header[-1])
        return "\n".join([heading, line(header), rule, *(line(row) for row in rows), self._counts()])

    def _counts(self) -> str:
        parts = [
            f"{len(self._with(result))} {result.value}" for result in CleanupResult if self._with(result)
        ]
        text = ", ".join(parts)
        if self.left_for_next_run:
            text += (
                f"; {self.left_for_next_run} more left for the next run (at most {self.max_batches} a run)"
            )
        return text

    def summary(self) -> str:
        """One paragraph for Slack (#nba-alerts): what was completed, skipped or failed, and why."""
        opening = f"Batch clean-up{' (dry run)' if self.dry_run else ''} at {_when(self.ran_at)}"
        if not self.entries:
            return f"{opening}: no stalled prediction batch."
        sentences: list[str] = []
        if self.would_heal:
            sentences.append(
                f"{_count(self.would_heal)} would be completed: {_named(self.would_heal)}. "
                "Nothing was changed"
            )
        if self.healed:
            sentences.append(f"completed {_count(self.healed)}: {_named(self.healed)}")
        if self.skipped:
            sentences.append(
                f"skipped {len(self.skipped)} another healer got to first: {_details(self.skipped)}"
            )
        if self.failed:
            sentences.append(f"FAILED {len(self.failed)}: {_details(self.failed)}")
        if self.left_for_next_run:
            sentences.append(
                f"{self.left_for_next_run} more stalled batch(es) left for the next run "
                f"(at most {self.max_batches} a run)"
            )
        return f"{opening}: " + ". ".join(sentences) + "."


def _when(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def _count(entries: tuple[CleanupEntry, ...]) -> str:
    return f"{len(entries)} stalled prediction batch{'' if len(entries) == 1 else 'es'}"


def _named(entries: tuple[CleanupEntry, ...]) -> str:
    return "; ".join(f"{entry.batch_id} ({entry.game_date}, {entry.reason})" for entry in entries)


def _details(entries: tuple[CleanupEntry, ...]) -> str:
    return "; ".join(f"{entry.batch_id} ({entry.detail})" for entry in entries)


def _short(reason: str) -> str:
    text = " ".join(reason.split()) or "empty reason"
    return text if len(text) <= REASON_LENGTH else text[: REASON_LENGTH - 1] + "…"


def stall_cause(batch: PredictionBatch, now: dt.datetime) -> str:
    """The likely cause, as written to ``auto_completion_reason``:
    ``3 of 142 players failed (2 x 'no features', 1 x 'timeout'); 139 completed, stalled 22 min``."""
    expected, done, failed = batch.expected_players, batch.completed, len(batch.failed_players)
    never_reported = max(expected - done - failed, 0)
    if failed:
        reasons = Counter(
            _short(batch.failure_reasons.get(player) or "no reason recorded")
            for player in batch.failed_players
        )
        ranked = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
        groups = [f"{number} x {reason!r}" for reason, number in ranked[:NAMED_REASONS]]
        if len(ranked) > NAMED_REASONS:
            groups.append(f"{sum(number for _, number in ranked[NAMED_REASONS:])} x other reasons")
        cause = f"{failed} of {expected} players failed ({', '.join(groups)})"
    elif never_reported:
        cause = f"{never_reported} of {expected} players never reported (no failure recorded)"
    else:
        cause = f"all {expected} players reported but the batch was never marked complete"
    tail = f"{done} completed"
    if failed and never_reported:
        tail += f", {never_reported} never reported"
    return f"{cause}; {tail}, stalled {int(minutes_since_update(batch, now))} min"


def _why_skipped(store: BatchStore, batch: PredictionBatch) -> str:
    try:
        current = store.get(batch.batch_id)
    except StateStoreError as error:
        return f"changed since it was read (could not re-read it: {error.reason})"
    if current is None:
        return "deleted since it was read"
    if current.auto_completed:
        return f"already completed by another clean-up at {_when(current.updated_at)}"
    if current.stall_completed:
        return "completed by the coordinator's stall path"
    if current.is_complete:
        return "completed by the coordinator"
    return f"updated at {_when(current.updated_at)}, after it was read: players are still reporting"


def run_cleanup(
    store: BatchStore,
    record: HealingRecorder,
    settings: Settings,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    max_batches: int | None = None,
    check_fingerprint: str | None = None,
) -> CleanupReport:
    """Complete up to ``max_batches`` (default ``[healing.cleanup] max_batches``) stalled batches,
    oldest first, recording one ``stalled_batch_completion`` event for each batch completed.

    A dry run changes nothing and records nothing. A batch that another healer or the coordinator
    changed after it was listed is skipped without an event. A completion that fails is recorded
    as an event with ``success=False`` (pattern detection counts failure rates). Listing the stalled
    batches raises :class:`~resilience.state.StateStoreError` if the store fails: there is no report
    to give then.
    """
    if now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    rule = settings.healing.cleanup
    limit = rule.max_batches if max_batches is None else max_batches
    if limit < 1:
        raise ValueError(f"max_batches must be >= 1, got {limit}")
    stalled = store.stalled(now, rule)
    entries: list[CleanupEntry] = []
    for batch in stalled[:limit]:
        reason = stall_cause(batch, now)
        entry = CleanupEntry(
            batch_id=batch.batch_id,
            game_date=batch.game_date,
            completion=completion(batch),
            stalled_minutes=minutes_since_update(batch, now),
            result=CleanupResult.WOULD_HEAL,
            reason=reason,
        )
        if not dry_run:
            entry = _heal(store, record, settings, batch, entry, now, check_fingerprint)
        entries.append(entry)
    return CleanupReport(
        ran_at=now,
        dry_run=dry_run,
        max_batches=limit,
        stalled_found=len(stalled),
        entries=tuple(entries),
        location=store.location,
    )


def stall_trigger(batch: PredictionBatch) -> str:
    """Why batches like this one stall, in words that repeat across batches with the same cause."""
    reasons = Counter(
        batch.failure_reasons.get(player) or "no reason recorded" for player in batch.failed_players
    )
    if reasons:
        dominant, _ = reasons.most_common(1)[0]
        return f"prediction batch stalled short of complete; most failed players: '{dominant}'"
    if batch.completed < batch.expected_players:
        return "prediction batch stalled short of complete; some players never reported"
    return "prediction batch stalled: every player reported but the batch was never marked complete"


def _heal(
    store: BatchStore,
    record: HealingRecorder,
    settings: Settings,
    batch: PredictionBatch,
    entry: CleanupEntry,
    now: dt.datetime,
    check_fingerprint: str | None,
) -> CleanupEntry:
    rule = settings.healing.cleanup
    # The trigger is the cause in general terms, so recurring causes count together in `healing analyze`
    # ("same reason recurring"); this batch's id, completion and idle time are in the metadata.
    trigger = stall_trigger(batch)
    missing = max(batch.expected_players - batch.completed, 0)
    action = (
        f"marked prediction batch {batch.batch_id} complete (is_complete, auto_completed, "
        f"auto_completion_reason) so its {batch.completed} players' predictions go on; "
        f"{missing} player(s) have none in this batch"
    )
    metadata: dict[str, Any] = {
        "batch_id": batch.batch_id,
        "game_date": batch.game_date,
        "correlation_id": batch.correlation_id,
        "store": store.location,
        "stalled_minutes": round(entry.stalled_minutes, 1),
        "completion": round(entry.completion, 4),
        "failure_reasons": dict(
            Counter(
                batch.failure_reasons.get(player) or "no reason recorded" for player in batch.failed_players
            )
        ),
        "rule": {
            "created_within_hours": rule.created_within_hours,
            "stalled_after_minutes": rule.stalled_after_minutes,
            "min_completion": rule.min_completion,
        },
    }
    try:
        healed = store.complete_if_unchanged(batch.batch_id, batch.updated_at, entry.reason, now)
    except StateStoreError as error:
        detail = f"could not complete it: {error}"
        try:
            record(
                healing_type=HEALING_TYPE,
                trigger_reason=trigger,
                action_taken=action,
                before_state=batch.state(),
                after_state=batch.state(),
                success=False,
                metadata={**metadata, "error": str(error)},
                check_fingerprint=check_fingerprint,
            )
        # Any error: the tracker is another module's, and one batch's bookkeeping must not stop the
        # clean-up of the others; the report says what happened.
        except Exception as record_error:
            detail += f"; the failure could not be recorded either: {record_error}"
        return dataclasses.replace(entry, result=CleanupResult.FAILED, detail=detail)
    if healed is None:
        return dataclasses.replace(entry, result=CleanupResult.SKIPPED, detail=_why_skipped(store, batch))
    try:
        event = record(
            healing_type=HEALING_TYPE,
            trigger_reason=trigger,
            action_taken=action,
            before_state=batch.state(),
            after_state=healed.state(),
            success=True,
            metadata=metadata,
            check_fingerprint=check_fingerprint,
        )
    except Exception as error:  # as above: report it, go on with the next batch
        return dataclasses.replace(
            entry,
            result=CleanupResult.FAILED,
            detail=f"completed, but its healing event could not be recorded: {type(error).__name__}: {error}",
        )
    return dataclasses.replace(entry, result=CleanupResult.HEALED, healing_id=event.healing_id)
