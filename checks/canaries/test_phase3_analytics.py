"""Phase 3 — analytics: yesterday's player_game_summary is populated and plausible."""

import pytest

from plugins.checks_plugin import expect_healthy
from resilience.results import CheckResult


@pytest.mark.canary("phase3_analytics")
@pytest.mark.phase3
def test_yesterdays_analytics_are_complete_and_plausible(canary: CheckResult) -> None:
    expect_healthy(canary)
