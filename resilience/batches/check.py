"""The ``stalled_batches`` measurement: prediction batches that stopped short of complete.

Production's coordinator sometimes left a batch at 90-99% for good (a few players failed and nothing
marked the batch complete), and phase 6 waited on it. The clean-up job (``healing cleanup``) completes
such batches; this check says that they exist, so a clean-up that is dead or failing is seen.
"""

from __future__ import annotations

import datetime as dt

from resilience.batches.model import PredictionBatch, completion, is_stalled, minutes_since_update
from resilience.batches.store import BatchStore, created_after
from resilience.context import business_today
from resilience.outcomes import Outcome, Threshold
from resilience.results import CheckResult, RuleResult
from resilience.settings import Settings
from resilience.state.base import StateStoreError

__all__ = ["CHECK_ID", "PHASE", "TITLE", "describe_stalled", "stalled_batches_result"]

CHECK_ID = "stalled_batches"
PHASE = 5
TITLE = "No prediction batch is stalled short of complete"
#: Stalled batches named in the message; the rest are counted.
NAMED_IN_MESSAGE = 5


def describe_stalled(batch: PredictionBatch, now: dt.datetime) -> str:
    """``batch_2026-02-05_1738700000 (94% complete, 22 min since update)``."""
    return (
        f"{batch.batch_id} ({completion(batch):.0%} complete, "
        f"{minutes_since_update(batch, now):.0f} min since update)"
    )


def stalled_batches_result(
    store: BatchStore, settings: Settings, now: dt.datetime, *, target: str
) -> CheckResult:
    """FAILED ("data bad") when any batch matches the clean-up's stall rule (``[healing.cleanup]``),
    PASSED otherwise; ERROR ("check broken") when the store cannot be read. ``target`` names what was
    read (the batch store's location) in the message."""
    rule = settings.healing.cleanup
    dates = (business_today(settings.timezone, now),)
    threshold = Threshold(fail_above=0)
    try:
        incomplete = store.incomplete(created_after(now, rule))
    except StateStoreError as error:
        return CheckResult(
            CHECK_ID,
            PHASE,
            TITLE,
            Outcome.ERROR,
            f"check broken: {error}",
            dates,
            (RuleResult("stalled_batches", "stalled batches", None, threshold, Outcome.ERROR, str(error)),),
        )
    stalled = [batch for batch in incomplete if is_stalled(batch, now, rule)]
    window = (
        f"incomplete batch(es) created in the last {rule.created_within_hours} h in {target}; stalled means "
        f">= {rule.min_completion:.0%} complete and no update for >= {rule.stalled_after_minutes} min"
    )
    if not stalled:
        return CheckResult(
            CHECK_ID,
            PHASE,
            TITLE,
            Outcome.PASSED,
            f"no prediction batch stalled: looked at {len(incomplete)} {window}",
            dates,
            (RuleResult("stalled_batches", "stalled batches", 0.0, threshold, Outcome.PASSED),),
        )
    named = ", ".join(describe_stalled(batch, now) for batch in stalled[:NAMED_IN_MESSAGE])
    more = f" and {len(stalled) - NAMED_IN_MESSAGE} more" if len(stalled) > NAMED_IN_MESSAGE else ""
    message = (
        f"data bad: {len(stalled)} prediction batch(es) stalled: {named}{more}; out of {len(incomplete)} "
        f"{window}. `healing cleanup` completes them; if they stay, the clean-up job is not running"
    )
    return CheckResult(
        CHECK_ID,
        PHASE,
        TITLE,
        Outcome.FAILED,
        message,
        dates,
        (
            RuleResult(
                "stalled_batches",
                "stalled batches",
                float(len(stalled)),
                threshold,
                Outcome.FAILED,
                ", ".join(batch.batch_id for batch in stalled),
            ),
        ),
    )
