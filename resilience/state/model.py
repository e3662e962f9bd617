"""What the state store keeps between runs: alert lifecycles, undelivered messages and run heartbeats.

Plain frozen values, shared by every store. Datetimes must be timezone-aware; stores hand them back
in UTC (an aware datetime compares equal whatever its zone, so a round trip is still equal).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["AlertState", "Heartbeat", "OutboxItem"]


def _validate(instance: object, *keys: str) -> None:
    for name in keys:
        if not getattr(instance, name):
            raise ValueError(f"{type(instance).__name__}.{name} must not be empty")
    # A naive datetime would be read back as UTC by one store and as local time by a person reading
    # the other; refusing it at construction keeps the mistake next to the code that made it.
    for name, value in vars(instance).items():
        if isinstance(value, dt.datetime) and value.utcoffset() is None:
            raise ValueError(
                f"{type(instance).__name__}.{name} must be timezone-aware, got naive {value.isoformat()}"
            )


@dataclass(frozen=True)
class AlertState:
    """Where one check on one target stands in its alerting lifecycle."""

    #: ``"<check id>@<target>"``.
    fingerprint: str
    check_id: str
    target: str
    #: First run of the current alerting episode.
    first_seen: dt.datetime
    #: Last run that saw this check, whatever its outcome.
    last_seen: dt.datetime
    #: Last time a message about it was sent; None if never.
    last_sent: dt.datetime | None
    #: ``"passed" | "warn" | "failed" | "error" | "skipped"``.
    last_outcome: str
    #: The threshold band the value sat in when last SENT, e.g. ``"failed:rows<fail_below"``.
    last_band: str
    #: Consecutive alerting runs in the current episode (0 when passing).
    count: int
    #: The last 12 outcomes at most, oldest first.
    recent_outcomes: tuple[str, ...]
    flapping: bool
    #: Metric name -> value at the last SENT alert.
    last_values: Mapping[str, float | None]

    def __post_init__(self) -> None:
        _validate(self, "fingerprint")


@dataclass(frozen=True)
class OutboxItem:
    """A message that must reach Slack; it stays in the outbox until delivered."""

    #: Idempotency key, e.g. ``f"{run_id}:{channel}"``.
    id: str
    channel: str
    #: The JSON-able Slack payload.
    payload: Mapping[str, Any]
    created_at: dt.datetime
    attempts: int = 0
    last_error: str = ""

    def __post_init__(self) -> None:
        _validate(self, "id", "channel")


@dataclass(frozen=True)
class Heartbeat:
    """Proof that one run of one suite completed: the dead-man's switch reads these."""

    #: ``"canary"``, ``"drift"``, ``"gate"``, ...
    suite: str
    run_id: str
    started_at: dt.datetime
    finished_at: dt.datetime
    #: Worst outcome of the run: ``"passed" | "warn" | "failed" | "error"``.
    outcome: str
    #: Outcome -> number of checks.
    counts: Mapping[str, int]

    def __post_init__(self) -> None:
        _validate(self, "suite", "run_id")
