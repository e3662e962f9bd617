"""The alert lifecycle: one pure function decides, per check and run, whether anyone hears about it.

Production sent every failure of every run (48 identical messages a day) and buried a zero-data day.
Here a new failure alerts at once; the same failure repeats only after the cool-down or when its
value crosses into another threshold band; a check that passes again after alerting sends one
"resolved"; a check that keeps toggling is called flapping once instead of alerting every run.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from resilience.alerts.config import AlertSettings
from resilience.outcomes import format_number
from resilience.slack.model import AlertKind
from resilience.state.model import AlertState

ALERTING = frozenset({"warn", "failed", "error"})
#: Outcomes that say nothing about health (a sample too small): they neither alert nor resolve.
NEUTRAL = frozenset({"skipped"})


@dataclass(frozen=True)
class Observation:
    """One check's result in this run, as the lifecycle sees it."""

    check_id: str
    target: str
    outcome: str
    #: Which threshold band the result sits in; a change of band is news even within the cool-down.
    band: str
    values: Mapping[str, float | None]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.check_id, self.target)


@dataclass(frozen=True)
class Decision:
    send: bool
    kind: AlertKind | None
    #: What changed since the last alert, for the message: "new", "rows 381 -> 12", "still failing ...".
    change: str
    state: AlertState


def fingerprint(check_id: str, target: str) -> str:
    return f"{check_id}@{target}"


def band_of(payload: Mapping[str, Any]) -> str:
    """``failed:null_player_name=failed,rows=warn``: the outcome and every rule not passing."""
    metrics = payload.get("metrics") or {}
    bad = sorted(
        f"{name}={m.get('outcome')}" for name, m in metrics.items() if m.get("outcome") not in ("passed",)
    )
    return f"{payload['outcome']}:{','.join(bad)}"


def observation_from(payload: Mapping[str, Any]) -> Observation:
    metrics = payload.get("metrics") or {}
    values = {name: m.get("value") for name, m in metrics.items()}
    return Observation(
        str(payload["id"]), str(payload.get("target", "")), str(payload["outcome"]), band_of(payload), values
    )


def _changes(outcomes: tuple[str, ...]) -> int:
    judged = [outcome in ALERTING for outcome in outcomes if outcome not in NEUTRAL]
    return sum(1 for before, after in itertools.pairwise(judged) if before != after)


def _value_changes(before: Mapping[str, float | None], after: Mapping[str, float | None]) -> str:
    moved = [
        f"{name} {format_number(before.get(name))} -> {format_number(value)}"
        for name, value in after.items()
        if name in before and before.get(name) != value
    ]
    return ", ".join(moved[:4])


def _duration(since: dt.datetime, now: dt.datetime) -> str:
    hours = (now - since).total_seconds() / 3600
    return f"{hours:.0f} h" if hours >= 1 else f"{hours * 60:.0f} min"


def decide(
    previous: AlertState | None, seen: Observation, now: dt.datetime, settings: AlertSettings
) -> Decision:
    """Decide this run's alert for one check and the state to keep. Pure: no clock, no I/O."""
    history = (previous.recent_outcomes if previous else ()) + (seen.outcome,)
    recent = history[-settings.flapping_window :]
    flapping = _changes(recent) >= settings.flapping_changes
    cooled = (
        previous is None
        or previous.last_sent is None
        or (now - previous.last_sent >= dt.timedelta(hours=settings.cooldown_hours))
    )
    base = previous or AlertState(
        fingerprint=seen.fingerprint,
        check_id=seen.check_id,
        target=seen.target,
        first_seen=now,
        last_seen=now,
        last_sent=None,
        last_outcome=seen.outcome,
        last_band="",
        count=0,
        recent_outcomes=(),
        flapping=False,
        last_values={},
    )
    state = replace(base, last_seen=now, last_outcome=seen.outcome, recent_outcomes=recent, flapping=flapping)

    def sent(kind: AlertKind, change: str, **fields: Any) -> Decision:
        return Decision(
            True,
            kind,
            change,
            replace(state, last_sent=now, last_band=seen.band, last_values=dict(seen.values), **fields),
        )

    def quiet(**fields: Any) -> Decision:
        return Decision(False, None, "", replace(state, **fields))

    if seen.outcome in NEUTRAL:
        return quiet()
    if seen.outcome not in ALERTING:
        episode_alerted = previous is not None and previous.count > 0 and previous.last_sent is not None
        if flapping or not episode_alerted:
            return quiet(count=0)
        assert previous is not None
        since = f"after {_duration(previous.first_seen, now)}, {previous.count} run(s)"
        return sent(AlertKind.RESOLVED, f"resolved {since}", count=0)

    new_episode = previous is None or previous.count == 0
    count = 1 if new_episode else (previous.count + 1 if previous else 1)
    first_seen = now if new_episode else base.first_seen
    if flapping:
        if previous is not None and previous.flapping and not cooled:
            return quiet(count=count, first_seen=first_seen)
        changes = _changes(recent)
        return sent(
            AlertKind.FLAPPING,
            f"flapping: {changes} changes in the last {len(recent)} runs",
            count=count,
            first_seen=first_seen,
        )
    if new_episode:
        return sent(AlertKind.NEW, "new", count=count, first_seen=first_seen)
    assert previous is not None
    if seen.band != previous.last_band:
        moved = _value_changes(previous.last_values, seen.values)
        return sent(
            AlertKind.CHANGED,
            f"changed: {moved}" if moved else f"changed to {seen.outcome}",
            count=count,
            first_seen=first_seen,
        )
    if cooled:
        return sent(
            AlertKind.REPEAT,
            f"still {seen.outcome} for {_duration(first_seen, now)} ({count} runs)",
            count=count,
            first_seen=first_seen,
        )
    return quiet(count=count, first_seen=first_seen)
