"""Pattern detection: is one kind of healing happening too often, or failing too often?

Three levels from ``[healing.patterns]``, the most severe wins:

- yellow: at least ``yellow_count`` heals of the type within ``yellow_window_minutes`` (warn);
- red: at least ``red_count`` within ``red_window_hours`` (failed);
- critical: more than ``critical_failure_rate`` of the type's heals failed, out of at least
  ``critical_min_events`` within ``critical_window_hours`` (failed, to the critical channel).

Windows include their start: an event exactly ``yellow_window_minutes`` old still counts. Events
stamped after ``now`` are left out. The finding becomes a check payload (:func:`finding_payload`),
so that the alert lifecycle decides what is news: a pattern alerts once, then again only after the
cool-down or when it changes level, and "resolved" when it is gone.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from healing.event_store import EventStore
from healing.model import HealingEvent
from resilience.settings import Settings

__all__ = [
    "PATTERN_SUITE",
    "PatternFinding",
    "PatternLevel",
    "assess",
    "detect",
    "finding_payload",
    "pattern_check_id",
]

PATTERN_SUITE = "healing"
#: How many of the newest events the alert message lists.
RECENT_SHOWN = 5
#: A trigger reason longer than this is cut in the message (Slack caps a section at 3,000 characters).
REASON_SHOWN = 160


class PatternLevel(enum.Enum):
    YELLOW = "yellow"
    RED = "red"
    CRITICAL = "critical"

    @property
    def outcome(self) -> str:
        return "warn" if self is PatternLevel.YELLOW else "failed"


@dataclass(frozen=True)
class PatternFinding:
    """How one healing type stands at ``at``; ``level`` is None when it shows no pattern."""

    healing_type: str
    at: dt.datetime
    #: The business date of ``at`` (the suite's time zone), for the payload's ``as_of``.
    as_of: dt.date
    level: PatternLevel | None
    #: Heals within the yellow window (``count_1h`` with the default hour).
    count_short: int
    #: Heals within the red window (``count_24h`` with the default day).
    count_long: int
    #: Heals and failed heals within the critical window.
    critical_events: int
    critical_failures: int
    yellow_count: int
    yellow_window_minutes: int
    red_count: int
    red_window_hours: int
    critical_failure_rate: float
    critical_window_hours: int
    critical_min_events: int

    @property
    def failure_share(self) -> float | None:
        """Failed share within the critical window; None when there was no heal at all."""
        return self.critical_failures / self.critical_events if self.critical_events else None

    @property
    def yellow(self) -> bool:
        return self.count_short >= self.yellow_count

    @property
    def red(self) -> bool:
        return self.count_long >= self.red_count

    @property
    def critical(self) -> bool:
        share = self.failure_share
        return (
            self.critical_events >= self.critical_min_events
            and share is not None
            and share > self.critical_failure_rate
        )


def _within(events: Sequence[HealingEvent], start: dt.datetime) -> list[HealingEvent]:
    return [event for event in events if event.timestamp >= start]


def assess(
    events: EventStore, healing_type: str, now: dt.datetime, settings: Settings
) -> tuple[PatternFinding, list[HealingEvent]]:
    """The finding for ``healing_type`` at ``now`` (level None if no pattern), and the events it saw.

    One read of the store, over the longest window; the events come newest first.
    """
    if now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    patterns = settings.healing.patterns
    short = dt.timedelta(minutes=patterns.yellow_window_minutes)
    long = dt.timedelta(hours=patterns.red_window_hours)
    critical = dt.timedelta(hours=patterns.critical_window_hours)
    seen = [
        event
        for event in events.recent(healing_type, now - max(short, long, critical))
        if event.timestamp <= now
    ]
    in_critical = _within(seen, now - critical)
    finding = PatternFinding(
        healing_type=healing_type,
        at=now,
        as_of=now.astimezone(ZoneInfo(settings.timezone)).date(),
        level=None,
        count_short=len(_within(seen, now - short)),
        count_long=len(_within(seen, now - long)),
        critical_events=len(in_critical),
        critical_failures=sum(1 for event in in_critical if not event.success),
        yellow_count=patterns.yellow_count,
        yellow_window_minutes=patterns.yellow_window_minutes,
        red_count=patterns.red_count,
        red_window_hours=patterns.red_window_hours,
        critical_failure_rate=patterns.critical_failure_rate,
        critical_window_hours=patterns.critical_window_hours,
        critical_min_events=patterns.critical_min_events,
    )
    if finding.critical:
        level: PatternLevel | None = PatternLevel.CRITICAL
    elif finding.red:
        level = PatternLevel.RED
    elif finding.yellow:
        level = PatternLevel.YELLOW
    else:
        level = None
    return replace(finding, level=level), seen


def detect(
    events: EventStore, healing_type: str, now: dt.datetime, settings: Settings
) -> PatternFinding | None:
    """The most severe pattern of ``healing_type`` at ``now``, or None when there is none."""
    finding, _ = assess(events, healing_type, now, settings)
    return finding if finding.level is not None else None


def pattern_check_id(healing_type: str) -> str:
    return f"healing.pattern.{healing_type}"


def _window(minutes: int) -> str:
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def _share_text(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def _recent_lines(recent_events: Sequence[HealingEvent]) -> list[str]:
    newest = sorted(recent_events, key=lambda event: event.timestamp, reverse=True)[:RECENT_SHOWN]
    lines = []
    for event in newest:
        reason = event.trigger_reason
        if len(reason) > REASON_SHOWN:
            reason = reason[: REASON_SHOWN - 1] + "…"
        result = "succeeded" if event.success else "FAILED"
        lines.append(f"• {event.timestamp.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC: {reason} ({result})")
    return lines


def finding_payload(
    finding: PatternFinding,
    recent_events: Sequence[HealingEvent],
    target: str,
    *,
    critical_channel: str = "app-error-alerts",
) -> dict[str, Any]:
    """The check payload of a finding, in the form :func:`resilience.alerts.record_run.record_run` takes.

    Yellow warns, red and critical fail; critical goes to ``critical_channel`` (pass
    ``settings.alerts.routing["critical"]``), the others to the ``healing`` suite's route. A finding
    without a level gives a ``passed`` payload, from which the lifecycle sends "resolved".
    """
    level = finding.level
    short = _window(finding.yellow_window_minutes)
    long = _window(finding.red_window_hours * 60)
    critical = _window(finding.critical_window_hours * 60)
    share = finding.failure_share
    counts = (
        f"{finding.count_short} in the last {short}, {finding.count_long} in the last {long}; "
        f"{finding.critical_failures} of {finding.critical_events} failed in the last {critical} "
        f"({_share_text(share)})"
    )
    if level is PatternLevel.CRITICAL:
        headline = (
            f"{finding.healing_type} heals are failing: more than {finding.critical_failure_rate:.0%} "
            f"failed (at least {finding.critical_min_events} heals)"
        )
    elif level is PatternLevel.RED:
        headline = f"{finding.healing_type} healed at least {finding.red_count} times in {long}"
    elif level is PatternLevel.YELLOW:
        headline = f"{finding.healing_type} healed at least {finding.yellow_count} times in {short}"
    else:
        headline = f"{finding.healing_type}: no healing pattern"
    lines = [f"{headline}. {counts}."]
    recent = _recent_lines(recent_events)
    if recent and level is not None:
        lines.append(f"Latest {len(recent)}:")
        lines.extend(recent)
    # Only the rule that set the level is marked failing or warning: the lifecycle's band is then the
    # level itself, so escalation and de-escalation are news, while a lower rule crossing back and
    # forth inside a higher level is not (the message still gives every count).
    payload: dict[str, Any] = {
        "id": pattern_check_id(finding.healing_type),
        "suite": PATTERN_SUITE,
        "title": f"healing pattern: {finding.healing_type}",
        "outcome": level.outcome if level is not None else "passed",
        "message": "\n".join(lines),
        "target": target,
        "as_of": finding.as_of.isoformat(),
        "critical": level is PatternLevel.CRITICAL,
        "metrics": {
            "count_1h": {
                "title": f"{finding.healing_type} heals in the last {short}",
                "value": finding.count_short,
                "thresholds": {"warn_at_least": finding.yellow_count},
                "outcome": "warn" if level is PatternLevel.YELLOW else "passed",
            },
            "count_24h": {
                "title": f"{finding.healing_type} heals in the last {long}",
                "value": finding.count_long,
                "thresholds": {"fail_at_least": finding.red_count},
                "outcome": "failed" if level is PatternLevel.RED else "passed",
            },
            "failure_share": {
                "title": f"share of {finding.healing_type} heals that failed in the last {critical}",
                "value": share,
                "thresholds": {
                    "fail_above": finding.critical_failure_rate,
                    "min_events": finding.critical_min_events,
                },
                "outcome": "failed" if level is PatternLevel.CRITICAL else "passed",
            },
        },
    }
    if level is PatternLevel.CRITICAL:
        payload["alert_channel"] = critical_channel
    return payload
