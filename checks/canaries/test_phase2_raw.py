"""Phase 2 — raw processing: yesterday's gamebook covers every final game, with names and teams."""

import pytest

from plugins.checks_plugin import expect_healthy
from resilience.results import CheckResult


@pytest.mark.canary("phase2_raw")
@pytest.mark.phase2
def test_yesterdays_raw_box_scores_are_complete(canary: CheckResult) -> None:
    expect_healthy(canary)
