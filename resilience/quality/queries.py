"""What the betting-line and prediction-quality checks share: running one grouped query, reading its
per-date sums, and wording results the way the canaries do.

Each check module plans a few aggregate queries (one per table or join, ``GROUP BY game_date``) and
judges every rule from the sums they return; a query that fails is recorded, never raised, and every
check that needed it becomes ERROR ("check broken").
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from resilience.outcomes import Outcome, Threshold, format_number
from resilience.results import CheckResult, RuleResult
from resilience.warehouse.base import ParamValue, QueryError, Warehouse


@dataclass(frozen=True)
class QualityCheck:
    """A check's identity, known before anything is measured (so a hang is still reported by id)."""

    check_id: str
    phase: int
    title: str


@dataclass(frozen=True)
class QualityQuery:
    """One aggregate query, grouped by ``measured_date``, and the columns it must return."""

    label: str
    sql: str
    params: Mapping[str, ParamValue]
    columns: tuple[str, ...]


class NotMeasured(ValueError):
    """A column that a rule needs came back NULL: the check cannot judge anything (ERROR)."""


@dataclass(frozen=True)
class QueryRun:
    """What one query returned, per date; ``error`` is set instead when it did not run."""

    query: QualityQuery
    by_date: Mapping[dt.date, Mapping[str, float | None]]
    query_id: str | None
    seconds: float
    bytes_processed: int | None
    error: str | None = None

    def count(self, column: str, days: Iterable[dt.date]) -> float:
        """The sum of a count column over ``days``; a date without rows counts 0, a NULL is an error."""
        total = 0.0
        for day in days:
            row = self.by_date.get(day)
            if row is None:
                continue
            value = row[column]
            if value is None:
                raise NotMeasured(f"{column} came back NULL on {day.isoformat()} ({self.query.label})")
            total += value
        return total

    def value(self, column: str, day: dt.date) -> float | None:
        """A value column (an age, a mean) of one date; None when the date had no rows or no value."""
        row = self.by_date.get(day)
        return None if row is None else row[column]


def _as_number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    raise TypeError(f"value {value!r} is not a number")


def run_query(warehouse: Warehouse, query: QualityQuery) -> QueryRun:
    """Run ``query``; a failed query or a malformed answer is recorded in ``error``, never raised."""
    started = time.perf_counter()
    try:
        result = warehouse.query(query.sql, query.params, label=query.label)
        by_date: dict[dt.date, dict[str, float | None]] = {}
        for row in result.rows:
            day = row.get("measured_date")
            if isinstance(day, dt.datetime):
                day = day.date()
            if not isinstance(day, dt.date):
                raise TypeError(f"measured_date {day!r} is not a date")
            missing = [column for column in query.columns if column not in row]
            if missing:
                raise TypeError(f"the result of {query.label!r} has no column {missing[0]}")
            by_date[day] = {column: _as_number(row[column]) for column in query.columns}
    except (QueryError, TypeError) as error:
        return QueryRun(
            query, {}, getattr(error, "query_id", None), time.perf_counter() - started, None, str(error)
        )
    return QueryRun(query, by_date, result.query_id, result.seconds, result.bytes_processed)


def window_dates(last: dt.date, days: int) -> tuple[dt.date, ...]:
    """``days`` consecutive dates ending with ``last``, oldest first."""
    return tuple(last - dt.timedelta(days=back) for back in range(days - 1, -1, -1))


def span_text(dates: Sequence[dt.date]) -> str:
    """``2026-01-08..2026-01-14`` for consecutive dates, else the dates one by one."""
    ordered = sorted(dates)
    if not ordered:
        return "no dates"
    if len(ordered) == 1:
        return ordered[0].isoformat()
    if (ordered[-1] - ordered[0]).days == len(ordered) - 1:
        return f"{ordered[0].isoformat()}..{ordered[-1].isoformat()}"
    return ", ".join(day.isoformat() for day in ordered)


@dataclass(frozen=True)
class Unit:
    """How a rule's value and bounds read: rates as percentages, other numbers with a suffix."""

    percent: bool = False
    suffix: str = ""

    def text(self, value: float) -> str:
        if self.percent:
            return f"{round(value * 100, 1):g}%"
        return f"{format_number(value)}{self.suffix}"

    def bounds(self, threshold: Threshold) -> str:
        parts = [
            f"{label} {sign} {self.text(bound)}"
            for label, bound, sign in (
                ("fail", threshold.fail_below, "<"),
                ("fail", threshold.fail_above, ">"),
                ("warn", threshold.warn_below, "<"),
                ("warn", threshold.warn_above, ">"),
            )
            if bound is not None
        ]
        return ", ".join(parts) or "no bounds"


COUNT = Unit()
PERCENT = Unit(percent=True)


def describe(rule: RuleResult, unit: Unit = COUNT) -> str:
    """``premium hit rate = 51.2% (fail < 55%): 21 of 41 premium bets hit`` (as the canaries word it)."""
    value = "not measurable" if rule.value is None else f"= {unit.text(rule.value)}"
    text = f"{rule.title} {value} ({unit.bounds(rule.threshold)})"
    return f"{text}: {rule.detail}" if rule.detail else text


def summarize(outcome: Outcome, span: str, described: Sequence[tuple[RuleResult, str]]) -> str:
    """The one line of a judged check; ``described`` pairs each rule with its wording."""
    if outcome is Outcome.PASSED:
        return f"passed on {span}: " + "; ".join(text for _, text in described)
    bad = sorted(
        (pair for pair in described if pair[0].outcome.is_alerting), key=lambda p: -p[0].outcome.severity
    )
    kind = {Outcome.ERROR: "check broken", Outcome.FAILED: "data bad"}.get(outcome, "warning")
    return f"{kind} on {span}: " + "; ".join(text for _, text in bad)


def not_evaluated(sample: float, noun: str, span: str, minimum: int) -> str:
    return (
        f"not evaluated: {format_number(sample)} {noun} over {span}, fewer than the {minimum} this rule needs"
    )


def check_result(
    check: QualityCheck,
    dates: Sequence[dt.date],
    runs: Sequence[QueryRun],
    outcome: Outcome,
    message: str,
    rules: Sequence[RuleResult] = (),
) -> CheckResult:
    """A :class:`CheckResult` carrying the identity, time and SQL of the queries it was judged from."""
    known_bytes = [run.bytes_processed for run in runs if run.bytes_processed is not None]
    return CheckResult(
        check.check_id,
        check.phase,
        check.title,
        outcome,
        message,
        tuple(dates),
        tuple(rules),
        query_ids=tuple(run.query_id for run in runs if run.query_id),
        seconds=sum(run.seconds for run in runs),
        bytes_processed=sum(known_bytes) if known_bytes else None,
        sql=tuple(run.query.sql for run in runs),
    )


def broken(check: QualityCheck, dates: Sequence[dt.date], runs: Sequence[QueryRun]) -> CheckResult | None:
    """ERROR ("check broken: ...") when any query the check needs failed, else None."""
    for run in runs:
        if run.error is not None:
            return check_result(check, dates, runs, Outcome.ERROR, f"check broken: {run.error}")
    return None
