"""Cross-phase: analytics against the schedule over a lookback window, and the table's grain.

A steady multi-day gap is invisible to yesterday-only checks; these compare every date of the window
with the games the schedule says went final.
"""

import pytest

from plugins.checks_plugin import expect_healthy
from resilience.results import CheckResult

pytestmark = pytest.mark.phase3


@pytest.mark.canary("schedule_gap")
def test_no_final_game_day_is_missing_from_analytics(canary: CheckResult) -> None:
    expect_healthy(canary)


@pytest.mark.canary("analytics_coverage")
def test_analytics_cover_every_final_game_of_the_window(canary: CheckResult) -> None:
    expect_healthy(canary)


@pytest.mark.canary("analytics_duplicates")
def test_player_game_summary_keeps_one_row_per_player_and_game(canary: CheckResult) -> None:
    expect_healthy(canary)
