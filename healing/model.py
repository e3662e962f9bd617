"""A healing event: one automatic fix, why it was made, what was done, before/after, and whether it worked."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def new_healing_id(now: dt.datetime) -> str:
    """Sortable by time and unique: ``heal_20260115T120000Z_<12 hex>``."""
    return f"heal_{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class HealingEvent:
    """Matches ``nba_orchestration.healing_events`` and Firestore ``healing_events/{healing_id}``.

    States and metadata are mappings here and JSON strings in the table (production wrote Python
    reprs, which nothing could parse back). ``check_fingerprint`` links the heal to the check whose
    alert it answers; it is stored inside ``metadata``.
    """

    healing_id: str
    timestamp: dt.datetime
    healing_type: str
    trigger_reason: str
    action_taken: str
    before_state: Mapping[str, Any]
    after_state: Mapping[str, Any]
    success: bool
    metadata: Mapping[str, Any] = field(default_factory=dict)
    check_fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None:
            raise ValueError(f"healing event {self.healing_id}: timestamp must be timezone-aware")
        for name in ("healing_id", "healing_type", "trigger_reason", "action_taken"):
            if not getattr(self, name):
                raise ValueError(f"healing event {self.healing_id or '?'}: {name} is empty")

    def to_row(self) -> dict[str, Any]:
        """The warehouse row: JSON strings for the states and metadata, ISO time, nothing else."""
        metadata = dict(self.metadata)
        if self.check_fingerprint:
            metadata["check_fingerprint"] = self.check_fingerprint
        return {
            "healing_id": self.healing_id,
            "timestamp": self.timestamp.astimezone(dt.UTC).isoformat(),
            "healing_type": self.healing_type,
            "trigger_reason": self.trigger_reason,
            "action_taken": self.action_taken,
            "before_state": json.dumps(dict(self.before_state), sort_keys=True, default=str),
            "after_state": json.dumps(dict(self.after_state), sort_keys=True, default=str),
            "success": self.success,
            "metadata": json.dumps(metadata, sort_keys=True, default=str),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> HealingEvent:
        metadata = json.loads(row["metadata"]) if row.get("metadata") else {}
        timestamp = row["timestamp"]
        if isinstance(timestamp, str):
            timestamp = dt.datetime.fromisoformat(timestamp)
        return cls(
            healing_id=str(row["healing_id"]),
            timestamp=timestamp,
            healing_type=str(row["healing_type"]),
            trigger_reason=str(row["trigger_reason"]),
            action_taken=str(row["action_taken"]),
            before_state=json.loads(row["before_state"]) if row.get("before_state") else {},
            after_state=json.loads(row["after_state"]) if row.get("after_state") else {},
            success=bool(row["success"]),
            metadata=metadata,
            check_fingerprint=metadata.get("check_fingerprint"),
        )
