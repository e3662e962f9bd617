"""What the scheduled clean-up job reports after each run: its own result and the suite's pulse.

The job runs every 15 minutes, independently of pytest, so it is the second watcher of the
dead-man's switch: if the canary runner itself is dead, this is what notices. Both go through the
same lifecycle as every check (no repeat within the cool-down), and the job's own heartbeat is
recorded as suite ``healing``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from healing.cleanup import CleanupReport
from resilience.alerts.deadman import suite_health
from resilience.alerts.record_run import RunRecord, record_run
from resilience.canary.payload import result_payload
from resilience.history import WritableWarehouse
from resilience.outcomes import Outcome, Threshold
from resilience.results import CheckResult, RuleResult
from resilience.settings import Settings
from resilience.state.base import StateStore

CLEANUP_CHECK_ID = "healing.cleanup"
#: The target the meta checks use (checks/meta), so the job and `pytest -m meta` share one lifecycle.
META_TARGET = "state store"


def cleanup_result(report: CleanupReport, today: dt.date) -> CheckResult:
    """WARN when batches had to be healed (someone should learn why), FAILED when a heal failed."""
    healed, failed = len(report.healed), len(report.failed)
    outcome = Outcome.FAILED if failed else Outcome.WARN if healed else Outcome.PASSED
    rule = RuleResult(
        "healed_batches",
        "stalled batches completed",
        float(healed),
        Threshold(warn_above=0),
        Outcome.WARN if healed else Outcome.PASSED,
    )
    return CheckResult(
        CLEANUP_CHECK_ID, 5, "the batch clean-up job", outcome, report.summary(), (today,), (rule,)
    )


def job_payloads(
    report: CleanupReport, health: Mapping[str, CheckResult], today: dt.date, batch_target: str
) -> list[dict[str, Any]]:
    payloads = [
        {
            **result_payload(cleanup_result(report, today), as_of=today, target=batch_target),
            "suite": "healing",
            "critical": False,
        }
    ]
    for result in health.values():
        payloads.append(
            {**result_payload(result, as_of=today, target=META_TARGET), "suite": "meta", "critical": True}
        )
    return payloads


def report_job(
    report: CleanupReport,
    *,
    settings: Settings,
    state: StateStore,
    warehouse: WritableWarehouse | None,
    batch_target: str,
    now: dt.datetime,
) -> RunRecord:
    """Alert on the clean-up's result and on any dead scheduled suite; record the job's heartbeat."""
    health = suite_health(state, settings, now)
    run_id = f"{now:%Y%m%dT%H%M%SZ}-cleanup-{uuid.uuid4().hex[:6]}"
    return record_run(
        job_payloads(report, health, now.date(), batch_target),
        settings=settings,
        store=state,
        warehouse=warehouse,
        run_id=run_id,
        started=now,
        now=dt.datetime.now(dt.UTC),
        fallback_as_of=None,
        report_hint="healing analyze",
    )
