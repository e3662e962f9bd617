"""The ways a rule turns per-date metric values into the one number its threshold judges."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from resilience.canary.model import Metric, MetricKind, Reading, Readings, Rule


def _dates_text(dates: Sequence[dt.date]) -> str:
    shown = ", ".join(day.isoformat() for day in dates[:5])
    return shown + (f" (+{len(dates) - 5} more)" if len(dates) > 5 else "")


def total(name: str, title: str, metric: Metric, *, highest: float | None = None) -> Rule:
    """The metric summed over the span (a count), or its value on the span's single date (a mean)."""

    def compute(readings: Readings, dates: Sequence[dt.date]) -> Reading:
        if metric.kind is MetricKind.VALUE:
            if len(dates) != 1:
                raise ValueError(f"rule {name}: a mean cannot be summed over {len(dates)} dates")
            value = readings.get(metric, dates[0])
            if value is None:
                return Reading(None, f"no rows on {dates[0].isoformat()} to measure it", no_rows=True)
            return Reading(value)
        counts = [readings.get(metric, day) for day in dates]
        if any(count is None for count in counts):
            return Reading(None, f"{metric.id} came back NULL")
        return Reading(sum(count for count in counts if count is not None))

    return Rule(name, title, (metric,), compute, lowest=metric.lowest, highest=highest or metric.highest)


def days_with_rows(name: str, title: str, metric: Metric) -> Rule:
    """How many dates of the span have any rows."""

    def compute(readings: Readings, dates: Sequence[dt.date]) -> Reading:
        counts = [readings.get(metric, day) for day in dates]
        if any(count is None for count in counts):
            return Reading(None, f"{metric.id} came back NULL")
        return Reading(float(sum(1 for count in counts if count)))

    return Rule(name, title, (metric,), compute)


def share(name: str, title: str, part: Metric, whole: Metric) -> Rule:
    """``part / whole`` over the span, on 0..1."""

    def compute(readings: Readings, dates: Sequence[dt.date]) -> Reading:
        parts = [readings.get(part, day) for day in dates]
        wholes = [readings.get(whole, day) for day in dates]
        if any(value is None for value in (*parts, *wholes)):
            return Reading(None, f"{part.id} or {whole.id} came back NULL")
        denominator = sum(value for value in wholes if value is not None)
        if not denominator:
            return Reading(None, "no rows to take a share of", no_rows=True)
        return Reading(sum(value for value in parts if value is not None) / denominator)

    return Rule(name, title, (part, whole), compute, lowest=0.0, highest=1.0)


def shortfall(name: str, title: str, expected: Metric, actual: Metric) -> Rule:
    """How many expected items are missing, summed over dates: ``max(0, expected - actual)``."""

    def compute(readings: Readings, dates: Sequence[dt.date]) -> Reading:
        missing: list[dt.date] = []
        count = 0.0
        for day in dates:
            want, have = readings.get(expected, day), readings.get(actual, day)
            if want is None or have is None:
                return Reading(None, f"{expected.id} or {actual.id} came back NULL on {day}")
            if want > have:
                count += want - have
                missing.append(day)
        return Reading(count, f"on {_dates_text(missing)}" if missing else "")

    return Rule(name, title, (expected, actual), compute)


def dates_with_gap(name: str, title: str, expected: Metric, actual: Metric, *, partial: bool) -> Rule:
    """Dates where ``actual`` covers none (``partial=False``) or only some (``partial=True``) of ``expected``.

    Kept as two rules so a day with nothing and a day with half are told apart, and each date is
    counted by exactly one of them.
    """

    def compute(readings: Readings, dates: Sequence[dt.date]) -> Reading:
        found: list[str] = []
        for day in dates:
            want, have = readings.get(expected, day), readings.get(actual, day)
            if want is None or have is None:
                return Reading(None, f"{expected.id} or {actual.id} came back NULL on {day}")
            if not want:
                continue
            if (partial and 0 < have < want) or (not partial and have == 0):
                found.append(f"{day.isoformat()} ({int(have)} of {int(want)} games)")
        return Reading(
            float(len(found)), "; ".join(found[:5]) + (f" (+{len(found) - 5} more)" if len(found) > 5 else "")
        )

    return Rule(name, title, (expected, actual), compute)
