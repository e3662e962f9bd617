"""Phase 1 — scrapers: box scores keep arriving (last `lookback_days` dates up to today)."""

import pytest

from plugins.checks_plugin import expect_healthy
from resilience.results import CheckResult


@pytest.mark.canary("phase1_scrapers")
@pytest.mark.phase1
def test_scrapers_delivered_recent_box_scores(canary: CheckResult) -> None:
    expect_healthy(canary)
