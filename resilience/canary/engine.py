"""Run canaries: one grouped aggregate query per table for every selected canary, then judge each.

The queries are planned from the selected canaries together (Soda's aggregation query), so ten
canaries on four tables cost four scans, filtered on the partition column to the dates they need.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from resilience.canary.catalog import ALL_STAR_GAMES, CALENDAR_METRICS, CANARIES, SCHEDULED_GAMES
from resilience.canary.model import CanarySpec, Metric, Readings
from resilience.outcomes import Outcome, format_number, judge, worst
from resilience.results import CheckResult, RuleResult
from resilience.schemas import load_catalog
from resilience.settings import Settings
from resilience.warehouse.base import ParamValue, QueryError, QueryResult, Warehouse

#: Days around the measured dates that the schedule query also reads, to tell a no-game day from the
#: All-Star break or the off-season.
CALENDAR_MARGIN_DAYS = 7


@dataclass(frozen=True)
class PlannedQuery:
    """One aggregate query: every metric a run needs from one table, over the union of their dates."""

    table_key: str
    table: str
    label: str
    sql: str
    params: Mapping[str, ParamValue]
    metrics: tuple[Metric, ...]


@dataclass(frozen=True)
class QueryRecord:
    label: str
    table: str
    query_id: str | None
    seconds: float
    bytes_processed: int | None
    error: str | None
    sql: str


@dataclass(frozen=True)
class CanaryRun:
    """Everything one run found; ``results`` in catalog order."""

    as_of: dt.date
    target: str
    results: Mapping[str, CheckResult]
    queries: tuple[QueryRecord, ...] = field(default=())

    @property
    def outcome(self) -> Outcome:
        return worst(result.outcome for result in self.results.values())


def canary_dates(spec: CanarySpec, settings: Settings, as_of: dt.date) -> tuple[dt.date, ...]:
    return spec.span.dates(as_of, settings.canaries[spec.id].params)


def _date_column(table: str) -> str:
    schema = load_catalog().get(table)
    if schema is None:
        raise ValueError(f"table {table} is not in the schema catalog")
    return schema.partition_column or "game_date"


def plan_queries(specs: Sequence[CanarySpec], settings: Settings, as_of: dt.date) -> list[PlannedQuery]:
    """The queries a run of ``specs`` needs, one per table, in a stable order."""
    metrics: dict[str, dict[str, Metric]] = defaultdict(dict)
    windows: dict[str, list[dt.date]] = defaultdict(list)
    all_dates: list[dt.date] = []
    for spec in specs:
        dates = canary_dates(spec, settings, as_of)
        all_dates.extend(dates)
        for metric in spec.metrics():
            metrics[metric.table][metric.id] = metric
            windows[metric.table].extend(dates)
    if all_dates:
        # The schedule is always read: it says whether data is expected and scales per-game thresholds.
        margin = dt.timedelta(days=CALENDAR_MARGIN_DAYS)
        windows["schedule"].extend((min(all_dates) - margin, max(all_dates) + margin))
        for metric in CALENDAR_METRICS:
            metrics["schedule"][metric.id] = metric
    planned = []
    for table_key in sorted(metrics):
        table = settings.tables[table_key]
        column = _date_column(table)
        chosen = tuple(metrics[table_key].values())
        select = ",\n  ".join(f"{metric.sql} AS {metric.name}" for metric in chosen)
        sql = (
            f"SELECT {column} AS measured_date,\n  {select}\nFROM `{table}`\n"
            f"WHERE {column} BETWEEN @window_start AND @window_end\nGROUP BY measured_date"
        )
        params: dict[str, ParamValue] = {
            name: value
            for name, value in settings.query_params().items()
            if any(f"@{name}" in metric.sql for metric in chosen)
        }
        params["window_start"] = min(windows[table_key])
        params["window_end"] = max(windows[table_key])
        planned.append(PlannedQuery(table_key, table, f"canary_{table_key}", sql, params, chosen))
    return planned


def _as_number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    raise TypeError(f"metric value {value!r} is not a number")


def _collect(query: PlannedQuery, result: QueryResult) -> dict[str, dict[dt.date, float | None]]:
    values: dict[str, dict[dt.date, float | None]] = {metric.id: {} for metric in query.metrics}
    for row in result.rows:
        day = row.get("measured_date")
        if isinstance(day, dt.datetime):
            day = day.date()
        if not isinstance(day, dt.date):
            raise TypeError(f"measured_date {day!r} is not a date")
        for metric in query.metrics:
            if metric.name not in row:
                raise TypeError(f"the result has no column {metric.name}")
            values[metric.id][day] = _as_number(row[metric.name])
    return values


def run_queries(
    warehouse: Warehouse, planned: Iterable[PlannedQuery]
) -> tuple[Readings, dict[str, QueryRecord], dict[str, str]]:
    """Run the planned queries; a failed query is recorded against its table, never raised."""
    values: dict[str, dict[dt.date, float | None]] = {}
    records: dict[str, QueryRecord] = {}
    failures: dict[str, str] = {}
    for query in planned:
        started = time.perf_counter()
        try:
            result = warehouse.query(query.sql, query.params, label=query.label)
            values.update(_collect(query, result))
        except (QueryError, TypeError) as error:
            failures[query.table_key] = str(error)
            records[query.table_key] = QueryRecord(
                query.label,
                query.table,
                getattr(error, "query_id", None),
                time.perf_counter() - started,
                None,
                str(error),
                query.sql,
            )
            continue
        records[query.table_key] = QueryRecord(
            query.label, query.table, result.query_id, result.seconds, result.bytes_processed, None, query.sql
        )
    return Readings(values), records, failures


def no_games_reason(readings: Readings, day: dt.date) -> str:
    """Why nothing is expected on ``day``: the All-Star break, the off-season, or simply no games."""

    def near(metric: Metric, days: int) -> float:
        return sum(readings.get(metric, day + dt.timedelta(days=d)) or 0.0 for d in range(-days, days + 1))

    if near(ALL_STAR_GAMES, 3):
        return "All-Star break"
    if not near(SCHEDULED_GAMES, CALENDAR_MARGIN_DAYS):
        return "off-season"
    return "no games scheduled"


def _span_text(dates: Sequence[dt.date]) -> str:
    if len(dates) == 1:
        return dates[0].isoformat()
    return f"{dates[0].isoformat()}..{dates[-1].isoformat()}"


def evaluate(
    spec: CanarySpec,
    settings: Settings,
    as_of: dt.date,
    readings: Readings,
    records: Mapping[str, QueryRecord],
    failures: Mapping[str, str],
) -> CheckResult:
    """Judge one canary from the run's readings. Never raises: what cannot be judged is ERROR."""
    dates = canary_dates(spec, settings, as_of)
    tables = sorted({metric.table for metric in spec.metrics()} | {"schedule"})
    used = [records[t] for t in tables if t in records]
    known_bytes = [r.bytes_processed for r in used if r.bytes_processed is not None]
    template = CheckResult(
        spec.id,
        spec.phase,
        spec.title,
        Outcome.ERROR,
        "",
        dates,
        query_ids=tuple(r.query_id for r in used if r.query_id),
        seconds=sum(r.seconds for r in used),
        bytes_processed=sum(known_bytes) if known_bytes else None,
        sql=tuple(r.sql for r in used),
    )
    broken = [failures[t] for t in tables if t in failures]
    if broken:
        return replace(template, message=f"check broken: {broken[0]}")
    canary_settings = settings.canaries[spec.id]
    try:
        if spec.expects is not None:
            expected = [readings.get(spec.expects, day) for day in dates]
            if all(value == 0 for value in expected):
                reason = no_games_reason(readings, dates[-1])
                message = f"nothing expected: no games on {_span_text(dates)} ({reason})"
                return replace(template, outcome=Outcome.PASSED, message=message)
        if spec.sample is not None:
            minimum = int(canary_settings.params[spec.sample.min_param])
            sample = sum(readings.get(spec.sample.metric, day) or 0.0 for day in dates)
            if sample < minimum:
                message = (
                    f"not evaluated: {format_number(sample)} {spec.sample.description} on "
                    f"{_span_text(dates)}, fewer than the {minimum} this rule needs"
                )
                return replace(template, outcome=Outcome.SKIPPED, message=message)
        # Per-game thresholds scale with the games expected: final games for box scores and analytics,
        # scheduled games for features, predictions and signals.
        basis = spec.expects or SCHEDULED_GAMES
        games = int(sum(readings.get(basis, day) or 0.0 for day in dates))
        rule_results = []
        for rule in spec.rules:
            reading = rule.compute(readings, dates)
            threshold = canary_settings.thresholds[rule.name].scaled(games)
            if reading.value is None:
                outcome = Outcome.FAILED if reading.no_rows else Outcome.ERROR
            else:
                outcome = judge(reading.value, threshold)
            rule_results.append(
                RuleResult(rule.name, rule.title, reading.value, threshold, outcome, reading.detail)
            )
    except (KeyError, TypeError, ValueError) as error:
        return replace(template, message=f"check broken: {error}")
    outcome = worst(r.outcome for r in rule_results)
    message = summarize(dates, rule_results, outcome)
    return replace(template, outcome=outcome, message=message, rules=tuple(rule_results))


def describe_rule(result: RuleResult) -> str:
    """``rows with NULL player_name = 10 (fail > 0) on 2026-01-14``: metric, value, threshold."""
    value = "not measurable" if result.value is None else f"= {format_number(result.value)}"
    text = f"{result.title} {value} ({result.threshold.describe()})"
    return f"{text}: {result.detail}" if result.detail else text


def summarize(dates: Sequence[dt.date], results: Sequence[RuleResult], outcome: Outcome) -> str:
    if outcome is Outcome.PASSED:
        return f"{len(results)} rule(s) passed on {_span_text(dates)}"
    bad = [r for r in results if r.outcome.is_alerting]
    bad.sort(key=lambda r: -r.outcome.severity)
    kind = (
        "check broken" if outcome is Outcome.ERROR else "data bad" if outcome is Outcome.FAILED else "warning"
    )
    return f"{kind} on {_span_text(dates)}: " + "; ".join(describe_rule(r) for r in bad)


def run_canaries(
    warehouse: Warehouse,
    settings: Settings,
    as_of: dt.date,
    specs: Sequence[CanarySpec] = CANARIES,
) -> CanaryRun:
    """Measure and judge ``specs`` against ``warehouse`` for the business date ``as_of``."""
    planned = plan_queries(specs, settings, as_of)
    readings, records, failures = run_queries(warehouse, planned)
    results = {spec.id: evaluate(spec, settings, as_of, readings, records, failures) for spec in specs}
    return CanaryRun(as_of, warehouse.target, results, tuple(records.values()))
