"""The dead-man's switch: is every scheduled suite still completing runs, and are they working?

Production's canary failed on every run for about two and a half months and its drift monitor was
dark for eight days before anyone noticed. Every run records a heartbeat per suite; this judges them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from resilience.outcomes import Outcome
from resilience.results import CheckResult
from resilience.settings import Settings
from resilience.state.base import StateStore
from resilience.state.model import Heartbeat


def _ago(moment: dt.datetime, now: dt.datetime) -> str:
    minutes = (now - moment).total_seconds() / 60
    if minutes < 120:
        return f"{minutes:.0f} min ago"
    return f"{minutes / 60:.1f} h ago"


def judge_suite(
    suite: str,
    interval_minutes: int,
    beats: list[Heartbeat],
    settings: Settings,
    now: dt.datetime,
    location: str,
) -> CheckResult:
    """One suite's health from its newest heartbeats (newest first)."""
    check_id = f"meta.heartbeat.{suite}"
    title = f"the {suite} suite is alive and working"
    every = f"expected every {interval_minutes} min"
    if not beats:
        return CheckResult(
            check_id,
            0,
            title,
            Outcome.FAILED,
            f"data bad: no completed {suite} run is recorded in {location} ({every}); "
            "check its scheduler job",
            (),
        )
    latest = beats[0]
    allowed = dt.timedelta(minutes=interval_minutes * settings.alerts.dead_after_intervals)
    if now - latest.finished_at > allowed:
        return CheckResult(
            check_id,
            0,
            title,
            Outcome.FAILED,
            f"data bad: {suite} has not completed a run since {latest.finished_at:%Y-%m-%d %H:%M} UTC "
            f"({_ago(latest.finished_at, now)}; {every}); check its scheduler job and its logs",
            (),
        )
    window = beats[: settings.alerts.broken_runs]
    if len(window) == settings.alerts.broken_runs and all(b.outcome == Outcome.ERROR.value for b in window):
        return CheckResult(
            check_id,
            0,
            title,
            Outcome.FAILED,
            f"data bad: the last {len(window)} {suite} runs all ended in ERROR (checks broken, "
            f"not data bad), newest {_ago(latest.finished_at, now)}; see run {latest.run_id}",
            (),
        )
    return CheckResult(
        check_id,
        0,
        title,
        Outcome.PASSED,
        f"last {suite} run finished {_ago(latest.finished_at, now)} ({latest.outcome})",
        (),
    )


def suite_health(store: StateStore, settings: Settings, now: dt.datetime) -> Mapping[str, CheckResult]:
    """Every suite of ``[suites]`` judged from the state store's heartbeats."""
    results = {}
    for suite, schedule in settings.suites.items():
        beats = store.heartbeats(suite, limit=max(settings.alerts.broken_runs, 1))
        results[suite] = judge_suite(suite, schedule.interval_minutes, beats, settings, now, store.location)
    return results
