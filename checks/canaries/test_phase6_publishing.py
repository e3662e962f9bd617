"""Phase 6 — publishing: the champion model's daily signal for today is written and complete."""

import pytest

from plugins.checks_plugin import expect_healthy
from resilience.results import CheckResult


@pytest.mark.canary("phase6_publishing")
@pytest.mark.phase6
def test_champion_daily_signal_is_published(canary: CheckResult) -> None:
    expect_healthy(canary)
