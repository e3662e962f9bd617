"""Phase 5 — predictions: today's games have active, sane predictions whose edge has not collapsed."""

import pytest

from plugins.checks_plugin import expect_healthy
from resilience.results import CheckResult

pytestmark = pytest.mark.phase5


@pytest.mark.canary("phase5_predictions")
def test_todays_predictions_exist_and_look_sane(canary: CheckResult) -> None:
    expect_healthy(canary)


@pytest.mark.canary("prediction_gap")
def test_games_today_have_predictions(canary: CheckResult) -> None:
    expect_healthy(canary)


@pytest.mark.canary("edge_collapse")
def test_champion_edge_has_not_collapsed(canary: CheckResult) -> None:
    expect_healthy(canary)
