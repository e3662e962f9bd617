"""The phase 2 gate as pytest checks: one result per rule, so a failure names the rule, plus the verdict.

A violated rule is WARN while the gate still proceeds and FAILED once the gate fails; an
INCONCLUSIVE gate is ERROR for every rule (check broken), never a pass.
"""

from __future__ import annotations

from collections.abc import Mapping

from resilience.gate.phase2 import GateResult, GateRule, GateStatus, describe_gate_rule
from resilience.outcomes import Outcome, Threshold
from resilience.results import CheckResult, RuleResult

PHASE = 2
VERDICT_OUTCOMES = {
    GateStatus.PROCEED: Outcome.PASSED,
    GateStatus.PROCEED_WITH_WARNING: Outcome.WARN,
    GateStatus.FAIL: Outcome.FAILED,
    GateStatus.INCONCLUSIVE: Outcome.ERROR,
}
RULE_NAMES = (
    "rows_per_game",
    "missing_games",
    "null_player_name",
    "null_team_abbr",
    "null_points",
    "null_minutes",
    "max_age",
    "mean_age",
)


def _threshold(rule: GateRule) -> Threshold:
    if rule.name == "rows_per_game":
        return Threshold(fail_below=rule.limit)
    return Threshold(fail_above=rule.limit)


def _rule_result(result: GateResult, rule: GateRule) -> CheckResult:
    check_id = f"gate.phase2.{rule.name}"
    dates = (result.game_date,)
    if not rule.violated:
        note = f": {rule.note}" if rule.note else ""
        message = f"{rule.title} held on {result.game_date.isoformat()}{note}"
        outcome = Outcome.PASSED
    else:
        outcome = Outcome.FAILED if result.status is GateStatus.FAIL else Outcome.WARN
        message = (
            f"{'data bad' if outcome is Outcome.FAILED else 'warning'} on {result.game_date.isoformat()}: "
            f"{describe_gate_rule(rule)} (gate {result.status.value}, score {result.quality_score:g})"
        )
    judged = RuleResult(rule.name, rule.title, rule.value, _threshold(rule), outcome, rule.note)
    return CheckResult(check_id, PHASE, rule.title, outcome, message, dates, (judged,), result.query_ids)


def gate_check_results(result: GateResult) -> Mapping[str, CheckResult]:
    """``verdict`` and one entry per rule name of :data:`RULE_NAMES`."""
    dates = (result.game_date,)
    verdict = CheckResult(
        "gate.phase2.verdict",
        PHASE,
        "phase 2 -> 3 quality gate",
        VERDICT_OUTCOMES[result.status],
        ("check broken: " if result.status is GateStatus.INCONCLUSIVE else "") + result.message,
        dates,
        query_ids=result.query_ids,
    )
    checks: dict[str, CheckResult] = {"verdict": verdict}
    by_name = {rule.name: rule for rule in result.rules}
    for name in RULE_NAMES:
        rule = by_name.get(name)
        if rule is not None:
            checks[name] = _rule_result(result, rule)
        elif result.status is GateStatus.INCONCLUSIVE:
            checks[name] = CheckResult(
                f"gate.phase2.{name}",
                PHASE,
                name,
                Outcome.ERROR,
                f"check broken: {result.message}",
                dates,
                query_ids=result.query_ids,
            )
        else:  # no games scheduled: nothing to judge, and that is the expected state
            checks[name] = CheckResult(
                f"gate.phase2.{name}",
                PHASE,
                name,
                Outcome.PASSED,
                f"nothing expected: {result.message}",
                dates,
                query_ids=result.query_ids,
            )
    return checks
