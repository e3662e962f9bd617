"""Phase 2 -> 3 quality gate on yesterday's raw box scores: one test per rule, and the verdict.

The same gate is a Python API (``resilience.gate.phase2.evaluate_phase2_gate``) for the orchestrator
and a command (``resilience gate --date YYYY-MM-DD``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pytest

from plugins.checks_plugin import CheckTarget, announce_check, attach_result, expect_healthy
from resilience.gate.checks import RULE_NAMES, gate_check_results
from resilience.gate.phase2 import evaluate_phase2_gate
from resilience.results import CheckResult

pytestmark = [pytest.mark.gate, pytest.mark.phase2]


@pytest.fixture(scope="module")
def phase2_gate(check_target: CheckTarget) -> Mapping[str, CheckResult]:
    yesterday = check_target.as_of - dt.timedelta(days=1)
    return gate_check_results(evaluate_phase2_gate(check_target.warehouse, yesterday, check_target.settings))


@pytest.fixture
def gate_check(
    request: pytest.FixtureRequest, phase2_gate: Mapping[str, CheckResult], check_target: CheckTarget
) -> CheckResult:
    name: str = request.param
    announce_check(request, f"gate.phase2.{name}", 2, name)
    return attach_result(request, phase2_gate[name], as_of=check_target.as_of, target=check_target.target)


@pytest.mark.parametrize("gate_check", ["verdict"], indirect=True)
def test_the_gate_lets_analytics_proceed(gate_check: CheckResult) -> None:
    expect_healthy(gate_check)


@pytest.mark.parametrize("gate_check", RULE_NAMES, indirect=True)
def test_gate_rule_holds(gate_check: CheckResult) -> None:
    expect_healthy(gate_check)
