"""Phase 5 — prediction batches: no batch stays stalled. The check heals what it finds, then re-checks.

Reads the batch store (Firestore ``prediction_batches`` in production, the local state store by default).
A stall that was healed and re-checked is a WARN (someone should learn why batches stall); one the
clean-up could not heal stays FAILED.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from healing.cleanup import CleanupReport
from healing.wiring import HealingParts
from plugins.checks_plugin import STATE, announce_check, attach_result, expect_healthy
from plugins.healing_fixtures import Cleanup
from resilience.alerts.lifecycle import fingerprint
from resilience.batches.check import CHECK_ID, PHASE, TITLE, stalled_batches_result
from resilience.outcomes import Outcome
from resilience.results import CheckResult


def healed_result(again: CheckResult, report: CleanupReport) -> CheckResult:
    """After the clean-up: WARN when the re-check passed (the stall was real, find out why), else FAILED."""
    if again.outcome is Outcome.PASSED:
        message = f"warning: healed and re-checked, none stalled now. {report.summary()}"
        return dataclasses.replace(again, outcome=Outcome.WARN, message=message)
    return dataclasses.replace(
        again, message=f"{again.message} The clean-up did not fix it: {report.summary()}"
    )


@pytest.mark.canary
@pytest.mark.phase5
def test_no_prediction_batch_is_stalled(
    request: pytest.FixtureRequest, healing: HealingParts, stalled_batch_cleanup: Cleanup
) -> None:
    settings = request.config.stash[STATE].context.settings
    target = healing.batches.location
    announce_check(request, CHECK_ID, PHASE, TITLE)
    found = stalled_batches_result(healing.batches, settings, dt.datetime.now(dt.UTC), target=target)
    result = found
    if found.outcome is Outcome.FAILED:
        report = stalled_batch_cleanup(fingerprint(CHECK_ID, target))
        again = stalled_batches_result(healing.batches, settings, dt.datetime.now(dt.UTC), target=target)
        result = healed_result(again, report)
    expect_healthy(attach_result(request, result, as_of=dt.datetime.now(dt.UTC).date(), target=target))
