"""Prediction quality of the champion model over the last graded week, one test per rule."""

import pytest

from plugins.checks_plugin import expect_healthy
from resilience.quality.config import QUALITY_RULES
from resilience.results import CheckResult

pytestmark = [pytest.mark.gate, pytest.mark.smoke]


@pytest.mark.parametrize("prediction_quality", list(QUALITY_RULES), indirect=True)
def test_champion_prediction_quality_holds(prediction_quality: CheckResult) -> None:
    expect_healthy(prediction_quality)
