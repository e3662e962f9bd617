"""Betting lines: enough rostered players have a points line, BettingPros is fresh, and phase 4
carried the line into the features of every player who has one."""

import pytest

from plugins.checks_plugin import expect_healthy
from resilience.results import CheckResult

pytestmark = [pytest.mark.gate, pytest.mark.smoke]


def test_enough_rostered_players_have_a_points_line(betting_line_coverage: CheckResult) -> None:
    expect_healthy(betting_line_coverage)


def test_bettingpros_points_lines_are_fresh(bettingpros_freshness: CheckResult) -> None:
    expect_healthy(bettingpros_freshness)


def test_every_player_with_a_line_has_line_features(line_features_present: CheckResult) -> None:
    expect_healthy(line_features_present)
