"""Phase 5 — predictions: today's games have active, sane predictions whose edge has not collapsed."""

import pytest

from plugins.canary_plugin import expect_healthy
from resilience.canary.model import CanaryResult

pytestmark = pytest.mark.phase5


@pytest.mark.canary("phase5_predictions")
def test_todays_predictions_exist_and_look_sane(canary: CanaryResult) -> None:
    expect_healthy(canary)


@pytest.mark.canary("prediction_gap")
def test_games_today_have_predictions(canary: CanaryResult) -> None:
    expect_healthy(canary)


@pytest.mark.canary("edge_collapse")
def test_champion_edge_has_not_collapsed(canary: CanaryResult) -> None:
    expect_healthy(canary)
