"""Phase 1 — scrapers: box scores keep arriving (last `lookback_days` dates up to today)."""

import pytest

from plugins.canary_plugin import expect_healthy
from resilience.canary.model import CanaryResult


@pytest.mark.canary("phase1_scrapers")
@pytest.mark.phase1
def test_scrapers_delivered_recent_box_scores(canary: CanaryResult) -> None:
    expect_healthy(canary)
