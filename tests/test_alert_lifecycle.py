"""The alert lifecycle as a pure function: new, quiet, repeat, changed, resolved, flapping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pytest

from resilience.alerts.lifecycle import Decision, Observation, band_of, decide
from resilience.settings import Settings
from resilience.slack.model import AlertKind
from resilience.state.model import AlertState

START = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
HALF_HOUR = dt.timedelta(minutes=30)


def seen(outcome: str, band: str | None = None, **values: float) -> Observation:
    return Observation(
        "phase2_raw", "duckdb:///demo", outcome, band or f"{outcome}:rows={outcome}", values or {"rows": 12.0}
    )


def run(
    settings: Settings,
    outcomes: Iterable[Observation],
    start: dt.datetime = START,
    every: dt.timedelta = HALF_HOUR,
) -> list[Decision]:
    state: AlertState | None = None
    decisions = []
    for number, observation in enumerate(outcomes):
        decision = decide(state, observation, start + number * every, settings.alerts)
        decisions.append(decision)
        state = decision.state
    return decisions


def kinds(decisions: list[Decision]) -> list[str | None]:
    return [d.kind.value if d.send and d.kind else None for d in decisions]


def test_a_new_failure_alerts_at_once_and_then_stays_quiet(settings: Settings) -> None:
    decisions = run(settings, [seen("failed")] * 3)
    assert kinds(decisions) == ["new", None, None]
    assert decisions[0].change == "new"
    assert decisions[2].state.count == 3


def test_a_chronic_failure_repeats_only_after_the_cool_down(settings: Settings) -> None:
    # Production: one chronically failing check sent 48 identical messages a day.
    decisions = run(settings, [seen("failed")] * 48)
    sent = [number for number, d in enumerate(decisions) if d.send]
    assert sent == [0, 8, 16, 24, 32, 40]  # every 4 h at 30-minute runs
    assert decisions[8].kind is AlertKind.REPEAT
    assert decisions[8].change == "still failed for 4 h (9 runs)"


def test_crossing_into_another_band_alerts_within_the_cool_down(settings: Settings) -> None:
    decisions = run(
        settings,
        [
            seen("warn", "warn:rows=warn", rows=50.0),
            seen("warn", "warn:rows=warn", rows=45.0),
            seen("failed", "failed:rows=failed", rows=12.0),
        ],
    )
    assert kinds(decisions) == ["new", None, "changed"]
    assert decisions[2].change == "changed: rows 50 -> 12"


def test_a_check_that_passes_again_sends_one_resolved_notice(settings: Settings) -> None:
    decisions = run(
        settings, [seen("failed"), seen("failed"), seen("passed", "passed:"), seen("passed", "passed:")]
    )
    assert kinds(decisions) == ["new", None, "resolved", None]
    assert decisions[2].change == "resolved after 1 h, 2 run(s)"
    assert decisions[3].state.count == 0


def test_a_pass_with_nothing_to_resolve_is_quiet(settings: Settings) -> None:
    assert kinds(run(settings, [seen("passed", "passed:")] * 3)) == [None, None, None]


def test_a_skipped_check_neither_alerts_nor_resolves(settings: Settings) -> None:
    decisions = run(settings, [seen("failed"), seen("skipped", "skipped:"), seen("failed")])
    assert kinds(decisions) == ["new", None, None]


def test_a_flapping_check_is_called_flapping_once_instead_of_alerting_every_run(settings: Settings) -> None:
    toggling = [seen("failed"), seen("passed", "passed:")] * 8
    decisions = run(settings, toggling)
    sent = kinds(decisions)
    assert sent[:4] == ["new", "resolved", "new", "resolved"]
    assert sent[4] == "flapping"
    assert decisions[4].change == "flapping: 4 changes in the last 5 runs"
    # Within the cool-down (runs 5-11 at 30 minutes) nothing more is sent while it keeps toggling;
    # at run 12, four hours after the notice, one reminder.
    assert sent[5:12] == [None] * 7
    assert sent[12] == "flapping"
    assert sent[13:] == [None] * 3
    assert decisions[-1].state.flapping is True


def test_a_flapping_check_reminds_once_per_cool_down(settings: Settings) -> None:
    toggling = [seen("failed"), seen("passed", "passed:")] * 12
    sent = kinds(run(settings, toggling, every=dt.timedelta(hours=1)))
    # Hourly runs: the notice at run 4, then one reminder every 4 h, never a new/resolved pair again.
    assert [number for number, kind in enumerate(sent) if kind] == [0, 1, 2, 3, 4, 8, 12, 16, 20]
    assert set(sent[5:]) == {None, "flapping"}


def test_the_band_names_the_rules_that_are_not_passing() -> None:
    payload = {
        "outcome": "failed",
        "metrics": {
            "rows": {"outcome": "failed"},
            "games": {"outcome": "passed"},
            "nulls": {"outcome": "warn"},
        },
    }
    assert band_of(payload) == "failed:nulls=warn,rows=failed"


@pytest.mark.parametrize("outcome", ["warn", "error"])
def test_warnings_and_broken_checks_follow_the_same_lifecycle(settings: Settings, outcome: str) -> None:
    assert kinds(run(settings, [seen(outcome)] * 2 + [seen("passed", "passed:")])) == [
        "new",
        None,
        "resolved",
    ]
