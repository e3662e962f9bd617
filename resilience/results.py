"""Results of any check, kept apart from the definitions that produce them (as Soda and Dagster do)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from resilience.outcomes import Outcome, Threshold


@dataclass(frozen=True)
class RuleResult:
    name: str
    title: str
    value: float | None
    threshold: Threshold
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class CheckResult:
    """What one check found: a canary, a gate rule, a quality rule.

    ``message`` is the one line an on-call engineer reads first; ``phase`` is 0 for checks that are
    not tied to one pipeline phase.
    """

    check_id: str
    phase: int
    title: str
    outcome: Outcome
    message: str
    dates: tuple[dt.date, ...]
    rules: tuple[RuleResult, ...] = ()
    query_ids: tuple[str, ...] = ()
    seconds: float = 0.0
    bytes_processed: int | None = None
    sql: tuple[str, ...] = ()
