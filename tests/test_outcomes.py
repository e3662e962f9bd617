"""The one function that decides outcomes, and the threshold arithmetic around it."""

import math

import pytest

from resilience.outcomes import Outcome, Threshold, format_number, judge, worst


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (39, Outcome.FAILED),
        (40, Outcome.WARN),
        (59.9, Outcome.WARN),
        (60, Outcome.PASSED),
        (1000, Outcome.PASSED),
    ],
)
def test_a_lower_bound_fails_below_fail_and_warns_below_warn(value: float, expected: Outcome) -> None:
    assert judge(value, Threshold(fail_below=40, warn_below=60)) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, Outcome.PASSED),
        (50, Outcome.PASSED),
        (51, Outcome.WARN),
        (100, Outcome.WARN),
        (101, Outcome.FAILED),
    ],
)
def test_an_upper_bound_warns_then_fails(value: float, expected: Outcome) -> None:
    assert judge(value, Threshold(fail_above=100, warn_above=50)) is expected


def test_fail_is_tested_before_warn() -> None:
    assert judge(5, Threshold(fail_below=10, warn_above=1)) is Outcome.FAILED


@pytest.mark.parametrize("value", [None, math.nan])
def test_a_value_that_was_not_measured_is_an_error_never_a_pass(value: float | None) -> None:
    assert judge(value, Threshold(fail_above=0)) is Outcome.ERROR


def test_the_worst_outcome_wins_and_skips_do_not_hide_failures() -> None:
    assert worst([Outcome.PASSED, Outcome.WARN, Outcome.FAILED]) is Outcome.FAILED
    assert worst([Outcome.FAILED, Outcome.ERROR]) is Outcome.ERROR
    assert worst([Outcome.SKIPPED, Outcome.PASSED]) is Outcome.PASSED
    assert worst([Outcome.SKIPPED]) is Outcome.SKIPPED
    assert worst([]) is Outcome.PASSED


def test_per_game_thresholds_scale_with_the_slate() -> None:
    scaled = Threshold(fail_below=10, warn_below=12, per_game=True).scaled(7)
    assert (scaled.fail_below, scaled.warn_below, scaled.per_game) == (70, 84, False)
    assert Threshold(fail_below=10).scaled(7).fail_below == 10


def test_thresholds_read_as_people_write_them() -> None:
    assert Threshold(fail_below=40, warn_below=60).describe() == "fail < 40, warn < 60"
    assert Threshold(fail_above=0.05).describe() == "fail > 0.05"
    assert format_number(0.87301234) == "0.873"
    assert format_number(15.25) == "15.25"
    assert format_number(None) == "NULL"
