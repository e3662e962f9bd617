"""Definitions (what a canary measures) and results (what it found), kept apart as Soda and Dagster do.

A :class:`Metric` is one aggregate over one table per date; every metric on a table is computed by a
single grouped query per run. A :class:`Rule` turns per-date metric values into one number that a
threshold from settings judges. A :class:`CanarySpec` is a group of rules on one span of dates: one
pytest test, one alert fingerprint.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


class MetricKind(enum.Enum):
    #: A count: a date with no rows reads as 0, which is real data, not a missing value.
    COUNT = "count"
    #: A mean or maximum: a date with no rows has no value ("nothing to measure").
    VALUE = "value"


@dataclass(frozen=True)
class Metric:
    """One aggregate expression (BigQuery SQL) on one table, evaluated per partition date."""

    table: str
    name: str
    sql: str
    kind: MetricKind = MetricKind.COUNT
    #: The range the metric can take, used to reject thresholds that can never fire.
    lowest: float = 0.0
    highest: float | None = None

    @property
    def id(self) -> str:
        return f"{self.table}.{self.name}"


class Readings:
    """Per-date metric values of one run: ``values[metric_id][date]``."""

    def __init__(self, values: Mapping[str, Mapping[dt.date, float | None]]) -> None:
        self._values = values

    def get(self, metric: Metric, day: dt.date) -> float | None:
        by_date = self._values.get(metric.id)
        if by_date is None:
            raise KeyError(f"metric {metric.id} was not measured")
        if day not in by_date:
            return 0.0 if metric.kind is MetricKind.COUNT else None
        return by_date[day]


@dataclass(frozen=True)
class Reading:
    """A rule's value with what a person needs to act on it (which dates, why nothing was measured)."""

    value: float | None
    detail: str = ""
    #: True when the value is missing because there were no rows (data bad), not because a query broke.
    no_rows: bool = False


RuleValue = Callable[[Readings, Sequence[dt.date]], Reading]


@dataclass(frozen=True)
class Rule:
    """One threshold-judged number of a canary: ``rows >= 40``, ``NULL player names = 0``."""

    name: str
    title: str
    metrics: tuple[Metric, ...]
    compute: RuleValue = field(compare=False)
    lowest: float = 0.0
    highest: float | None = None


@dataclass(frozen=True)
class Span:
    """The dates a canary reads, counted back from the as-of date (Eastern business day).

    ``Span(end_offset=1)`` is yesterday; ``Span(end_offset=1, length_param="lookback_days")`` is the
    ``lookback_days`` dates ending yesterday, the length read from the canary's settings.
    """

    end_offset: int
    length_param: str | None = None

    def dates(self, as_of: dt.date, params: Mapping[str, float | int | str]) -> tuple[dt.date, ...]:
        length = int(params[self.length_param]) if self.length_param else 1
        last = as_of - dt.timedelta(days=self.end_offset)
        return tuple(last - dt.timedelta(days=back) for back in range(length - 1, -1, -1))


@dataclass(frozen=True)
class SampleGuard:
    """Skip (with the reason) when fewer than ``params[min_param]`` rows back the rule."""

    metric: Metric
    min_param: str
    description: str


@dataclass(frozen=True)
class CanarySpec:
    id: str
    phase: int
    title: str
    span: Span
    rules: tuple[Rule, ...]
    #: Schedule metric that must be > 0 over the span for data to be expected; None = always expected.
    expects: Metric | None = None
    sample: SampleGuard | None = None
    params: tuple[str, ...] = ()
    runbook: str = ""

    def metrics(self) -> tuple[Metric, ...]:
        found: dict[str, Metric] = {}
        for rule in self.rules:
            for metric in rule.metrics:
                found[metric.id] = metric
        for extra in (self.expects, self.sample.metric if self.sample else None):
            if extra is not None:
                found[extra.id] = extra
        return tuple(found.values())
