"""A canary result as one JSON object: what ``--resilience-json`` writes and what xdist workers send."""

from __future__ import annotations

import datetime as dt
from typing import Any

from resilience.results import CheckResult


def result_payload(result: CheckResult, *, as_of: dt.date, target: str) -> dict[str, Any]:
    """The JSON object of one check (the ``--resilience-json`` line, and what workers send)."""
    return {
        "id": result.check_id,
        "phase": result.phase,
        "title": result.title,
        "outcome": result.outcome.value,
        "message": result.message,
        "as_of": as_of.isoformat(),
        "dates": [day.isoformat() for day in result.dates],
        "target": target,
        "metrics": {
            rule.name: {
                "title": rule.title,
                "value": rule.value,
                "outcome": rule.outcome.value,
                "thresholds": rule.threshold.bounds(),
                **({"detail": rule.detail} if rule.detail else {}),
            }
            for rule in result.rules
        },
        "query_ids": list(result.query_ids),
        "duration_seconds": round(result.seconds, 6),
        "bytes_processed": result.bytes_processed,
        "sql": list(result.sql),
    }
