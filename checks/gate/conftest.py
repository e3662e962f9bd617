"""Fixtures of the gate checks (``pytest -m gate``): each kind of check is measured once per session
from ``check_target``, then every test announces its check, attaches the result and judges it."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from plugins.checks_plugin import CheckTarget, announce_check, attach_result
from resilience.quality.betting_lines import COVERAGE, FRESHNESS, LINE_FEATURES, evaluate_betting_lines
from resilience.quality.prediction_quality import QUALITY_CHECKS, evaluate_prediction_quality
from resilience.quality.queries import QualityCheck
from resilience.results import CheckResult

# ---- Betting lines and prediction quality (resilience.quality) ----------------------------------


@pytest.fixture(scope="session")
def betting_line_results(check_target: CheckTarget) -> Mapping[str, CheckResult]:
    """The three betting-line checks, measured together (two queries) the first time one asks."""
    return evaluate_betting_lines(check_target.warehouse, check_target.settings, check_target.as_of)


@pytest.fixture(scope="session")
def prediction_quality_results(check_target: CheckTarget) -> Mapping[str, CheckResult]:
    """Every prediction-quality rule of the champion, measured together (two queries)."""
    return evaluate_prediction_quality(check_target.warehouse, check_target.settings, check_target.as_of)


def _reported(request: pytest.FixtureRequest, check: QualityCheck, results_fixture: str) -> CheckResult:
    # Announced before measuring: a check that hangs or crashes is still reported under its id.
    announce_check(request, check.check_id, check.phase, check.title)
    results: Mapping[str, CheckResult] = request.getfixturevalue(results_fixture)
    target: CheckTarget = request.getfixturevalue("check_target")
    return attach_result(request, results[check.check_id], as_of=target.as_of, target=target.target)


@pytest.fixture
def betting_line_coverage(request: pytest.FixtureRequest) -> CheckResult:
    return _reported(request, COVERAGE, "betting_line_results")


@pytest.fixture
def bettingpros_freshness(request: pytest.FixtureRequest) -> CheckResult:
    return _reported(request, FRESHNESS, "betting_line_results")


@pytest.fixture
def line_features_present(request: pytest.FixtureRequest) -> CheckResult:
    return _reported(request, LINE_FEATURES, "betting_line_results")


@pytest.fixture
def prediction_quality(request: pytest.FixtureRequest) -> CheckResult:
    """The rule named by the test's parameter (``@pytest.mark.parametrize(..., indirect=True)``)."""
    rule: str = request.param
    return _reported(request, QUALITY_CHECKS[rule], "prediction_quality_results")


# ---- end of betting lines and prediction quality -------------------------------------------------
