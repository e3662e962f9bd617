"""Phase 4 — precompute: yesterday's feature store rows exist for the slate and are of good quality."""

import pytest

from plugins.checks_plugin import expect_healthy
from resilience.results import CheckResult


@pytest.mark.canary("phase4_precompute")
@pytest.mark.phase4
def test_feature_store_is_populated_with_good_quality(canary: CheckResult) -> None:
    expect_healthy(canary)
